"""``python -m device echo ...``: name the view of echo images, videos and DICOM cines; write simulator clips.

    python -m device echo view PATH [PATH ...] [--json] [--frames] [--variant int8|fp32|tflite]
    python -m device echo simulate OUT.mp4 [--seconds 10] [--seed 0]
    python -m device echo measure ...          (added by device/cli/echo_measure.py when present)
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from device import DISCLAIMER_EN


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("echo", help="live echo tools: view recognition on files, simulator clips")
    sub = p.add_subparsers(dest="echo_command", metavar="SUBCOMMAND")
    v = sub.add_parser("view", help="name the view, its confidence and the image quality of images/videos/DICOM")
    v.add_argument("paths", nargs="+", type=Path, help="PNG/JPEG image, video file or DICOM image/cine")
    v.add_argument("--json", action="store_true", help="print JSON (one object per file)")
    v.add_argument("--frames", action="store_true", help="also give every frame's result")
    v.add_argument("--variant", default=None, help="model variant (int8, fp32, tflite); default: the manifest's")
    v.add_argument("--model", type=Path, default=None, dest="model_dir",
                   help="model directory (e.g. one written by 'echo learn'); default: the cart's active view model")
    v.set_defaults(func=cmd_view)
    s = sub.add_parser("simulate", help="write a clip of the simulated probe (MP4/AVI) for demos and tests")
    s.add_argument("out", type=Path)
    s.add_argument("--seconds", type=float, default=10.0)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--fps", type=float, default=30.0)
    s.set_defaults(func=cmd_simulate)
    p.set_defaults(func=lambda _a: (p.print_help(), 2)[1])
    from device.cli.echo_learn import register_learn  # site learning: learn, rollback, model (E2)

    register_learn(sub)
    try:  # the LV engineer's `echo measure`, when that module exists
        mod = importlib.import_module("device.cli.echo_measure")
    except ImportError:
        mod = None
    hook = getattr(mod, "register_measure", None) or getattr(mod, "register", None) if mod is not None else None
    if hook is not None:
        hook(sub)
    from device.cli.echo_doppler import register_doppler  # spectral Doppler screens (issue 14)

    register_doppler(sub)
    from device.cli.echo_jets import register_jets  # colour-Doppler regurgitant jets (issue 14 part 3)

    register_jets(sub)


def _classifier(variant: str | None, model_dir: Path | None = None, config: str | None = None):
    """--model MODEL_DIR, else the cart's active view model (a promoted site model, else the shipped one)."""
    from device.config import load_settings
    from device.echo import site_models
    from device.echo.classify import ViewClassifier
    from device.inference import model_provider

    if model_dir is None:
        models_dir = site_models.active_models_dir(load_settings(config).data_dir)  # None: the shipped model
        return ViewClassifier.from_loaded(model_provider().get(
            "echo_view", variant, model_dir=models_dir / "echo_view" if models_dir is not None else None))
    if not (Path(model_dir) / "manifest.json").is_file():
        from device.errors import InputError

        raise InputError(f"{model_dir} is not a model directory (no manifest.json); give one written by 'echo learn'")
    model_dir = Path(model_dir)
    return ViewClassifier.from_loaded(model_provider().get(model_dir.name, variant, model_dir=model_dir))


