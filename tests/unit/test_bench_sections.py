"""Issue 18 part 6: a benchmark that cannot run keeps its section in the table with the reason (BENCHMARKS.md was
rewritten without its LV section when the phantom was not segmented)."""

from __future__ import annotations

import device.bench.lv as lv
from device.bench.__main__ import main


def test_failed_module_keeps_its_section_with_the_reason(monkeypatch, capsys):
    def broken():
        raise RuntimeError("the phantom was not segmented")
    monkeypatch.setattr(lv, "bench", broken)
    assert main(["lv"]) == 1                       # a partial run: prints, writes no file
    out = capsys.readouterr().out
    assert "## LV" in out and "not measured" in out and "the phantom was not segmented" in out
