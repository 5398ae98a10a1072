"""Figures recorded by the hardening tests, collated into RELIABILITY.md by ``python -m tests.stress.report``.

Every hardening test runs in two sizes: the short version inside ``make test`` and the full version under
``make stress`` (``CARDIOCART_STRESS=1``).  A test asks the budget for its size and records what it measured::

    def test_fuzz_ecg_photo(budget, figures):
        n = budget(short=200, full=5000)          # examples / kills / seconds, whichever the test counts
        ...
        figures.row("fuzzing", parser="ECG photo upload", cases=n, crashes_found=1, crashes_fixed=1,
                    regression_test="tests/stress/test_fuzz_inputs.py::test_regression_empty_png")
        figures.note("fuzzing", "the ECG photo reader raised ZeroDivisionError on a 1x1 PNG; fixed in ...")

Figures go to ``var/stress/<mode>/<section>.json`` (mode ``short`` or ``full``); the report reads the full ones.
A row is a flat dict of str/int/float/bool; rows of one section should share their keys (they form one table).
Recording a row again with the same first-column value replaces it, so reruns do not duplicate lines.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from device.fsutil import atomic_write_bytes

ROOT = Path(__file__).resolve().parents[2]
SECTIONS = ("fuzzing", "crash", "soak", "security", "refusal")


def stress_mode() -> str:
    """``full`` under ``make stress`` (CARDIOCART_STRESS=1), else ``short``."""
    return "full" if os.environ.get("CARDIOCART_STRESS", "") not in ("", "0") else "short"


def figures_dir(mode: str | None = None) -> Path:
    return ROOT / "var" / "stress" / (mode or stress_mode())


class Figures:
    """Appends measured rows and notes to one JSON file per section (atomic replace on every call)."""

    def __init__(self, directory: Path):
        self.directory = directory

    def _path(self, section: str) -> Path:
        if section not in SECTIONS:
            raise ValueError(f"unknown section {section!r}; use one of {SECTIONS}")
        return self.directory / f"{section}.json"

    def _load(self, section: str) -> dict:
        p = self._path(section)
        if p.exists():
            return json.loads(p.read_text(encoding="utf-8"))
        return {"rows": [], "notes": []}

    def _save(self, section: str, data: dict) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(self._path(section), json.dumps(data, indent=1, ensure_ascii=False).encode("utf-8"),
                           durable=False)

    def row(self, section: str, **values) -> None:
        data = self._load(section)
        key = next(iter(values.items()), None)
        data["rows"] = [r for r in data["rows"] if key is None or next(iter(r.items()), None) != key]
        data["rows"].append(values)
        self._save(section, data)

    def note(self, section: str, text: str) -> None:
        data = self._load(section)
        if text not in data["notes"]:
            data["notes"].append(text)
        self._save(section, data)