def view_file(path: Path, clf, with_frames: bool) -> dict[str, Any]:
    """Per-file summary (majority view, its mean probability, median quality) and optionally per-frame results."""
    from device.drivers.files import iter_file_frames
    from device.echo.screen import find_sector

    frames, probs, quals, unc, ood = [], [], [], [], []
    sector = None
    mm = None
    for i, fr in enumerate(iter_file_frames(path)):
        if sector is None or i % 30 == 0:
            sector = find_sector(fr.pixels) or sector
        mm = mm or fr.mm_per_px
        out = clf(fr.pixels, sector)
        probs.append(out.view_probs)
        quals.append(out.quality)
        unc.append(out.uncertain)
        ood.append(out.ood_score)
        if with_frames:
            frames.append({"index": i, "view": out.view, "confidence": round(out.view_conf, 4),
                           "quality": round(out.quality, 4), "guidance": out.guidance,
                           "uncertain": bool(out.uncertain), "ood_score": round(float(out.ood_score), 4)})
    if not probs:
        from device.errors import InputError

        raise InputError(f"{path.name} has no frames; choose an image, a video or a DICOM cine")
    votes = Counter(clf.labels[int(np.argmax(p))] for p in probs)
    # the file's view: the majority of the frames the model is sure of (of all frames when it is sure of none);
    # the file is uncertain when most of its frames are
    sure = [p for p, u in zip(probs, unc) if not u] or probs
    view = Counter(clf.labels[int(np.argmax(p))] for p in sure).most_common(1)[0][0]
    k = clf.labels.index(view)
    res: dict[str, Any] = {
        "file": str(path), "n_frames": len(probs), "view": view,
        "confidence": round(float(np.mean([p[k] for p in probs])), 4),
        "quality": round(float(np.median(quals)), 4),
        "uncertain": bool(np.mean(unc) > 0.5), "frames_uncertain": round(float(np.mean(unc)), 4),
        "ood_score": round(float(np.median(ood)), 4),
        "frames_by_view": dict(votes.most_common()),
        "sector_found": sector is not None, "mm_per_px": mm,
        "model": clf.tag, "disclaimer": DISCLAIMER_EN,
    }
    if with_frames:
        res["frames"] = frames
    return res


def cmd_view(args: argparse.Namespace) -> int:
    from device.drivers.files import open_file_source
    from device.errors import UserError

    if len(args.paths) == 1:  # a missing or unreadable file is reported before the model loads
        src = open_file_source(args.paths[0])
        src.open()
        src.close()
    clf = _classifier(args.variant, getattr(args, "model_dir", None), getattr(args, "config", None))
    results, failed = [], 0
    for p in args.paths:
        try:
            results.append(view_file(p, clf, args.frames))
        except UserError as exc:
            if len(args.paths) == 1:
                raise
            failed += 1
            results.append({"file": str(p), "error": str(exc)})
    if args.json:
        print(json.dumps(results[0] if len(results) == 1 else results, indent=1))
    else:
        for r in results:
            if "error" in r:
                print(f"{r['file']}: error: {r['error']}")
                continue
            unsure = "view uncertain, best guess " if r["uncertain"] else ""
            print(f"{r['file']}: {unsure}{r['view']} (confidence {r['confidence']:.2f}, quality {r['quality']:.2f}, "
                  f"{r['n_frames']} frame(s))")
            for f in r.get("frames", []):
                print(f"  frame {f['index']}: {f['view']} {f['confidence']:.2f} q={f['quality']:.2f} {f['guidance']}")
        print(f"model: {clf.tag}. {DISCLAIMER_EN}")
    return 1 if failed else 0


def cmd_simulate(args: argparse.Namespace) -> int:
    import cv2

    from device.errors import InputError
    from device.sim.echo_probe import SimulatedProbe

    fourcc = {".mp4": "mp4v", ".avi": "MJPG"}.get(args.out.suffix.lower())
    if fourcc is None:
        raise InputError(f"cannot write '{args.out.suffix}' video; name the output .mp4 or .avi")
    probe = SimulatedProbe(fps=args.fps, seed=args.seed)
    w = cv2.VideoWriter(str(args.out), cv2.VideoWriter_fourcc(*fourcc), args.fps, (640, 480))
    if not w.isOpened():
        raise InputError(f"cannot write {args.out}; check the folder exists and is writable")
    for _ in range(int(args.seconds * args.fps)):
        rgb, _t = probe.next()
        w.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    w.release()
    print(f"wrote {args.out} ({args.seconds:.0f} s at {args.fps:.0f} fps)", file=sys.stderr)
    return 0
