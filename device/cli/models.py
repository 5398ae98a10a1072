"""``python -m device models``: the models on this box, their versions and variants, every file's sha256 checked
against its manifest (OK / ALTERED / MISSING), and the accuracy each manifest records (metric, value, on what).

Exit status 0 when every listed file verifies, 1 when one is altered or missing (restore it from git or retrain).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from device.cli.common import print_json, settings_from
from device.errors import UserError
from device.inference.inventory import ModelInfo, inventory, model_info


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list models, variants, versions, sha256 checks and measured accuracy")
    p.add_argument("names", nargs="*", help="model names (default: every model in [paths] models_dir)")
    p.add_argument("--dir", type=Path, help="list this model directory instead (e.g. a site-trained model)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def _accuracy_line(a: dict) -> str:
    v = a.get("value")
    val = f"{v:.4g}" if isinstance(v, (int, float)) else "(a table: see the manifest)"
    var = f" [{a['variant']}]" if a.get("variant") else ""
    return f"{a.get('metric', '?')}{var} = {val} on {a.get('on', '?')}"


def render(rows: list[ModelInfo]) -> str:
    out = []
    for m in rows:
        if m.error:
            out.append(f"{m.name}: UNREADABLE: {m.error}")
            continue
        out.append(f"{m.name} {m.version} (default {m.default}) {m.directory}")
        for v in m.variants:
            bad = [f"{f.path} {f.status}" for f in v.files if f.status != "OK"]
            out.append(f"  {v.key:<10} {v.runner:<12} {len(v.files)} file(s) sha256 {v.status}"
                       + (f": {', '.join(bad)}" if bad else ""))
        for a in m.accuracy:
            out.append(f"  accuracy: {_accuracy_line(a)}")
        if not m.accuracy:
            out.append("  accuracy: none recorded in the manifest")
    return "\n".join(out)


def run(args: argparse.Namespace) -> int:
    if args.dir is not None:
        if not (args.dir / "manifest.json").is_file():
            raise UserError(f"{args.dir} has no manifest.json; give a model directory such as models/echo_view")
        rows = [model_info(args.dir.name, args.dir.parent)]
    else:
        root = settings_from(args).models_dir
        rows = inventory(root, args.names or None)
        if not rows:
            raise UserError(f"no models in {root}; run 'make models' or set [paths] models_dir")
    if args.json:
        print_json(rows)
    else:
        print(render(rows))
    bad = [m.name for m in rows if not m.ok]
    if bad:
        print(f"{len(bad)} model(s) fail verification ({', '.join(bad)}): restore the files from git or retrain "
              "with 'make models'")
        return 1
    return 0
