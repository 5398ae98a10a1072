"""Time `python -m device echo learn` end to end on N simulated frames (site look) with a given backbone ONNX.

    python -m tests.integration.bench_echo_learn --backbone models/echo_view/echo_view.int8.onnx --frames 2000 --threads 2

Builds, under --work (default var/cache/echo_learn_bench/), a model directory (the backbone + a head fitted on
simulator features of the standard look) and a site folder of 8-frame AVI loops in the site's look (mirrored,
brighter; tests/integration/echo_learn_world.py), both cached; then runs `echo learn` in-process and prints the
wall time of each phase and the held-back accuracies as JSON. Simulator figures: not real-echo accuracy.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

from device.paths import REPO_ROOT

VIEWS = ("PLAX", "PSAX-AV", "PSAX-MV", "PSAX-PM", "A4C", "A5C", "A2C", "A3C", "SC4C", "OTHER")


def _model(work: Path, backbone: Path, size: int, dim: int) -> Path:
    import numpy as np

    from device.echo.protocol import STANDARD_VIEWS
    from device.echo.view_head import calibrate, fit_head
    from device.inference.manifest import write_manifest
    from tests.integration.echo_learn_world import GUIDE, _features, screen

    d = work / "models" / "echo_view"
    if (d / "manifest.json").is_file():
        return d
    d.mkdir(parents=True, exist_ok=True)
    shutil.copy2(backbone, d / "backbone.onnx")
    labels = (*STANDARD_VIEWS, "OTHER")
    man = {"name": "echo_view", "version": "bench", "task": "classification", "intended_use": "benchmark only",
           "files": {"fp32": {"path": "backbone.onnx"}}, "default": "fp32",
           "inputs": [{"name": "image", "shape": [1, 1, size, size]}],
           "outputs": [{"name": "features", "shape": [1, dim]}], "labels": list(labels),
           "params": {"input_size": size, "guidance_labels": list(GUIDE)},
           "training_data": "simulator (standard look)", "accuracy": []}
    write_manifest(d, man)
    frames, y = [], []
    for k, v in enumerate(labels):
        for i in range(16):
            frames.append(screen(v, 7000 + 100 * k + i, site=False))
            y.append(k)
    f, y = _features(d, frames), np.array(y)
    fit = np.arange(len(y)) % 16 < 12
    calibrate(fit_head(f[fit], y[fit], labels), f[~fit], y[~fit]).save(d / "view_head.npz")
    man["files"]["view_head"] = {"path": "view_head.npz"}
    write_manifest(d, man)
    return d


def _site(work: Path, n_frames: int) -> Path:
    import cv2

    from tests.integration.echo_learn_world import screen

    root = work / f"site_{n_frames}"
    if (root / ".done").is_file():
        return root
    n_loops = n_frames // 8
    for i in range(n_loops):
        v, p = VIEWS[i % len(VIEWS)], f"patient{i // len(VIEWS):03d}"
        d = root / v / p
        d.mkdir(parents=True, exist_ok=True)
        w = None
        for j in range(8):
            img = cv2.cvtColor(screen(v, 300_000 + 10 * i + j, site=True), cv2.COLOR_RGB2BGR)
            if w is None:
                w = cv2.VideoWriter(str(d / "loop.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 25.0,
                                    (img.shape[1], img.shape[0]))
            w.write(img)
        w.release()
    (root / ".done").write_text("ok")
    return root


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backbone", type=Path, required=True, help="ONNX with a 'features' output (N, D)")
    ap.add_argument("--frames", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--work", type=Path, default=REPO_ROOT / "var" / "cache" / "echo_learn_bench")
    a = ap.parse_args(argv)
    os.environ["OMP_NUM_THREADS"] = str(a.threads)
    import onnxruntime as ort

    sess = ort.InferenceSession(str(a.backbone), providers=["CPUExecutionProvider"])
    size = int(sess.get_inputs()[0].shape[-1])
    dim = int(next(o.shape[-1] for o in sess.get_outputs() if o.name == "features"))
    t0 = time.perf_counter()
    model = _model(a.work, a.backbone, size, dim)
    site = _site(a.work, a.frames)
    t_prep = time.perf_counter() - t0
    data = a.work / "data"
    shutil.rmtree(data, ignore_errors=True)
    out = a.work / "out"
    shutil.rmtree(out, ignore_errors=True)
    cfg = a.work / "bench.toml"
    cfg.write_text(f'[paths]\ndata_dir = "{data}"\nmodels_dir = "{model.parent}"\n')
    from device.usecases import echo_learn

    from device.config import load_settings

    s = load_settings(cfg)
    items = echo_learn.scan_data(site, tuple(json.loads((model / "manifest.json").read_text())["labels"]))
    marks: dict[str, float] = {}

    def progress(f: float, msg: str = "") -> None:
        key = msg.split(" ")[0]
        marks.setdefault(key, time.perf_counter())
    t1 = time.perf_counter()
    res = echo_learn.learn(items, data_dir=s.data_dir, shipped_models_dir=s.models_dir, out=out, promote=False,
                           progress=progress, source="benchmark")
    t_all = time.perf_counter() - t1
    t_feat = marks.get("fitting", t1) - marks.get("loading", t1)
    with open("/proc/loadavg") as fh:
        load = fh.read().split()[:3]
    print(json.dumps({"frames": res["data"]["frames"], "loops": res["data"]["clips"],
                      "patients": res["data"]["patients"], "backbone": str(a.backbone), "input_size": size,
                      "feature_dim": dim, "threads": a.threads, "seconds_total": round(t_all, 1),
                      "seconds_read_and_features": round(t_feat, 1),
                      "seconds_fit_calibrate_write": round(t_all - t_feat, 1),
                      "old_accuracy_sim": res["old_accuracy"], "new_accuracy_sim": res["new_accuracy"],
                      "preparation_seconds_cached": round(t_prep, 1), "loadavg": load}, indent=1))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO_ROOT))
    sys.exit(main())
