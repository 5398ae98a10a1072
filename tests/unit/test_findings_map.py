"""The issue-13 finding -> regression test map (tests/stress/findings_map.md, printed in RELIABILITY.md) names only
tests that exist: each file::test in its table is a file under tests/ with that test function."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_test_in_the_findings_map_exists():
    text = (ROOT / "tests" / "stress" / "findings_map.md").read_text(encoding="utf-8")
    rows = [ln for ln in text.splitlines() if ln.startswith("| ") and not ln.startswith("| finding")]
    assert len(rows) >= 25
    missing = []
    for row in rows:
        refs = re.findall(r"(tests/[\w/]+\.py)::(\w+)", row)
        assert refs, row
        for path, name in refs:
            p = ROOT / path
            if not p.is_file() or not re.search(rf"^def {name}\(", p.read_text(encoding="utf-8"), re.M):
                missing.append(f"{path}::{name}")
    assert not missing, missing
    assert (ROOT / "RELIABILITY.md").read_text(encoding="utf-8").count("## Issue 13 findings") == 1
