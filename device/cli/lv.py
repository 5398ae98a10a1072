"""``python -m device lv sax SERIES --out DIR``: short-axis LV segmentation and LVQuan indices.

Writes DIR/<image-stem>.png (label masks the size of the image: 0 background, 1 cavity, 2 myocardium; a
multi-frame file gives <stem>_<frame>.png) and DIR/indices.csv with the columns in ``COLUMNS``.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import cv2

from device import DISCLAIMER_EN
from device.errors import InputError

COLUMNS = ["file", "frame", "phase", "cavity_area_mm2", "myo_area_mm2", "dim1_mm", "dim2_mm", "dim3_mm",
           "rwt1_mm", "rwt2_mm", "rwt3_mm", "rwt4_mm", "rwt5_mm", "rwt6_mm"]


def register(subparsers) -> None:
    p = subparsers.add_parser("lv", help="LV measurements (short-axis segmentation and indices)")
    sub = p.add_subparsers(dest="lv_command", metavar="SUBCOMMAND")
    s = sub.add_parser("sax", help="segment a DICOM short-axis series and write masks + indices.csv")
    s.add_argument("series", help="a folder of DICOM files, a multi-frame DICOM file, or one DICOM image")
    s.add_argument("--out", required=True, help="output folder (created if missing)")
    s.add_argument("--variant", default=None, help="model variant (default: the manifest's sax_variant)")
    s.add_argument("--degree", type=int, default=None, help="phase polynomial degree (default 11)")
    s.set_defaults(func=run_sax)
    p.set_defaults(func=lambda _a: (p.print_help(), 2)[1])


def mask_name(file: str, frame: int, n_frames_in_file: int) -> str:
    stem = Path(file).stem
    return f"{stem}_{frame:03d}.png" if n_frames_in_file > 1 else f"{stem}.png"


def run_sax(args: argparse.Namespace) -> int:
    from device.lv.dicom_io import read_frames
    from device.lv.phase import DEFAULT_DEGREE
    from device.lv.sax import measure_sax_series
    from device.lv.segment import load_lv_model

    frames = read_frames(args.series)
    if args.degree is not None and args.degree < 1:
        raise InputError(f"--degree must be at least 1; got {args.degree}")
    model = load_lv_model("sax", args.variant)
    result = measure_sax_series(frames, model, args.degree or DEFAULT_DEGREE)
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the output folder {out} ({exc.strerror}); choose another --out") from None
    n_in_file = {str(f.file.name): f.n_frames_in_file for f in frames}
    rows, failed = [], 0
    for r in result.frames:
        name = mask_name(r.file, r.frame, n_in_file[r.file])
        if not cv2.imwrite(str(out / name), r.mask):
            raise InputError(f"cannot write {out / name}; check the output folder")
        row = {"file": r.file, "frame": r.frame, "phase": r.phase}
        if r.indices is not None:
            row.update({k: f"{v:.2f}" for k, v in r.indices.as_row().items()})
        else:
            failed += 1
            if r.cavity_area_mm2:
                row["cavity_area_mm2"] = f"{r.cavity_area_mm2:.2f}"
            print(f"{r.file} frame {r.frame}: no wall indices - {r.reason}", file=sys.stderr)
        rows.append(row)
    with open(out / "indices.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS, restval="")
        w.writeheader()
        w.writerows(rows)
    eds = [f"{r.file}#{r.frame}" for r in result.frames if r.is_ed]
    ess = [f"{r.file}#{r.frame}" for r in result.frames if r.is_es]
    print(f"{len(rows)} images, {len(rows) - failed} measured; ED: {', '.join(eds) or '-'}; ES: {', '.join(ess) or '-'}")
    print(f"model: {result.model_tag}. {DISCLAIMER_EN}")
    print(f"wrote {out / 'indices.csv'}")
    return 0 if failed < len(rows) else 2
