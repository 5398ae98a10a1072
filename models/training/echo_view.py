"""Train the small-CNN echo view model (v1: view + quality + probe guidance) on the simulator, optionally with a
site's real frames. It is kept as the variant `models/echo_view_small/` for comparison; the cart's default view model
is v2 (models/training/echo_view_v2.py, models/echo_view/), which measured better on the real echo frames.

    python -m models.training.echo_view                       # simulator only (what `make models` runs)
    python -m models.training.echo_view --real-dir /data/site  # + real labelled frames/clips (sub-folder per view
                                                                #   or labels.csv with path,view)

Data: simulator screens through the cart's own pre-processing (models/training/echo_view_data.py); splits are drawn
from disjoint seeds: train (model fitting), val (checkpoint choice and int8 calibration), test (the accuracy in the
manifest; never used for fitting or choosing). Real data is split by clip: 80 % joins training, 20 % is reported.
Writes models/echo_view/: fp32 and int8 (static QDQ) ONNX, a .tflite, manifest.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

import numpy as np

from device.paths import MODELS_DIR, REPO_ROOT, shared_data_dir
from device.sim.echo_pose import GUIDANCE, HOLD_QUALITY
from device.sim.echo_views import VIEWS
from models.training.echo_view_data import EchoSet, load_real_folder, simulate

VERSION = "1.0.0"
CACHE = REPO_ROOT / "var" / "cache" / "echo_view"


def sim_sets(size: int, n_train: int, cache: Path, n_test: int = 1950, n_val: int = 1300) -> dict[str, EchoSet]:
    spec = {"test": (n_test, 2, True), "val": (n_val, 3, False), "train": (n_train, 1, False)}
    out = {}
    for name, (n, seed, bal) in spec.items():
        p = cache / f"sim_{name}_{size}.npz"
        if p.is_file() and len(EchoSet.load(p)) >= n:
            out[name] = EchoSet.load(p)
        else:
            print(f"[echo_view] simulating {n} {name} screens ...", flush=True)
            out[name] = simulate(n, seed, size, balanced=bal)
            out[name].save(p)
    return out


def _augment(x, torch):
    """Random scale/shift, gain, gamma, noise and blur on a batch (B, 1, S, S) in [-1, 1]."""
    b = x.shape[0]
    s = torch.empty(b).uniform_(0.9, 1.1)
    tx, ty = torch.empty(b).uniform_(-0.06, 0.06), torch.empty(b).uniform_(-0.06, 0.06)
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0], theta[:, 1, 1], theta[:, 0, 2], theta[:, 1, 2] = s, s, tx, ty
    grid = torch.nn.functional.affine_grid(theta, list(x.shape), align_corners=False)
    x01 = (x + 1) / 2
    x01 = torch.nn.functional.grid_sample(x01, grid, align_corners=False, padding_mode="zeros")
    gain = torch.empty(b, 1, 1, 1).uniform_(0.55, 1.4)
    gamma = torch.empty(b, 1, 1, 1).uniform_(0.75, 1.8)
    x01 = (x01.clamp(0, 1) ** gamma) * gain
    x01 = x01 + torch.randn_like(x01) * torch.empty(b, 1, 1, 1).uniform_(0, 0.03)
    blur = torch.rand(b) < 0.5
    if blur.any():
        k = torch.tensor([1.0, 2.0, 1.0])
        k = (k[:, None] * k[None, :] / 16).view(1, 1, 3, 3)
        x01[blur] = torch.nn.functional.conv2d(x01[blur], k, padding=1)
    return x01.clamp(0, 1) * 2 - 1


def make_net(backbone: str, size: int):
    """'small' (default: trains within the budget on 2 shared cores) or 'lite0' (EfficientNet-Lite0, ImageNet)."""
    if backbone == "lite0":
        from models.training.echo_view_net import EchoViewNet

        return EchoViewNet(len(VIEWS), len(GUIDANCE))
    from models.training.echo_view_small import EchoViewSmall

    return EchoViewSmall(len(VIEWS), len(GUIDANCE), size)


def train(sets: dict[str, EchoSet], real: EchoSet | None, minutes: float, seed: int, batch: int = 48,
          backbone: str = "small", size: int = 96):
    import torch

    torch.manual_seed(seed)
    torch.set_num_threads(1)
    tr = sets["train"] if real is None else EchoSet.concat([sets["train"]] + [real] * 4)
    x = torch.from_numpy(tr.x)
    yv, yq, yg = (torch.from_numpy(tr.view), torch.from_numpy(tr.quality), torch.from_numpy(tr.guidance))
    model = make_net(backbone, size)
    opt = torch.optim.AdamW(model.parameters(), lr=1.5e-3, weight_decay=1e-4)
    budget = minutes * 60
    t0 = time.perf_counter()
    best, best_state, step = -1.0, None, 0
    rng = np.random.default_rng(seed)
    ce = torch.nn.CrossEntropyLoss(ignore_index=-1)
    next_eval = 150
    while time.perf_counter() - t0 < budget:
        frac = (time.perf_counter() - t0) / budget
        for g in opt.param_groups:
            g["lr"] = 1.5e-3 * (0.5 + 0.5 * np.cos(np.pi * min(frac, 1.0))) + 2e-5
        idx = torch.from_numpy(rng.integers(0, len(tr), batch))
        xb = _augment((x[idx].float()[:, None] / 255 - 0.5) / 0.5, torch)
        model.train()
        lv, lq, lg = model(xb)
        qm = yq[idx] >= 0
        loss = ce(lv, yv[idx]) + ce(lg, yg[idx])
        if qm.any():
            loss = loss + 4.0 * torch.nn.functional.mse_loss(lq[qm, 0], yq[idx][qm])
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if step >= next_eval or time.perf_counter() - t0 >= budget:
            next_eval = step + 300
            m = score_torch(model, sets["val"])
            sel = m["view_acc"] + 0.5 * m["guidance_acc"] - m["quality_mae"]
            print(f"[echo_view] step {step} {time.perf_counter() - t0:.0f}s loss {loss.item():.3f} val {m}",
                  flush=True)
            if sel > best:
                best, best_state = sel, {k: v.detach().clone() for k, v in model.state_dict().items()}
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return model, step


def _predict_torch(model, x_u8: np.ndarray):
    import torch

    outs = []
    model.eval()
    with torch.no_grad():
        for i in range(0, len(x_u8), 128):
            xb = (torch.from_numpy(x_u8[i:i + 128]).float()[:, None] / 255 - 0.5) / 0.5
            lv, lq, lg = model(xb)
            outs.append((lv.numpy(), lq.numpy()[:, 0], lg.numpy()))
    return tuple(np.concatenate([o[k] for o in outs]) for k in range(3))


def metrics(pv: np.ndarray, pq: np.ndarray, pg: np.ndarray, s: EchoSet) -> dict[str, float]:
    """view accuracy, quality MAE (heart views), guidance accuracy (heart views) and standard-view agreement."""
    heart = s.view != VIEWS.index("OTHER")
    vacc = float((pv.argmax(1) == s.view).mean())
    qmask = heart & (s.quality >= 0)
    qmae = float(np.abs(pq[qmask] - s.quality[qmask]).mean()) if qmask.any() else float("nan")
    gmask = s.guidance >= 0
    gacc = float((pg.argmax(1)[gmask] == s.guidance[gmask]).mean()) if gmask.any() else float("nan")
    std_true = qmask & (s.quality >= HOLD_QUALITY)
    std_pred = qmask & (pq >= HOLD_QUALITY)
    agree = float((std_true == std_pred)[qmask].mean()) if qmask.any() else float("nan")
    return {"view_acc": round(vacc, 4), "quality_mae": round(qmae, 4), "guidance_acc": round(gacc, 4),
            "standard_agree": round(agree, 4)}


def score_torch(model, s: EchoSet) -> dict[str, float]:
    return metrics(*_predict_torch(model, s.x), s)


def score_onnx(path: Path, s: EchoSet) -> dict[str, float]:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    pv, pq, pg = [], [], []
    for c in s.x:
        o = sess.run(None, {"image": ((c.astype(np.float32) / 255 - 0.5) / 0.5)[None, None]})
        pv.append(o[0][0])
        pq.append(o[1][0, 0])
        pg.append(o[2][0])
    return metrics(np.array(pv), np.array(pq), np.array(pg), s)


def export(model, out: Path, size: int, calib_u8: np.ndarray) -> dict[str, Path]:
    import torch
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from models.training.tflite_export import onnx_to_tflite, verify_against_onnx

    out.mkdir(parents=True, exist_ok=True)
    fp32, int8, tfl = out / "echo_view.fp32.onnx", out / "echo_view.int8.onnx", out / "echo_view.tflite"
    torch.onnx.export(model, torch.zeros(1, 1, size, size), str(fp32), input_names=["image"],
                      output_names=["view_logits", "quality", "guidance_logits"], opset_version=17, dynamo=False)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter([{"image": ((c.astype(np.float32) / 255 - 0.5) / 0.5)[None, None]} for c in calib_u8])

        def get_next(self):
            return next(self.items, None)

    pre = out / "echo_view.pre.onnx"
    quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
    quantize_static(str(pre), str(int8), Reader(), quant_format=QuantFormat.QDQ, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8, per_channel=True)
    pre.unlink(missing_ok=True)
    tfl.write_bytes(onnx_to_tflite(str(fp32)))
    diff = verify_against_onnx(tfl.read_bytes(), fp32, {"image": np.zeros((1, 1, size, size), np.float32)})
    print(f"[echo_view] tflite vs onnx max |diff| = {diff:.2e}", flush=True)
    return {"fp32": fp32, "int8": int8, "tflite": tfl, "tflite_diff": diff}


def sonosite_result(onnx_path: Path, size: int) -> dict | None:
    """Per-frame views of the real SonoSite cine (an apical four-chamber loop) by the exported model."""
    d = shared_data_dir()
    f = d / "echo-dicom" / "color3d_jpeg_baseline.dcm" if d else None
    if f is None or not f.is_file():
        return None
    import onnxruntime as ort

    from device.drivers.files import iter_file_frames
    from device.echo.prep import model_input, softmax
    from device.echo.screen import find_sector

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    views, quals = [], []
    sector = None
    for fr in iter_file_frames(f):
        if sector is None:
            sector = find_sector(fr.pixels)
        o = sess.run(None, {"image": model_input(fr.pixels, sector, size)})
        views.append(VIEWS[int(np.argmax(softmax(o[0][0])))])
        quals.append(float(o[1][0, 0]))
    counts = {v: views.count(v) for v in sorted(set(views))}
    return {"n_frames": len(views), "a4c_frac": round(views.count("A4C") / len(views), 3), "counts": counts,
            "quality_median": round(float(np.median(quals)), 3)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=11.0, help="training wall-time budget")
    ap.add_argument("--size", type=int, default=96, help="model input size (pixels)")
    ap.add_argument("--n-train", type=int, default=10000, help="simulator training screens")
    ap.add_argument("--real-dir", type=Path, help="real labelled frames/clips: sub-folder per view or labels.csv")
    ap.add_argument("--out", type=Path, default=MODELS_DIR / "echo_view_small")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache", type=Path, default=CACHE, help="where simulated crops are cached")
    ap.add_argument("--n-test", type=int, default=1950)
    ap.add_argument("--n-val", type=int, default=1300)
    ap.add_argument("--backbone", choices=("small", "lite0"), default="small",
                    help="small CNN (fits the 2-core training budget) or EfficientNet-Lite0 with ImageNet weights")
    args = ap.parse_args(argv)
    sets = sim_sets(args.size, args.n_train, args.cache, args.n_test, args.n_val)
    real_tr = real_te = None
    if args.real_dir is not None:
        try:
            real, clips = load_real_folder(args.real_dir, args.size)
        except (ValueError, OSError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        ids = sorted(set(clips))
        test_ids = set(np.random.default_rng(1).permutation(ids)[: max(1, len(ids) // 5)]) if len(ids) > 1 else set()
        te = np.array([c in test_ids for c in clips])
        real_tr = EchoSet(real.x[~te], real.view[~te], real.quality[~te], real.guidance[~te])
        real_te = EchoSet(real.x[te], real.view[te], real.quality[te], real.guidance[te]) if te.any() else None
    model, steps = train(sets, real_tr, args.minutes, args.seed, backbone=args.backbone, size=args.size)
    files = export(model, args.out, args.size, sets["val"].x[:200])
    acc_fp32 = score_onnx(files["fp32"], sets["test"])
    acc_int8 = score_onnx(files["int8"], sets["test"])
    sono = sonosite_result(files["int8"], args.size)
    print(f"[echo_view] test fp32 {acc_fp32} int8 {acc_int8} sonosite {sono}", flush=True)
    n_test = len(sets["test"])
    accuracy = [
        {"metric": "view accuracy (13 classes)", "value": acc_int8["view_acc"], "variant": "int8",
         "on": f"simulator held-out split, n={n_test}"},
        {"metric": "view accuracy (13 classes)", "value": acc_fp32["view_acc"], "variant": "fp32",
         "on": f"simulator held-out split, n={n_test}"},
        {"metric": "quality MAE (0-1)", "value": acc_int8["quality_mae"], "variant": "int8",
         "on": "simulator held-out split, heart views"},
        {"metric": "guidance accuracy (11 moves)", "value": acc_int8["guidance_acc"], "variant": "int8",
         "on": "simulator held-out split, heart views"},
        {"metric": f"standard-view agreement (quality >= {HOLD_QUALITY})", "value": acc_int8["standard_agree"],
         "variant": "int8", "on": "simulator held-out split, heart views"},
    ]
    if sono:
        accuracy.append({"metric": "frames named A4C", "value": sono["a4c_frac"], "variant": "int8",
                         "on": f"real SonoSite apical 4-chamber cine, n={sono['n_frames']} frames",
                         "detail": sono["counts"]})
    if real_te is not None:
        r = score_onnx(files["int8"], real_te)
        accuracy.append({"metric": "view accuracy", "value": r["view_acc"], "variant": "int8",
                         "on": f"site real frames held out by clip, n={len(real_te)}"})
    from device.inference.manifest import write_manifest

    write_manifest(args.out, {
        "name": args.out.name, "version": VERSION, "task": "classification",
        "intended_use": ("Names the echo view on the live ultrasound screen, scores image quality and suggests a probe "
                         "move. Acquisition aid; not for diagnostic use without review."),
        "recipe": "models/training/echo_view.py --out models/echo_view_small",
        "files": {"fp32": {"path": files["fp32"].name}, "int8": {"path": files["int8"].name},
                  "tflite": {"path": files["tflite"].name}},
        "default": "int8",
        "inputs": [{"name": "image", "shape": [1, 1, args.size, args.size], "dtype": "float32",
                    "normalisation": "grey fan crop (device.echo.prep.crop_fan), x/255 then (x-0.5)/0.5"}],
        "outputs": [{"name": "view_logits", "shape": [1, len(VIEWS)], "dtype": "float32"},
                    {"name": "quality", "shape": [1, 1], "dtype": "float32"},
                    {"name": "guidance_logits", "shape": [1, len(GUIDANCE)], "dtype": "float32"}],
        "labels": list(VIEWS),
        "params": {"input_size": args.size, "guidance_labels": list(GUIDANCE), "quality_threshold": 0.6,
                   "hold_s": 1.0, "clip_s": 3.0, "tflite_max_abs_diff_vs_onnx": float(files["tflite_diff"]),
                   "train_steps": steps, "backbone": {"small": "EchoViewSmall (7 conv layers, 0.3 M parameters, from "
                                                               "scratch)", "lite0": "EfficientNet-Lite0 (ImageNet), "
                                                               "1-channel stem"}[args.backbone]},
        "training_data": (f"{args.n_train} CardioCart echo-simulator screens (device/sim/echo_*.py: 12 views + "
                          "OTHER, random probe pose, machine look, overlays, 320x240..640x480)"
                          + (f" + {len(real_tr)} real frames from {args.real_dir}" if real_tr is not None else "")),
        "accuracy": accuracy,
        "created": dt.date.today().isoformat(),
    })
    (args.out / "training_log.json").write_text(json.dumps({"test_fp32": acc_fp32, "test_int8": acc_int8,
                                                            "sonosite": sono, "steps": steps}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
