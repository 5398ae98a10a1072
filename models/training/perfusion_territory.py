"""Train the patent's network 2 (``models/perfusion_territory``): stress polar map -> LAD / LCX / RCA at risk.

Data: classical stress polar maps of simulated patients (``models/training/perfusion_data.py``): 1200 training
patients (seeds 100000+; augmented by rolling the map +-2 sectors), 300 validation patients (seeds 200000+) for
early stopping and the manifest's numbers. Label: the territory carries a simulated defect of severity >= 0.2
(sub-threshold defects 0.08-0.2 are labelled not at risk). MLP 960 -> 64 -> 3, sigmoid, binary cross-entropy.
Run: ``python -m models.training.perfusion_territory [--candidate]``.

``--candidate`` (issue 16 point 5, evaluated 2026-12-04, NOT shipped: EVALUATION.md): the same seeds drawn from the
simulator's wide family (``random_study(wide=True)``), each patient twice - its classical map and the shipped
network 1's map - written to ``var/cache/perfusion_candidates/perfusion_territory`` (version 1.1.0-candidate).
"""

from __future__ import annotations

import datetime as dt
import sys
import time

import numpy as np
from sklearn.metrics import roc_auc_score

from device.inference.manifest import write_manifest
from device.paths import MODELS_DIR, REPO_ROOT
from device.perfusion.geometry import N_RINGS, N_SECTORS, TERRITORIES
from models.training.perfusion_data import TRAIN_SEED0, VAL_SEED0, dataset, network_polars
from models.training.perfusion_export import export_mlp

NAME = "perfusion_territory"
VERSION = "1.0.0"
CANDIDATE_VERSION = "1.1.0-candidate"
HIDDEN = 64
EPOCHS = 150
BUDGET_S = 900          # wall-time budget of the training loop (2-core machine shared by others)


def _aucs(p: np.ndarray, y: np.ndarray) -> dict[str, float]:
    return {t: float(roc_auc_score(y[:, i], p[:, i])) for i, t in enumerate(TERRITORIES)}


