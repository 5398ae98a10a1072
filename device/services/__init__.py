"""Long-running roles: core (capture + analysis), webui, sync; and the supervisor behind ``make run``."""
