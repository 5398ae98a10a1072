"""``python -m device echo doppler PATH [--kind KIND] [--json] [--overlay OUT.png] [--ra-pressure-mmhg 8]``.

Without ``--kind`` the trace is recognised from the screen's label and the signal (``device.echo.doppler_kind``);
a screen whose kind cannot be told is refused with the candidates.

Reads a frozen spectral Doppler screen (image, or the last frame of a video/DICOM clip) with
``device.echo.doppler.read_doppler`` and prints the values (units in names), the method and the disclaimer. A screen
that cannot be read is refused: one line on stderr (with --json the refusal as JSON), exit code 2.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from device import DISCLAIMER_EN
from device.echo.doppler import KINDS, DopplerReading, read_doppler


def register_doppler(echo_subparsers) -> None:
    p = echo_subparsers.add_parser("doppler", help="measure a spectral Doppler screen (E/A, e', LVOT/AV, TR, PV)")
    p.add_argument("path", type=Path, help="PNG/JPEG screen, or a video/DICOM clip (its last frame is read)")
    p.add_argument("--kind", default=None, choices=KINDS,
                   help="what the screen shows; default: recognised from the screen's label and the trace")
    p.add_argument("--ra-pressure-mmhg", type=float, default=None,
                   help="RA pressure added to 4v^2 for RVSP; default: [echo] doppler_ra_pressure_mmhg (8)")
    p.add_argument("--overlay", type=Path, default=None, help="write the traced envelope over the screen (PNG)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run_doppler)


def overlay(rgb: np.ndarray, r: DopplerReading) -> np.ndarray:
    """The screen with the panel box, baseline (cyan), envelope (yellow) and beat peaks (red)."""
    import cv2

    img = np.ascontiguousarray(rgb.copy())
    cal = r.calibration
    if "panel" in cal:
        x0, y0, x1, y1 = cal["panel"]
        cv2.rectangle(img, (x0, y0), (x1, y1), (0, 160, 255), 1)
        yb = int(round(cal["baseline_row"]))
        cv2.line(img, (x0, yb), (x1, yb), (0, 255, 255), 1)
    if r.envelope:
        pts = np.array([[x, int(round(y))] for x, y in r.envelope], np.int32).reshape(-1, 1, 2)
        cv2.polylines(img, [pts], False, (255, 230, 0), 1)
    env = dict(r.envelope)
    for b in r.beats:
        if b["x"] in env:
            cv2.circle(img, (b["x"], int(round(env[b["x"]]))), 4, (255, 40, 40), 2)
    return img


def run_doppler(args: argparse.Namespace) -> int:
    import cv2

    from device.cli.common import print_json
    from device.drivers.files import read_any_frames
    from device.errors import InputError

    frames = read_any_frames(args.path, 1000)
    if not frames:
        raise InputError(f"{args.path.name} has no frames; give a Doppler screen image or clip")
    rgb = frames[-1]
    ra = args.ra_pressure_mmhg
    if ra is None:
        from device.config import load_settings

        ra = load_settings(getattr(args, "config", None)).echo.doppler_ra_pressure_mmhg
    r = read_doppler(rgb, args.kind, ra)
    out = {"file": str(args.path), "kind": r.kind, "kind_source": r.kind_source, "refused": r.refused, "values": r.values,
           "beats": [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in b.items()} for b in r.beats],
           "calibration": {k: v for k, v in r.calibration.items() if k != "labels"},
           "method": r.method, "disclaimer": DISCLAIMER_EN}
    if args.overlay is not None:
        if not cv2.imwrite(str(args.overlay), cv2.cvtColor(overlay(rgb, r), cv2.COLOR_RGB2BGR)):
            raise InputError(f"cannot write {args.overlay}; name a .png in a writable folder")
        out["overlay"] = str(args.overlay)
    if args.json:
        print_json(out)
    if r.refused:
        if not args.json:
            import sys

            print(f"{args.path.name}: not measured: {r.refused}", file=sys.stderr)
        return 2
    if not args.json:
        print(f"kind: {r.kind} ({r.kind_source})")
        for k, v in r.values.items():
            print(f"{k}: {v}")
        print(f"method: {r.method}. {DISCLAIMER_EN}")
    return 0
