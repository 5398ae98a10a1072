"""``doctor``: print what the box has and whether it is healthy."""

from __future__ import annotations

import argparse
import dataclasses

from device.cli.common import print_json, settings_from
from device.doctor import run_checks


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("doctor", help="accelerator, providers, cameras, serial ports, models, disk, database")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_doctor)


def cmd_doctor(args: argparse.Namespace) -> int:
    checks = run_checks(settings_from(args))
    if args.json:
        print_json([dataclasses.asdict(c) for c in checks])
    else:
        for c in checks:
            print(f"[{c.status:4s}] {c.area:22s} {c.detail}")
    return 1 if any(c.status == "fail" for c in checks) else 0
