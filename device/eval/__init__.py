"""``make eval``: every module here with ``evaluate(data_dir) -> str`` contributes a section to EVALUATION.md."""
