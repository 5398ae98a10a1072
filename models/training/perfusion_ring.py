"""Train the patent's network 1 (``models/perfusion_ring``): three neighbouring short-axis slices -> that slice's
polar-map ring, on targets made by the classical method (maximum count between endo- and epicardium).

Data: simulated stress and rest studies (``models/training/perfusion_data.py``): 1200 training patients (seeds
100000+), 300 validation patients (seeds 200000+) used for early stopping and the numbers in the manifest.
MLP 3*28*28 -> 256 -> 256 -> 48, mini-batch stochastic gradient descent (Adam), L1 loss.
Run: ``python -m models.training.perfusion_ring`` (about 5 minutes on one core after the data are cached).
"""

from __future__ import annotations

import datetime as dt
import sys
import time

import numpy as np

from device.inference.manifest import write_manifest
from device.paths import MODELS_DIR
from device.perfusion.geometry import N_SECTORS, segment_means
from device.perfusion.polar import rings_to_polar
from models.training.perfusion_data import CROP_MM, CROP_PX, TRAIN_SEED0, VAL_SEED0, dataset
from models.training.perfusion_export import export_mlp

NAME = "perfusion_ring"
VERSION = "1.0.0"
HIDDEN = 256
EPOCHS = 30


def _xy(d: dict) -> tuple[np.ndarray, np.ndarray]:
    x = np.concatenate([d["x_stress"], d["x_rest"]]).astype(np.float32)
    y = np.concatenate([d["y_stress"], d["y_rest"]]).astype(np.float32)
    return x, y


def polar_agreement(d: dict, pred_stress: np.ndarray) -> dict:
    """Rebuild each validation study's stress polar map from predicted rings; compare with the classical map."""
    mae, seg_mae, r = [], [], []
    off = 0
    for k, n in enumerate(d["n_stress"]):
        n = int(n)
        net = rings_to_polar(pred_stress[off:off + n])
        off += n
        cls = d["polar_stress"][k]
        mae.append(np.abs(net - cls).mean())
        sn, sc = segment_means(net), segment_means(cls)
        seg_mae.append(np.abs(sn - sc).mean())
        r.append(np.corrcoef(sn, sc)[0, 1])
    return {"polar_mae_pct": float(np.mean(mae)), "segment_mae_pct": float(np.mean(seg_mae)),
            "segment_r_median": float(np.median(r)), "n": len(mae)}


def main() -> int:
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(0)
    tr = dataset("train", TRAIN_SEED0, 1200, with_rings=True)
    va = dataset("val", VAL_SEED0, 300, with_rings=True)
    x, y = _xy(tr)
    xv, yv = _xy(va)
    n_in = x.shape[1]
    net = torch.nn.Sequential(torch.nn.Linear(n_in, HIDDEN), torch.nn.ReLU(), torch.nn.Linear(HIDDEN, HIDDEN),
                              torch.nn.ReLU(), torch.nn.Linear(HIDDEN, N_SECTORS))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, weight_decay=1e-6)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, EPOCHS)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    xvt, yvt = torch.from_numpy(xv), torch.from_numpy(yv)
    best, best_state = np.inf, None
    t0 = time.time()
    for ep in range(EPOCHS):
        net.train()
        perm = torch.randperm(len(xt))
        for i in range(0, len(perm), 256):
            b = perm[i:i + 256]
            loss = torch.nn.functional.l1_loss(net(xt[b]), yt[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
        net.eval()
        with torch.no_grad():
            v = float(torch.nn.functional.l1_loss(net(xvt), yvt))
        if v < best:
            best, best_state = v, {k: t.clone() for k, t in net.state_dict().items()}
        print(f"epoch {ep + 1}: val L1 {v * 100:.2f} % of myocardial max ({time.time() - t0:.0f} s)", flush=True)
    net.load_state_dict(best_state)
    lin = [m for m in net if isinstance(m, torch.nn.Linear)]
    layers = [(m.weight.detach().numpy().astype(np.float32), m.bias.detach().numpy().astype(np.float32),
               "RELU" if k < len(lin) - 1 else "NONE") for k, m in enumerate(lin)]
    out_dir = MODELS_DIR / NAME
    calib = x[np.random.default_rng(0).choice(len(x), 256, replace=False)]
    exp = export_mlp(out_dir, NAME, layers, "slices", "ring", "NONE", calib)
    with torch.no_grad():
        pred = net(torch.from_numpy(va["x_stress"].astype(np.float32))).numpy()
    agree = polar_agreement(va, pred)
    import onnxruntime as ort

    s8 = ort.InferenceSession(str(out_dir / f"{NAME}.int8.onnx"), providers=["CPUExecutionProvider"])
    agree8 = polar_agreement(va, s8.run(None, {"slices": va["x_stress"].astype(np.float32)})[0])
    manifest = {
        "name": NAME, "version": VERSION, "task": "regression",
        "intended_use": "Patent 000 network 1: builds the polar-map ring of one short-axis perfusion slice from "
                        "that slice and its two neighbours. Research aid; not for diagnostic use without review.",
        "recipe": "models/training/perfusion_ring.py",
        "files": exp["files"], "default": "int8",
        "inputs": [{"name": "slices", "shape": ["N", n_in], "dtype": "float32",
                    "normalisation": f"slices k-1, k, k+1 resampled on a {CROP_PX}x{CROP_PX} grid of {CROP_MM} mm "
                                     "centred on the LV centre, divided by the study's myocardial maximum "
                                     "(98th percentile), flattened slice-major"}],
        "outputs": [{"name": "ring", "shape": ["N", N_SECTORS], "dtype": "float32"}],
        "labels": [f"sector_{i}" for i in range(N_SECTORS)],
        "params": {"crop_px": CROP_PX, "crop_mm": CROP_MM, "sectors": N_SECTORS,
                   "output_units": "fraction of the myocardial maximum; sector j covers [j, j+1)*7.5 deg, "
                                   "0 = lateral, 90 = anterior"},
        "training_data": f"simulated SPECT stress+rest studies (device/sim/spect.py), {len(tr['polar_stress'])} "
                         f"patients, {len(x)} slices, seeds {TRAIN_SEED0}+; targets from the classical polar map",
        "accuracy": [
            {"metric": "ring_mae_pct_of_myo_max", "value": round(best * 100, 3),
             "on": f"simulated validation patients (seeds {VAL_SEED0}+), {len(xv)} slices, stress+rest"},
            {"metric": "polar_mae_pct_vs_classical", "value": round(agree["polar_mae_pct"], 3),
             "on": f"{agree['n']} validation stress polar maps (fp32)"},
            {"metric": "segment_mae_pct_vs_classical", "value": round(agree["segment_mae_pct"], 3),
             "on": "same, 17-segment means (fp32)"},
            {"metric": "segment_mae_pct_vs_classical_int8", "value": round(agree8["segment_mae_pct"], 3),
             "on": "same, int8 model"},
            {"metric": "segment_r_median", "value": round(agree["segment_r_median"], 4),
             "on": "same, Pearson r of the 17 segments per study (median)"},
            {"metric": "tflite_vs_fp32_max_abs", "value": float(f"{exp['checks']['tflite_vs_fp32_max_abs']:.3g}"),
             "on": "32 slices, LiteRT vs ONNX Runtime"},
        ],
        "created": dt.date.today().isoformat(),
    }
    write_manifest(out_dir, manifest)
    print(f"{NAME}: val ring MAE {best * 100:.2f} %; polar agreement fp32 {agree}, int8 {agree8}; {exp['checks']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
