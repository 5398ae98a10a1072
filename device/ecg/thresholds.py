"""The clinical ECG threshold table (``thresholds.toml`` beside this file): one source for the rule screen and the
report. Read at call time (``table()``), so a changed table is followed by both; ``use(path_or_dict)`` swaps it
(tests, a site's own table), ``use(None)`` restores the shipped file.
"""

from __future__ import annotations

import copy
import threading
import tomllib
from pathlib import Path
from typing import Any

DEFAULT_PATH = Path(__file__).with_name("thresholds.toml")
_LOCK = threading.Lock()
_TABLE: dict[str, Any] | None = None


def load(path: Path = DEFAULT_PATH) -> dict[str, Any]:
    """Parse a threshold table (raises ValueError naming the file when it is not valid TOML)."""
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"ECG threshold table {path} cannot be read ({exc}); restore it from git") from exc


def table() -> dict[str, Any]:
    """The current table (a shared dict: read it, do not modify it)."""
    global _TABLE
    with _LOCK:
        if _TABLE is None:
            _TABLE = load()
        return _TABLE


def get(section: str, key: str) -> Any:
    return table()[section][key]


def use(source: Path | dict[str, Any] | None) -> None:
    """Replace the current table by a file or a dict (deep-copied); None restores the shipped file."""
    global _TABLE
    new = load(Path(source)) if isinstance(source, (str, Path)) else (copy.deepcopy(source) if source else None)
    with _LOCK:
        _TABLE = new
