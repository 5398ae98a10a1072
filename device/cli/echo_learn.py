"""``python -m device echo learn|rollback|model``: teach the cart its site's views, undo it, show what is active.

    python -m device echo learn DATA --out MODEL_DIR [--frames-per-loop 8] [--no-promote] [--json]
    python -m device echo rollback [--json]
    python -m device echo model [--json]

DATA: a folder with one sub-folder per view (DATA/A4C/..., optionally DATA/A4C/<patient>/...), or a CSV
``file,view,patient``. See README.md "Teaching the cart your site's views".
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from device import DISCLAIMER_EN


def register_learn(sub: Any) -> None:
    lp = sub.add_parser("learn", help="re-fit the view head on the site's labelled loops; promote it if better on "
                                      "held-back patients")
    lp.add_argument("data", type=Path, help="folder with one sub-folder per view, or a CSV file,view,patient")
    lp.add_argument("--out", type=Path, required=True, help="new model directory to write (must not exist)")
    lp.add_argument("--frames-per-loop", type=int, default=8, help="evenly spaced frames taken from each loop")
    lp.add_argument("--no-promote", action="store_true", help="only write MODEL_DIR; keep the cart's model")
    lp.add_argument("--json", action="store_true")
    lp.set_defaults(func=cmd_learn)
    rp = sub.add_parser("rollback", help="make the previous view model active again (swaps with the current one)")
    rp.add_argument("--json", action="store_true")
    rp.set_defaults(func=cmd_rollback)
    mp = sub.add_parser("model", help="which view model the cart uses (shipped or site-trained) and its accuracy")
    mp.add_argument("--json", action="store_true")
    mp.set_defaults(func=cmd_model)


def _progress(quiet: bool):
    last_step, last_f = [""], [-1.0]

    def report(fraction: float, message: str = "") -> None:
        step = message.split(" ")[0]
        if quiet or not message or (step == last_step[0] and fraction - last_f[0] < 0.1 and fraction < 1.0):
            return
        print(f"[{fraction:4.0%}] {message}", file=sys.stderr)
        last_step[0], last_f[0] = step, fraction
    return report


def cmd_learn(args: argparse.Namespace) -> int:
    from device.cli.common import print_json, settings_from
    from device.echo import site_models
    from device.errors import InputError
    from device.inference.manifest import load_manifest
    from device.usecases import echo_learn

    if not 1 <= args.frames_per_loop <= 64:
        raise InputError("--frames-per-loop must be 1..64")
    s = settings_from(args)
    base = site_models.active_model_dir(s.data_dir, s.models_dir)
    labels = load_manifest(base.name, base.parent).labels
    items = echo_learn.scan_data(args.data, tuple(labels))
    res = echo_learn.learn(items, data_dir=s.data_dir, shipped_models_dir=s.models_dir, out=args.out,
                           promote=not args.no_promote, max_frames=args.frames_per_loop,
                           progress=_progress(args.json), source=str(args.data))
    if args.json:
        print_json(res)
        return 0
    d = res["data"]
    print(f"site data: {d['frames']} frames, {d['clips']} loops, {d['patients']} patients, views {d['views']}")
    print(f"held-back patients ({d['patients_test']}, {res['new']['n_frames']} frames): current model "
          f"{res['old_accuracy']:.1%}, new model {res['new_accuracy']:.1%} ({res['seconds']:.0f} s)")
    print(f"wrote {res['model_dir']} ({res['model']})")
    if res["promoted"]:
        print("promoted: the cart now uses the new model; 'python -m device echo rollback' restores the previous one")
    elif res["better"]:
        print("not promoted (--no-promote); the cart keeps its current model")
    else:
        print(f"not promoted: {res['reason']}")
    print(DISCLAIMER_EN)
    return 0


def _describe(s) -> dict[str, Any]:
    from device.echo import site_models
    from device.inference.manifest import load_manifest

    a = site_models.read_pointer(s.data_dir)
    d = site_models.active_model_dir(s.data_dir, s.models_dir)
    m = load_manifest(d.name, d.parent)
    sl = m.raw.get("site_learning", {})
    return {"model": f"{m.name} {m.version}", "model_dir": str(d), "site_trained": a.active is not None,
            "previous": a.previous or ("shipped" if a.can_rollback else None),
            "site_accuracy_new": sl.get("new", {}).get("accuracy"),
            "site_accuracy_old": sl.get("old", {}).get("accuracy")}


def cmd_rollback(args: argparse.Namespace) -> int:
    from device.cli.common import print_json, settings_from
    from device.echo import site_models

    s = settings_from(args)
    site_models.rollback(s.data_dir)
    info = _describe(s)
    if args.json:
        print_json(info)
    else:
        print(f"the cart now uses {info['model']} ({info['model_dir']}); run rollback again to undo")
    return 0


def cmd_model(args: argparse.Namespace) -> int:
    from device.cli.common import print_json, settings_from

    info = _describe(settings_from(args))
    if args.json:
        print_json(info)
    else:
        print(f"{info['model']} ({'site-trained' if info['site_trained'] else 'shipped'}) in {info['model_dir']}")
    return 0
