"""Errors a user can cause. Each carries a message that says what went wrong and what to do."""


class UserError(Exception):
    """A problem with input, configuration or environment that the user can fix.

    The CLI prints ``str(err)`` as one line and exits non-zero; the API returns it as JSON with a 4xx status.
    ``step`` names the processing step that failed (e.g. ``"no paper found"``) where that helps.
    """

    def __init__(self, message: str, *, step: str | None = None):
        super().__init__(message)
        self.step = step


class ConfigError(UserError):
    """The configuration file is invalid."""


class ModelError(UserError):
    """A model file is missing, altered or unusable."""


class InputError(UserError):
    """An input file or signal cannot be used (unreadable, wrong kind, no calibration...)."""
