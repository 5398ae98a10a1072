"""Run every benchmark module, print one table and write BENCHMARKS.md."""

from __future__ import annotations

import importlib
import os
import pkgutil
import platform
import resource
import sys
import time
import traceback

import device.bench as pkg
from device.fsutil import atomic_write_text
from device.paths import REPO_ROOT

ORDER = ["runtime"]


def _modules() -> list[str]:
    names = [m.name for m in pkgutil.iter_modules(pkg.__path__) if not m.name.startswith("_")]
    return [n for n in ORDER if n in names] + sorted(n for n in names if n not in ORDER)


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"
    return str(v)


def main(argv: list[str]) -> int:
    only = set(argv)
    rows, failures = [], []
    for name in _modules():
        if only and name not in only:
            continue
        t0 = time.perf_counter()
        try:
            mod = importlib.import_module(f"device.bench.{name}")
            got = mod.bench()
            rows.extend(got)
            print(f"[bench] {name}: {len(got)} rows in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        except Exception as exc:  # one failing benchmark must not hide the others, nor drop its section
            failures.append((name, f"{type(exc).__name__}: {exc}"))
            traceback.print_exc()
            rows.append({"section": getattr(sys.modules.get(f"device.bench.{name}"), "SECTION", name),
                         "item": f"all rows of device/bench/{name}.py", "metric": "not measured", "value": "-",
                         "unit": "", "goal": f"failed: {type(exc).__name__}: {str(exc)[:200]}"})
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows.append({"section": "Process", "item": "make bench (all of the above in one process)", "metric": "peak RSS",
                 "value": peak_mb, "unit": "MB", "goal": ""})
    lines = ["# Benchmarks", "",
             f"Measured by `make bench` on {time.strftime('%Y-%m-%d')}, {platform.machine()}, {os.cpu_count()} cores, "
             f"Python {platform.python_version()}; CPU only (no accelerator on this machine). "
             "Numbers are from one run; rerun `make bench` on the target box.", ""]
    section = None
    for r in rows:
        if r["section"] != section:
            section = r["section"]
            lines += ["", f"## {section}", "", "| item | metric | value | unit | goal |", "|---|---|---|---|---|"]
        lines.append(f"| {r['item']} | {r['metric']} | {_fmt(r['value'])} | {r['unit']} | {r.get('goal', '')} |")
    if failures:
        lines += ["", "## Benchmarks that failed to run", ""] + [f"- {n}: {e}" for n, e in failures]
    text = "\n".join(lines) + "\n"
    if not only:  # a partial run must not replace the whole file
        atomic_write_text(REPO_ROOT / "BENCHMARKS.md", text)
    print(text)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
