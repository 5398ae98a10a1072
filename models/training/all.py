"""``make models``: run every training recipe (each writes models/<name>/ with its manifest).

A recipe is a module here with ``main`` and an ``if __name__ == "__main__"`` block; each runs in its own process.
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys
import time
from pathlib import Path

import models.training as pkg


def recipes() -> list[str]:
    out = []
    for m in pkgutil.iter_modules(pkg.__path__):
        if m.name.startswith("_") or m.name == "all":
            continue
        src = (Path(pkg.__path__[0]) / f"{m.name}.py").read_text(encoding="utf-8")
        if "def main(" in src and '__name__ == "__main__"' in src:
            out.append(m.name)
    return sorted(out)


def main(argv: list[str]) -> int:
    names = [n for n in recipes() if not argv or n in argv]
    failed = []
    for n in names:
        t0 = time.perf_counter()
        print(f"[models] training {n} ...", flush=True)
        rc = subprocess.call([sys.executable, "-m", f"models.training.{n}"])
        if rc:
            failed.append(n)
        print(f"[models] {n}: {'ok' if rc == 0 else 'FAILED'} in {time.perf_counter() - t0:.0f} s", flush=True)
    if failed:
        print(f"[models] failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