def main(argv: list[str] | None = None) -> int:
    import torch

    cand = "--candidate" in (argv or [])
    torch.set_num_threads(1)
    torch.manual_seed(0)
    tr = dataset("train", TRAIN_SEED0, 1200, with_rings=True, wide=cand)
    va = dataset("val", VAL_SEED0, 300, with_rings=True, wide=cand)
    k = 2 if cand else 1                   # candidate: classical + network-1 map of every patient
    x = (np.concatenate([tr["polar_stress"]] + ([network_polars(tr)] if cand else [])) / 100.0).astype(np.float32)
    y = np.concatenate([tr["at_risk"]] * k).astype(np.float32)
    nv = len(va["polar_stress"])
    xv = (np.concatenate([va["polar_stress"]] + ([network_polars(va)] if cand else [])) / 100.0).reshape(
        k * nv, -1).astype(np.float32)
    yv = np.concatenate([va["at_risk"]] * k).astype(np.float32)
    n_in = N_RINGS * N_SECTORS
    net = torch.nn.Sequential(torch.nn.Linear(n_in, HIDDEN), torch.nn.ReLU(), torch.nn.Dropout(0.2),
                              torch.nn.Linear(HIDDEN, len(TERRITORIES)))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, weight_decay=1e-4)
    rng = np.random.default_rng(0)
    best, best_state, best_ep = -1.0, None, 0
    xvt = torch.from_numpy(xv)
    t0 = time.time()
    for ep in range(EPOCHS):
        if time.time() - t0 > BUDGET_S:
            print(f"wall-time budget {BUDGET_S} s reached after {ep} epochs", flush=True)
            break
        net.train()
        shift = rng.integers(-2, 3, len(x))
        xa = np.stack([np.roll(m, s, axis=1) for m, s in zip(x, shift)]).reshape(len(x), -1)
        xa = xa + rng.normal(0, 0.01, xa.shape).astype(np.float32)
        perm = rng.permutation(len(x))
        for i in range(0, len(perm), 64):
            b = perm[i:i + 64]
            loss = torch.nn.functional.binary_cross_entropy_with_logits(net(torch.from_numpy(xa[b])),
                                                                        torch.from_numpy(y[b]))
            opt.zero_grad()
            loss.backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            pv = torch.sigmoid(net(xvt)).numpy()
        auc = float(np.mean(list(_aucs(pv, yv).values())))
        if auc > best:
            best, best_state, best_ep = auc, {k: t.clone() for k, t in net.state_dict().items()}, ep + 1
    net.load_state_dict(best_state)
    net.eval()
    lin = [m for m in net if isinstance(m, torch.nn.Linear)]
    layers = [(m.weight.detach().numpy().astype(np.float32), m.bias.detach().numpy().astype(np.float32),
               "RELU" if k < len(lin) - 1 else "NONE") for k, m in enumerate(lin)]
    with torch.no_grad():
        pv = torch.sigmoid(net(xvt)).numpy()
    aucs = _aucs(pv, yv)
    out_dir = REPO_ROOT / "var" / "cache" / "perfusion_candidates" / NAME if cand else MODELS_DIR / NAME
    exp = export_mlp(out_dir, NAME, layers, "polar", "prob_at_risk", "LOGISTIC", x.reshape(len(x), -1))
    import onnxruntime as ort

    s8 = ort.InferenceSession(str(out_dir / f"{NAME}.int8.onnx"), providers=["CPUExecutionProvider"])
    p8 = s8.run(None, {"polar": xv})[0]
    aucs8 = _aucs(p8, yv)
    on = f"simulated validation patients (seeds {VAL_SEED0}+, n={nv}; also used for early stopping)"
    acc = [] if cand else [{"metric": f"roc_auc_{t}", "value": round(aucs[t], 4),
                            "on": f"{on[:-1]}, {int(yv[:, i].sum())} at risk)"} for i, t in enumerate(TERRITORIES)
                           ] + [{"metric": f"roc_auc_{t}_int8", "value": round(aucs8[t], 4), "on": "same, int8 model"}
                                for t in TERRITORIES]
    for part, sl in ((("classical", slice(0, nv)), ("network1", slice(nv, 2 * nv))) if cand else ()):
        a32, a8 = _aucs(pv[sl], yv[sl]), _aucs(p8[sl], yv[sl])
        acc += [{"metric": f"roc_auc_{t}_{part}_maps", "value": round(a32[t], 4),
                 "on": f"{on}, {part} stress maps, {int(yv[sl][:, i].sum())} at risk"}
                for i, t in enumerate(TERRITORIES)]
        acc += [{"metric": f"roc_auc_{t}_{part}_maps_int8", "value": round(a8[t], 4), "on": "same, int8 model"}
                for t in TERRITORIES]
    acc.append({"metric": "tflite_vs_fp32_max_abs", "value": float(f"{exp['checks']['tflite_vs_fp32_max_abs']:.3g}"),
                "on": "32 maps, LiteRT vs ONNX Runtime"})
    manifest = {
        "name": NAME, "version": CANDIDATE_VERSION if cand else VERSION, "task": "multi-label classification",
        "intended_use": "Patent 000 network 2: probability that the LAD, LCX and RCA territories are at risk, from "
                        "a stress perfusion polar map. Research aid; not for diagnostic use without review.",
        "recipe": "models/training/perfusion_territory.py",
        "files": exp["files"], "default": "int8",
        "inputs": [{"name": "polar", "shape": ["N", n_in], "dtype": "float32",
                    "normalisation": f"stress polar map {N_RINGS}x{N_SECTORS} (ring 0 apex, sector 0 = lateral, "
                                     "counter-clockwise) in percent of max, divided by 100, flattened ring-major"}],
        "outputs": [{"name": "prob_at_risk", "shape": ["N", 3], "dtype": "float32"}],
        "labels": list(TERRITORIES),
        "params": {"threshold": 0.5, "rings": N_RINGS, "sectors": N_SECTORS, "best_epoch": best_ep,
                   "label_rule": "simulated defect severity >= 0.2 in the territory"},
        "training_data": (f"stress polar maps of {len(y) // 2} simulated patients (device/sim/spect.py wide family), "
                          f"seeds {TRAIN_SEED0}+, each as its classical map and as the map of the shipped "
                          "perfusion_ring, with LAD wrap-around and RCA/LCX dominance overlap") if cand else
                         (f"classical stress polar maps of {len(y)} simulated patients (device/sim/spect.py), "
                          f"seeds {TRAIN_SEED0}+, with LAD wrap-around and RCA/LCX dominance overlap"),
        "accuracy": acc, "created": dt.date.today().isoformat(),
    }
    write_manifest(out_dir, manifest)
    print(f"{NAME}: val AUC {aucs} (int8 {aucs8}) at epoch {best_ep}; {exp['checks']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
