"""``python -m device echo jets PATH --view A4C [--mm-per-px 0.5] [--json]``: colour-Doppler regurgitant jets.

Reads an image or a clip (video/DICOM; the largest jet per valve over up to 30 frames) with
``device.echo.jets.read_jets`` and prints each jet's valve, area, jet/atrium ratio, vena contracta, grade and the
rule (ASE 2017 cut-offs, ``device/echo/jets_rules.py``). The pixel size comes from the DICOM ultrasound regions or
``--mm-per-px``. A file that cannot be read, or a frame without a colour box, is refused in one line (exit 2).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from device import DISCLAIMER_EN
from device.echo.jets import VIEWS, JetReading, read_jets

MODEL = "echo_jets 1.0.0"


def register_jets(echo_subparsers) -> None:
    p = echo_subparsers.add_parser("jets", help="colour-Doppler regurgitant jets (MR, TR, AR, PR): area, VC, grade")
    p.add_argument("path", type=Path, help="PNG/JPEG colour frame, or a video/DICOM colour clip")
    p.add_argument("--view", default="A4C", choices=VIEWS, help="the view the frame shows (default A4C)")
    p.add_argument("--mm-per-px", type=float, default=None, help="pixel size; default: from the DICOM regions")
    p.add_argument("--outflow-mm", type=float, default=None, help="LVOT (AR) or RVOT (PR) diameter for jet width/%%")
    p.add_argument("--overlay", type=Path, default=None,
                   help="write the jets' outlines (yellow), VC calipers (white) and colour box (cyan) over the frame")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run_jets)


def overlay(rgb: np.ndarray, r: JetReading) -> np.ndarray:
    """The frame with the colour box (cyan), each jet's outline (yellow), VC caliper (white), atrium (magenta) and
    valve + grade label."""
    import cv2

    img = np.ascontiguousarray(rgb[..., :3].copy())
    if r.box is not None:
        cv2.rectangle(img, r.box[:2], (r.box[2] - 1, r.box[3] - 1), (0, 220, 255), 1)
    for j in r.records:
        if j.atrium_outline:
            cv2.polylines(img, [np.array(j.atrium_outline, np.int32).reshape(-1, 1, 2)], True, (255, 0, 255), 1)
        if j.outline:
            pts = np.array(j.outline, np.int32).reshape(-1, 1, 2)
            cv2.polylines(img, [pts], True, (255, 255, 0), 1)
            x, y = pts[:, 0, 0].min(), pts[:, 0, 1].min()
            cv2.putText(img, f"{j.valve} {j.grade}", (int(x), max(10, int(y) - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                        (255, 255, 0), 1, cv2.LINE_AA)
        if len(j.vc_line) == 2:
            cv2.line(img, tuple(j.vc_line[0]), tuple(j.vc_line[1]), (255, 255, 255), 2)
    return img


def _mm_per_px(path: Path) -> float | None:
    try:
        import pydicom

        from device.drivers.dicom_cine import dicom_regions

        return dicom_regions(pydicom.dcmread(str(path), stop_before_pixels=True))[0]
    except Exception:  # noqa: BLE001 - not a DICOM or unreadable tags: no calibration from the file
        return None


def run_jets(args: argparse.Namespace) -> int:
    import sys

    from device.cli.common import print_json
    from device.drivers.files import read_any_frames
    from device.errors import InputError

    if not args.path.is_file():
        raise InputError(f"{args.path} does not exist; give a colour-Doppler image or clip")
    try:
        frames = read_any_frames(args.path, 30)
    except (OSError, ValueError) as exc:
        raise InputError(f"{args.path.name} cannot be read ({str(exc)[:80]}); give a PNG/JPEG/DICOM/video") from None
    if not frames:
        raise InputError(f"{args.path.name} has no frames; give a colour-Doppler image or clip")
    mmpp = args.mm_per_px or _mm_per_px(args.path)
    if not mmpp:
        raise InputError(f"{args.path.name} carries no pixel size; give --mm-per-px")
    r = read_jets(frames, mmpp, args.view, outflow_diam_mm=args.outflow_mm)
    out = {"file": str(args.path), "view": r.view, "mm_per_px": round(mmpp, 4), "refused": r.refused,
           "colour_box": r.box, "jets": [j.as_dict() for j in r.records], "method": r.method, "model": MODEL,
           "disclaimer": DISCLAIMER_EN}
    if args.overlay is not None:
        import cv2

        k = max((j.frame_index for j in r.records), default=len(frames) - 1)
        shown = frames[k] if r.records else frames[-1]
        if not cv2.imwrite(str(args.overlay), cv2.cvtColor(overlay(shown, r), cv2.COLOR_RGB2BGR)):
            raise InputError(f"cannot write {args.overlay}; name a .png in a writable folder")
        out["overlay"] = str(args.overlay)
    if args.json:
        print_json(out)
    if r.refused:
        if not args.json:
            print(f"{args.path.name}: not measured: {r.refused}", file=sys.stderr)
        return 2
    if not args.json:
        for j in r.records:
            v = {k: round(x, 2) for k, x in j.values.items() if x is not None}
            print(f"{j.valve}: {j.grade or 'not graded'} {v}; {j.rule}" + (f" [{'; '.join(j.notes)}]" if j.notes
                                                                            else ""))
        print(f"model: {MODEL}. {DISCLAIMER_EN}")
    return 0
