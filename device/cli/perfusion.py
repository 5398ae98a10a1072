"""``python -m device perfusion {polar,regions,simulate}``: bullseye maps and SPECTF regional classification."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from device.errors import InputError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("perfusion", help="perfusion SPECT/PET: polar map (bullseye), territories, SPECTF rows")
    sub = p.add_subparsers(dest="perfusion_cmd", metavar="ACTION")
    pol = sub.add_parser("polar", help="volume -> DIR/polar.npy, DIR/segments.json, DIR/bullseye.png")
    pol.add_argument("volume", type=Path, help="stress volume: DICOM NM/PET file or folder, .npy or .npz")
    pol.add_argument("--out", type=Path, required=True, help="output folder (created)")
    pol.add_argument("--rest", type=Path, help="rest volume (same kinds); a .npz may already hold 'rest'")
    pol.add_argument("--voxel-mm", type=float, nargs="+", help="voxel size in mm (1 or 3 numbers: dz dy dx)")
    pol.add_argument("--orientation", default="auto", choices=["auto", "short-axis", "transaxial"],
                     help="slice orientation (default: from the file, else detected)")
    pol.add_argument("--normals", type=Path, help="site normal database (JSON like models/perfusion_normals)")
    pol.add_argument("--variant", help="model variant: fp32, int8 (default) or tflite")
    pol.add_argument("--polar-source", choices=["network", "classical", "ensemble"],
                     help="polar map feeding the bullseye, scores and network 2: network (network 1, patent 000; "
                          "falls back to classical with a note when they disagree), classical, or ensemble (classical map, network 2 "
                          "averaged over both maps); default: see "
                          "EVALUATION.md")
    pol.set_defaults(func=cmd_polar)
    reg = sub.add_parser("regions", help="SPECTF rows (22 regions rest+stress) -> one probability per row")
    reg.add_argument("file", type=Path, help="text/CSV file, one row of 44 counts (or 45 with diagnosis) per line")
    reg.add_argument("--variant", help="model variant: fp32, int8 (default) or tflite")
    reg.add_argument("--model", default="perfusion_spectf", choices=["perfusion_spectf", "perfusion_spectf_mlp"],
                     help="perfusion_spectf (logistic, default) or perfusion_spectf_mlp (the 44-8-1 MLP)")
    reg.set_defaults(func=cmd_regions)
    sim = sub.add_parser("simulate", help="write a simulated stress/rest study (.npz) for demos and tests")
    sim.add_argument("out", type=Path, help="output .npz")
    sim.add_argument("--defect", action="append", default=[],
                     help="TERRITORY:SEVERITY:EXTENT[:REVERSIBILITY], e.g. LAD:0.5:0.6:1 (repeatable)")
    sim.add_argument("--orientation", default="short_axis", choices=["short_axis", "transaxial"])
    sim.add_argument("--seed", type=int, default=0)
    sim.set_defaults(func=cmd_simulate)
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])


def cmd_polar(args: argparse.Namespace) -> int:
    from device.perfusion.analysis import analyse_study
    from device.perfusion.bullseye import render_bullseye, write_bullseye_png
    from device.perfusion.io import load_volume
    from device.perfusion.normals import load_normals

    orient = args.orientation.replace("-", "_")
    stress, rest = load_volume(args.volume, args.voxel_mm, orient)
    if args.rest is not None:
        rest, _ = load_volume(args.rest, args.voxel_mm, orient)
        if rest.counts.shape != stress.counts.shape:
            raise InputError(f"rest {rest.counts.shape} and stress {stress.counts.shape} volumes differ in shape")
    normals = load_normals(args.normals) if args.normals else None
    o = stress.orientation if stress.orientation != "unknown" else "auto"
    res = analyse_study(stress.counts, stress.voxel_mm, rest.counts if rest else None, o, stress.direction, normals,
                        args.variant, polar_source=args.polar_source)
    out = args.out
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create {out} ({exc.strerror}); choose a writable folder") from None
    np.save(out / "polar.npy", res.polar_stress_pct)
    if res.polar_rest_pct is not None:
        np.save(out / "polar_rest.npy", res.polar_rest_pct)
    if res.polar_network_pct is not None:
        np.save(out / "polar_network.npy", res.polar_network_pct)
    doc = res.to_json_dict()
    doc["input"] = {"volume": str(args.volume), "voxel_mm": list(stress.voxel_mm), "orientation": stress.orientation,
                    "rest": str(args.rest) if args.rest else (str(args.volume) if rest else None)}
    (out / "segments.json").write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    tag = "; ".join(m.split("/")[0] for m in res.models)  # name version variant (the runner is in the JSON)
    note = "  ".join(f"{t.territory} {t.prob_at_risk:.2f}{' AT RISK' if t.at_risk else ''}" for t in res.territories)
    img = render_bullseye(res.polar_stress_pct, res.segments_stress_pct, "Stress perfusion (% max)", tag,
                          res.scores.abnormal_stress, note=f"Risk (network 2): {note}")
    write_bullseye_png(out / "bullseye.png", img)
    if res.polar_rest_pct is not None and res.segments_rest_pct is not None:
        write_bullseye_png(out / "bullseye_rest.png", render_bullseye(
            res.polar_rest_pct, res.segments_rest_pct, "Rest perfusion (% max)", tag, res.scores.abnormal_rest))
    from device.cli.lang import disclaimer, site_language, territory_lines
    from device.i18n import t as tr
    lang = site_language(args)
    print("\n".join(territory_lines(lang, res.territories)))
    rest_scores = f", SRS {res.scores.srs}, SDS {res.scores.sds}" if res.scores.srs is not None else ""
    print(tr(lang, "cli.perfusion_scores", sss=res.scores.sss, rest=rest_scores, out=out))
    print(disclaimer(lang))
    return 0


def cmd_regions(args: argparse.Namespace) -> int:
    from device.perfusion.spectf import classify_regions, read_spectf

    rows = read_spectf(args.file)
    res = classify_regions(rows.counts, args.variant, args.model)
    for p in res.prob_abnormal:
        print(f"{p:.4f}")
    print(f"# {res.model}; probability of an abnormal study; threshold {res.threshold}; "
          "not for diagnostic use without review", file=sys.stderr)
    return 0


def _parse_defect(text: str):  # noqa: ANN202 - returns device.sim.spect.Defect
    from device.sim.spect import Defect

    parts = text.split(":")
    try:
        terr = parts[0].upper()
        if terr not in ("LAD", "LCX", "RCA") or len(parts) not in (3, 4):
            raise ValueError
        vals = [float(v) for v in parts[1:]]
        if not all(0 <= v <= 1 for v in vals):
            raise ValueError
    except ValueError:
        raise InputError(f"--defect {text!r}: use TERRITORY:SEVERITY:EXTENT[:REVERSIBILITY] with LAD/LCX/RCA and "
                         "numbers 0-1, e.g. LAD:0.5:0.6:1") from None
    return Defect(terr, vals[0], vals[1], vals[2] if len(vals) > 2 else 1.0)


def cmd_simulate(args: argparse.Namespace) -> int:
    from device.sim.spect import simulate_study

    defects = tuple(_parse_defect(d) for d in args.defect)
    s = simulate_study(defects, orientation=args.orientation, seed=args.seed)
    if args.out.suffix != ".npz":
        raise InputError(f"{args.out}: the output must end in .npz")
    np.savez_compressed(args.out, stress=s.stress, rest=s.rest, voxel_mm=np.array(s.voxel_mm),
                        orientation=np.array(s.orientation))
    risk = ", ".join(t for t, v in s.at_risk.items() if v) or "none"
    print(f"wrote {args.out}: stress+rest {s.stress.shape} {s.orientation}, voxel {s.voxel_mm[0]} mm, at risk: {risk}")
    return 0
