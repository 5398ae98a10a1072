"""Score each pipeline on the real data in ../shared/data and write EVALUATION.md."""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time
import traceback

import device.eval as pkg
from device.fsutil import atomic_write_text
from device.paths import REPO_ROOT, shared_data_dir


def main(argv: list[str]) -> int:
    data = shared_data_dir()
    if data is None:
        print("error: the real data folder ../shared/data is not beside this checkout (or set "
              "CARDIOCART_SHARED_DATA); evaluation needs it", file=sys.stderr)
        return 2
    only = set(argv)
    sections, failures = [], []
    for m in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if m.name.startswith("_") or (only and m.name not in only):
            continue
        t0 = time.perf_counter()
        try:
            text = importlib.import_module(f"device.eval.{m.name}").evaluate(data)
            sections.append(text.strip())
            print(f"[eval] {m.name} done in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        except Exception as exc:  # report and go on with the other pipelines
            failures.append(f"- {m.name}: {type(exc).__name__}: {exc}")
            traceback.print_exc()
    head = ["# Evaluation", "",
            f"Written by `make eval` on {time.strftime('%Y-%m-%d')} from the real public data in `../shared/data` "
            "(see its README for sources and licences). Every number below was measured on data the scored model "
            "was not trained or tuned on, unless the section says otherwise.", ""]
    body = "\n\n".join(sections)
    tail = (["", "## Evaluations that failed to run", ""] + failures) if failures else []
    text = "\n".join(head) + body + "\n" + "\n".join(tail) + "\n"
    if only:  # a partial run must not replace the whole file: print it only
        print(text)
    else:
        atomic_write_text(REPO_ROOT / "EVALUATION.md", text)
        print(text)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
