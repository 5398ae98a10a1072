"""Measure the ECG-Image-Kit read rate and how its pages fare turned (issue 13; a script, not a test).

    python -m device.ecg.kit_orientation [DATA_DIR] [--turns mirrored,rotated 180,upside down] [--only ecg00012]

For each of the 52 real printouts: read upright (read / refused with the step), and optionally fed mirrored,
rotated 180 degrees or upside down (turned upright and said so / refused / READ AS IS, the failure). Prints one line
per page and a summary; nothing is written.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path

import numpy as np

from device.ecg.imageio import load_image
from device.ecg.reader import read_ecg_image
from device.errors import InputError

TURNS = {"mirrored": lambda a: a[:, ::-1], "rotated 180": lambda a: a[::-1, ::-1], "upside down": lambda a: a[::-1]}
SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


def outcome(img: np.ndarray) -> tuple[str, str]:
    """("read" | "turned" | "refused", detail)."""
    try:
        r = read_ecg_image(np.ascontiguousarray(img))
    except InputError as exc:
        return "refused", f"{exc.step}: {str(exc)[:100]}"
    if r.warnings and r.warnings[0].startswith("the page was"):
        return "turned", r.warnings[0][:60]
    return "read", r.layout.name


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("data", nargs="?", default="/work/shared/data")
    ap.add_argument("--turns", default="")
    ap.add_argument("--only", nargs="*", default=[])
    a = ap.parse_args(argv)
    d = Path(a.data) / "ecg-images-ecg-image-kit" / "sample-data" / "ecg-images"
    imgs = sorted(p for p in d.iterdir() if p.suffix.lower() in SUFFIXES and (not a.only or p.stem in a.only))
    turns = [t for t in a.turns.split(",") if t]
    tally: Counter[tuple[str, str]] = Counter()
    steps: Counter[str] = Counter()
    t0 = time.time()
    for p in imgs:
        img = load_image(p)
        for how in ["upright", *turns]:
            res, detail = outcome(img if how == "upright" else TURNS[how](img))
            if how != "upright" and res == "read":
                res = "READ AS IS"
            tally[(how, res)] += 1
            if how == "upright" and res == "refused":
                steps[detail.split(":")[0]] += 1
            print(f"{p.name}\t{how}\t{res}\t{detail}", flush=True)
    print(f"# {len(imgs)} pages, {time.time() - t0:.0f} s")
    for (how, res), n in sorted(tally.items()):
        print(f"# {how}: {res} {n}")
    print("# upright refusals by step: " + ", ".join(f"{k} {v}" for k, v in steps.most_common()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
