"""``python -m device ecg ...``: read a paper ECG photo, render test printouts, listen to a serial ECG board."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from device.errors import InputError, UserError


def register(subparsers) -> None:
    p = subparsers.add_parser("ecg", help="paper ECG digitisation, measurements and screening; serial ECG")
    sub = p.add_subparsers(dest="ecg_command", metavar="SUBCOMMAND")
    r = sub.add_parser("read", help="digitise a photo or scan of a printed 12-lead ECG")
    r.add_argument("image", help="PNG, JPEG, TIFF, BMP or PDF")
    r.add_argument("--out", required=True, help="output folder (created)")
    r.add_argument("--speed", type=float, choices=(25.0, 50.0), help="paper speed mm/s (default: 25)")
    r.add_argument("--gain", type=float, choices=(5.0, 10.0, 20.0), help="gain mm/mV (default: from the pulse)")
    r.set_defaults(func=_read)
    g = sub.add_parser("render", help="print a WFDB record (or a synthetic ECG) on simulated paper")
    g.add_argument("--record", help="WFDB header (.hea); default: a synthetic ECG")
    g.add_argument("--out", required=True, help="output image (.png or .jpg)")
    g.add_argument("--photo", action="store_true", help="add photographic artefacts (perspective, light, blur)")
    g.add_argument("--seed", type=int, default=0)
    g.set_defaults(func=_render)
    s = sub.add_parser("serial", help="read a serial ECG board and print measurements")
    s.add_argument("--port", required=True, help="serial port (e.g. /dev/ttyUSB0, loop://)")
    s.add_argument("--baud", type=int, default=115200)
    s.add_argument("--protocol", choices=("framed", "ascii"), default="framed")
    s.add_argument("--fs", type=float, default=500.0, help="sampling rate of the ASCII protocol (Hz)")
    s.add_argument("--seconds", type=float, default=10.0)
    s.set_defaults(func=_serial)
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])


def _read(args: argparse.Namespace) -> int:
    from device.ecg.api import read_file, write_outputs

    src = Path(args.image)
    try:
        result = read_file(src, speed_mm_s=args.speed, gain_mm_mv=args.gain)
    except InputError as exc:
        step = getattr(exc, "step", None)
        msg = str(exc)
        raise InputError(msg if not step or msg.startswith(step) else f"{step}: {msg}", step=step) from None
    try:
        paths = write_outputs(result, args.out, src.stem, source=str(src))
    except OSError as exc:
        raise UserError(f"cannot write the outputs to {args.out} ({exc.strerror or exc}); choose a writable "
                        "folder") from None
    a = result.analysis
    m = a.measurements
    summary = {"layout": result.reading.layout.name, "hr_bpm": m.hr_bpm and round(m.hr_bpm),
               "rhythm": a.rhythm.label, "screen": a.screen.label, "outputs": [str(p) for p in paths.values()]}
    print(json.dumps(summary))
    from device.cli.lang import disclaimer, site_language
    print(disclaimer(site_language(args)), file=sys.stderr)
    return 0


def _render(args: argparse.Namespace) -> int:
    import numpy as np

    from device.ecg import export
    from device.sim import ecg_paper

    rng = np.random.default_rng(args.seed)
    if args.record:
        sig = ecg_paper.record_signals(args.record)
    else:
        sig = ecg_paper.synthetic_ecg(rng)
    page = ecg_paper.render(sig, rng=rng)
    img = ecg_paper.photograph(page.image, rng) if args.photo else page.image
    export.write_png(args.out, img)
    print(args.out)
    return 0


def _serial(args: argparse.Namespace) -> int:
    from device.drivers.serial_ecg import SerialEcgSource
    from device.ecg.report import analyse

    src = SerialEcgSource(args.port, baud=args.baud, protocol=args.protocol, fs_hz=args.fs)
    sig = src.record(args.seconds)
    if sig.shape[0] < 2 * src.fs_hz:
        raise UserError(f"only {sig.shape[0]} samples arrived from {args.port} in {args.seconds:g} s; check the "
                        "cable, the port and the baud rate")
    a = analyse(sig, src.fs_hz, lead_names=src.lead_names)
    print(json.dumps({"samples": int(sig.shape[0]), "fs_hz": src.fs_hz, **a.as_dict()}, default=float))
    return 0
