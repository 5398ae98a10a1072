"""A small world for the site-learning tests: a stand-in view model v2 and labelled "site" loops of several patients.

The stand-in backbone is a tiny ONNX graph made here (the fan crop average-pooled to 8x8, plus a fixed random ReLU
projection of it: 128 features; quality and guidance outputs so the cart's classifier accepts it). Its "shipped"
view head is fitted with `device.echo.view_head.fit_head` on simulator screens of the standard look. The site shows
the same views with a look of its own that the shipped head handles poorly: the screen mirrored left-right (the Mayo
convention some sites use), a brighter gain and another screen size. Each patient is one simulator seed (its own
anatomy); each loop is an MP4 (4 frames) or a PNG.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np

LABELS = ("PLAX", "PSAX-PM", "A4C", "A2C", "OTHER")
SITE_VIEWS = ("PLAX", "PSAX-PM", "A4C", "A2C")
GUIDE = ("hold", "rotate_cw", "rotate_ccw", "tilt_up", "tilt_down", "rock_toward", "rock_away", "slide_apex",
         "slide_base", "more_depth", "less_depth")
SIZE = 64
D_RAND = 64


def backbone_onnx(path: Path, seed: int = 0) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    w1 = (rng.standard_normal((64, D_RAND)) / 8.0).astype(np.float32)
    b1 = (rng.standard_normal(D_RAND) * 0.1).astype(np.float32)
    w2 = (rng.standard_normal((64, len(GUIDE))) / 8.0).astype(np.float32)
    nodes = [
        helper.make_node("AveragePool", ["image"], ["pooled"], kernel_shape=[8, 8], strides=[8, 8]),
        helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
        helper.make_node("MatMul", ["flat", "w1"], ["h0"]),
        helper.make_node("Add", ["h0", "b1"], ["h1"]),
        helper.make_node("Relu", ["h1"], ["h2"]),
        helper.make_node("Concat", ["flat", "h2"], ["features"], axis=1),
        helper.make_node("ReduceMean", ["flat"], ["m"], axes=[1], keepdims=1),
        helper.make_node("Sigmoid", ["m"], ["quality"]),
        helper.make_node("MatMul", ["flat", "w2"], ["guidance_logits"]),
    ]
    graph = helper.make_graph(
        nodes, "standin_backbone",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 1, SIZE, SIZE])],
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, [1, 64 + D_RAND]),
         helper.make_tensor_value_info("quality", TensorProto.FLOAT, [1, 1]),
         helper.make_tensor_value_info("guidance_logits", TensorProto.FLOAT, [1, len(GUIDE)])],
        [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(b1, "b1"), numpy_helper.from_array(w2, "w2")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())


def screen(view: str, seed: int, site: bool, apex_down: bool = False) -> np.ndarray:
    """One simulator screen (RGB); `site` = the site's look (mirrored, brighter, 400x300); `apex_down`: displayed
    upside down as well (the apex at the bottom of the screen, a convention some echo labs use)."""
    img = _screen(view, seed, site)
    return np.ascontiguousarray(img[::-1]) if apex_down else img


def _screen(view: str, seed: int, site: bool) -> np.ndarray:
    from dataclasses import replace

    from device.sim import echo_probe

    rng = np.random.default_rng(seed)
    if not site:
        return echo_probe.random_sample(rng, view, size=(320, 240))[0]
    orig = echo_probe.random_look

    def bright(r):
        return replace(orig(r), gain=float(r.uniform(1.3, 1.6)))
    echo_probe.random_look = bright
    try:
        img = echo_probe.random_sample(rng, view, size=(400, 300), pose_spread=0.5)[0]
    finally:
        echo_probe.random_look = orig
    return np.ascontiguousarray(img[:, ::-1])


def _features(model_dir: Path, frames: list[np.ndarray]) -> np.ndarray:
    from device.echo.classify import ViewClassifier
    from device.echo.screen import find_sector
    from device.inference import load_model

    clf = ViewClassifier.from_loaded(load_model(model_dir.name, models_dir=model_dir.parent, cache=False))
    return np.stack([clf.features(f, find_sector(f)) for f in frames])


def shipped_model(root: Path, n_per_view: int = 24) -> Path:
    """root/echo_view/: the stand-in backbone + a head fitted and calibrated on standard-look simulator screens."""
    from device.echo.view_head import calibrate, fit_head
    from device.inference.manifest import write_manifest

    d = root / "echo_view"
    d.mkdir(parents=True)
    backbone_onnx(d / "backbone.onnx")
    manifest = {
        "name": "echo_view", "version": "2.0.0-standin", "task": "classification",
        "intended_use": "Test stand-in for the view model v2. Not for diagnostic use without review.",
        "files": {"fp32": {"path": "backbone.onnx"}, "view_head": {"path": "view_head.npz"}},
        "default": "fp32",
        "inputs": [{"name": "image", "shape": [1, 1, SIZE, SIZE], "dtype": "float32"}],
        "outputs": [{"name": "features", "shape": [1, 64 + D_RAND]}, {"name": "quality", "shape": [1, 1]},
                    {"name": "guidance_logits", "shape": [1, len(GUIDE)]}],
        "labels": list(LABELS), "params": {"input_size": SIZE, "guidance_labels": list(GUIDE),
                                           "view_head": "view_head"},
        "training_data": "simulator screens (standard look), test stand-in", "accuracy": [],
    }
    frames, y = [], []
    for k, v in enumerate(LABELS):
        for i in range(n_per_view + 8):
            frames.append(screen(v, 1000 * k + i, site=False))
            y.append(k)
    write_manifest(d, {**manifest, "files": {"fp32": {"path": "backbone.onnx"}}})
    feats = _features(d, frames)
    y = np.array(y)
    fit = np.array([i % (n_per_view + 8) < n_per_view for i in range(len(y))])
    head = calibrate(fit_head(feats[fit], y[fit], LABELS), feats[~fit], y[~fit])
    head.save(d / "view_head.npz")
    write_manifest(d, manifest)
    return d


def site_folder(root: Path, patients: int = 8, frames_per_loop: int = 4, views=SITE_VIEWS, site: bool = True,
                seed0: int = 50_000, apex_down: bool = False) -> Path:
    """root/<view>/<patient>/loop.avi (or frame.png for every third loop): one loop per view per patient, in the
    site's look (or the shipped model's standard look with site=False)."""
    for p in range(patients):
        for k, v in enumerate(views):
            d = root / v / f"patient{p:02d}"
            d.mkdir(parents=True, exist_ok=True)
            seed = seed0 + 100 * p + k
            if (p + k) % 3 == 0:
                cv2.imwrite(str(d / "frame.png"), cv2.cvtColor(screen(v, seed, site, apex_down), cv2.COLOR_RGB2BGR))
                continue
            frames = [screen(v, seed * 10 + i, site, apex_down) for i in range(frames_per_loop)]
            h, w = frames[0].shape[:2]
            wr = cv2.VideoWriter(str(d / "loop.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (w, h))
            for f in frames:
                wr.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
            wr.release()
    return root


def tree_sha256(d: Path) -> dict[str, str]:
    return {p.relative_to(d).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(Path(d).rglob("*")) if p.is_file()}
