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


def test_runtime_bench_times_only_runnable_variants():
    """make bench stopped on echo_view's view head ('a data file, not a model variant'): the runtime bench must
    time every runnable variant and skip data files."""
    from device.bench.runtime import bench_variants
    from device.inference import load_manifest

    man = load_manifest("echo_view")
    assert any(not v.runnable for v in man.variants.values())      # the case that broke make bench
    got = bench_variants(man)
    assert got and all(man.variants[k].runnable for k in got)
    assert set(got) == {k for k, v in man.variants.items() if v.runnable}
