"""Train ``ecg_signal``: a compact 1-D CNN signal screen on real PTB-XL records (+ Challenge records where labels map).

Run: ``python -m models.training.ecg_signal`` (part of ``make models``; needs ../shared/data/ecg-records-ptbxl).
Patient-disjoint PTB-XL folds: strat_fold 1-8 train, 9 model selection + calibration + thresholds, 10 test (scored
once at the end, never used for a choice). Training signals get the digitiser's damage
(``ecg_signal_data.digitisation_damage``). Fixed wall-time budget per member (``--minutes``), 1 thread.
Since 1.2.0 the model is a seed ensemble (``--seeds``, default 1,2,3; ``ecg_signal_ensemble.py``): each member is
this file's ``train()`` with its own seed, cached in var/cache/ecg_signal/member_seedN.pt (missing ones are
trained), exported as ONE graph whose logits are logit(mean of the members' sigmoids). Calibration and thresholds
are fitted on the ensemble. ``--fold9-only`` stops after the fold-9 figures (the ship rule's) and the int8 latency.
Writes models/ecg_signal/{ecg_signal.fp32.onnx, ecg_signal.int8.onnx, ecg_signal.tflite, manifest.json}.
"""

from __future__ import annotations

import argparse
import datetime
import json
import time
from pathlib import Path

import numpy as np

from device.ecg.signal_model import LABELS, N_LEADS, calibrated, prepare
from device.paths import MODELS_DIR, shared_data_dir
from models.training.ecg_signal_data import digitisation_damage, load, splits

NAME = "ecg_signal"
VERSION = "1.2.0"


def make_net(width: int = 32):
    import torch
    from torch import nn

    def block(cin, cout, k, s):
        return [nn.Conv2d(cin, cout, (1, k), stride=(1, s), padding=(0, k // 2), bias=False), nn.BatchNorm2d(cout),
                nn.ReLU()]

    w = width
    layers = (block(2 * N_LEADS, w, 7, 2) + block(w, w, 7, 2) + block(w, 2 * w, 5, 2) + block(2 * w, 2 * w, 5, 1)
              + block(2 * w, 3 * w, 3, 2) + block(3 * w, 3 * w, 3, 1) + block(3 * w, 4 * w, 3, 1))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(*layers)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.head = nn.Linear(4 * w, len(LABELS))

        def forward(self, x):
            return self.head(torch.flatten(self.pool(self.features(x)), 1))

    torch.manual_seed(0)
    return Net()


def batch_inputs(xs: np.ndarray, rng: np.random.Generator | None, clean_p: float = 0.3) -> np.ndarray:
    """(B, 24, 1, 1000) inputs; damaged as a digitised printout when ``rng`` is given."""
    out = [prepare(digitisation_damage(x, rng, clean_p) if rng is not None else x) for x in xs]
    return np.stack(out)[:, :, None, :]


def fixed_views(xs: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """The validation/test views: the clean record and one fixed digitised-printout damage per record."""
    rng = np.random.default_rng(seed)
    return {"clean": batch_inputs(xs, None), "paper": batch_inputs(xs, rng, clean_p=0.0)}


def logits_of(net, inp: np.ndarray) -> np.ndarray:
    import torch

    net.eval()
    with torch.no_grad():
        return np.concatenate([net(torch.from_numpy(inp[i : i + 128])).numpy() for i in range(0, len(inp), 128)])


def auc(y: np.ndarray, p: np.ndarray) -> float:
    y = np.asarray(y).astype(bool)
    if y.all() or not y.any():
        return float("nan")
    r = np.argsort(np.argsort(p, kind="mergesort"), kind="mergesort") + 1.0
    # average ranks for ties
    _, inv, cnt = np.unique(p, return_inverse=True, return_counts=True)
    sums = np.bincount(inv, weights=r)
    r = (sums / cnt)[inv]
    n1, n0 = y.sum(), (~y).sum()
    return float((r[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def train(d, idx_tr: np.ndarray, val_views: dict, y_val: np.ndarray, minutes: float, seed: int = 0,
          epochs: int | None = None, threads: int = 1):
    """Cosine schedule over ``epochs`` (or over the wall-time budget when ``epochs`` is None); stops at whichever of
    the two ends first. The epoch kept is the best fold-9 mean abnormal AUC (clean + simulated paper)."""
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = make_net()
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=1e-3)
    x_tr, y_tr, m_tr = d.x[idx_tr], torch.from_numpy(d.y[idx_tr]), torch.from_numpy(d.m[idx_tr])
    pos = (d.y[idx_tr] * d.m[idx_tr]).sum(0)
    known = d.m[idx_tr].sum(0)
    pw = torch.from_numpy(np.clip((known - pos) / np.maximum(pos, 1), 1, 8).astype(np.float32)) ** 0.5
    t0 = time.time()
    budget = minutes * 60.0
    bs, best, best_state, ep, hist = 64, -1.0, None, 0, []
    est_epochs = None
    while time.time() - t0 < budget and (epochs is None or ep < epochs):
        net.train()
        order = rng.permutation(len(idx_tr))
        frac = min(1.0, (time.time() - t0) / budget)
        if epochs is not None:
            frac = max(frac, ep / epochs)
        for g in opt.param_groups:
            g["lr"] = 3e-3 * (0.02 + 0.98 * 0.5 * (1 + np.cos(np.pi * frac)))
        for i in range(0, len(order), bs):
            b = order[i : i + bs]
            xb = torch.from_numpy(batch_inputs(x_tr[b], rng))
            loss_el = torch.nn.functional.binary_cross_entropy_with_logits(net(xb), y_tr[b], pos_weight=pw,
                                                                           reduction="none")
            loss = (loss_el * m_tr[b]).sum() / m_tr[b].sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
        ep += 1
        if est_epochs is None:
            est_epochs = int(budget / max(time.time() - t0, 1e-3))
        if ep % 2 == 0 or time.time() - t0 >= budget or ep == epochs:
            aucs = [auc(y_val[:, 0], logits_of(net, v)[:, 0]) for v in val_views.values()]
            score = float(np.mean(aucs))
            hist.append((ep, round(time.time() - t0), [round(a, 4) for a in aucs]))
            print(f"[{NAME}] epoch {ep} ({time.time() - t0:.0f} s, ~{est_epochs} in budget): fold-9 abnormal AUC "
                  f"clean {aucs[0]:.3f} paper {aucs[1]:.3f}", flush=True)
            if score > best:
                best, best_state = score, {k: v.clone() for k, v in net.state_dict().items()}
    net.load_state_dict(best_state)
    net.eval()
    return net, {"epochs": ep, "seconds": round(time.time() - t0), "best_val_mean_auc": round(best, 4),
                 "history": hist}


def fit_platt(z: np.ndarray, y: np.ndarray, m: np.ndarray) -> dict[str, list[float]]:
    """Per-label Platt scaling (a, b): minimum log-loss of the known targets (L-BFGS, a kept near 1 by a tiny
    penalty so a weak label cannot blow up)."""
    from scipy.optimize import minimize

    out = {}
    for k, lab in enumerate(LABELS):
        ok = m[:, k] > 0
        zz, yy = z[ok, k].astype(np.float64), y[ok, k].astype(np.float64)

        def loss(ab, zz=zz, yy=yy):
            t = ab[0] * zz + ab[1]
            return float(np.mean(np.logaddexp(0, t) - yy * t) + 1e-4 * (ab[0] - 1) ** 2)

        a, b = minimize(loss, np.array([1.0, 0.0]), method="L-BFGS-B", bounds=[(0.01, 10), (-20, 20)]).x
        out[lab] = [round(float(a), 5), round(float(b), 5)]
    return out


def balanced_threshold(y: np.ndarray, p: np.ndarray) -> float:
    """The threshold that maximises min(sensitivity, specificity) (ties: Youden)."""
    cand = np.unique(np.round(p, 4))
    best, thr = (-1.0, -1.0), 0.5
    for c in cand:
        pred = p >= c
        se = (pred & (y == 1)).sum() / max(1, (y == 1).sum())
        sp = (~pred & (y == 0)).sum() / max(1, (y == 0).sum())
        key = (min(se, sp), se + sp)
        if key > best:
            best, thr = key, float(c)
    return thr


def sensitive_threshold(y: np.ndarray, p: np.ndarray, target: float = 0.90) -> float:
    """The largest threshold t (among the scores) with sensitivity(p >= t) >= target: the screen's operating point
    for 'abnormal' (a missed abnormal ECG costs more than a false alarm; models/training/ecg_signal_oppoint.py)."""
    pos = np.sort(p[y == 1])[::-1]
    k = int(np.ceil(target * len(pos)))      # at least k positives at or above t
    return float(np.floor(pos[k - 1] * 1e4) / 1e4 if k else 1.0)   # floor: the k-th positive stays above


def sens_spec(y: np.ndarray, p: np.ndarray, thr: float) -> tuple[float, float, int, int]:
    pred = p >= thr
    n1, n0 = int((y == 1).sum()), int((y == 0).sum())
    return (float((pred & (y == 1)).sum() / max(1, n1)), float((~pred & (y == 0)).sum() / max(1, n0)), n1, n0)


def export(net, out_dir, calib: np.ndarray, op_types: list[str] | None = None) -> dict:
    import onnx
    import torch
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    from models.training.tflite_export import onnx_to_tflite, verify_against_onnx

    out_dir.mkdir(parents=True, exist_ok=True)
    fp32 = out_dir / f"{NAME}.fp32.onnx"
    torch.onnx.export(net, (torch.from_numpy(calib[:1]),), str(fp32), input_names=["signal"],
                      output_names=["logits"], opset_version=17, dynamo=False)
    onnx.checker.check_model(onnx.load(str(fp32)))

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.i = 0

        def get_next(self):
            if self.i >= min(200, len(calib)):
                return None
            self.i += 1
            return {"signal": calib[self.i - 1 : self.i]}

    int8 = out_dir / f"{NAME}.int8.onnx"
    quantize_static(str(fp32), str(int8), Reader(), quant_format=QuantFormat.QDQ, activation_type=QuantType.QInt8,
                    weight_type=QuantType.QInt8, per_channel=True, op_types_to_quantize=op_types)
    tfl = out_dir / f"{NAME}.tflite"
    tfl.write_bytes(onnx_to_tflite(fp32))
    diff = max(verify_against_onnx(tfl.read_bytes(), fp32, {"signal": calib[i : i + 1]}) for i in range(8))
    return {"fp32": fp32, "int8": int8, "tflite": tfl, "tflite_max_abs_diff": float(diff)}


def onnx_logits(path, inp: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.concatenate([s.run(None, {"signal": inp[i : i + 1]})[0] for i in range(len(inp))])


def per_label(y, m, p, thr) -> list[dict]:
    rows = []
    for k, lab in enumerate(LABELS):
        ok = m[:, k] > 0
        se, sp, n1, n0 = sens_spec(y[ok, k], p[ok, k], thr[lab])
        rows.append({"label": lab, "auc": round(auc(y[ok, k], p[ok, k]), 4), "sensitivity": round(se, 3),
                     "specificity": round(sp, 3), "n_pos": n1, "n_neg": n0, "threshold": thr[lab]})
    return rows


def fold9_against_shipped(int8_path, vv: dict, y_val: np.ndarray) -> dict:
    """Fold-9 abnormal AUC of the new int8 file and of the installed one (if any) on the same fixed views. The ship
    rule (README) is decided on these figures alone, never on fold 10."""
    shipped = MODELS_DIR / NAME / f"{NAME}.int8.onnx"
    res = {}
    for v, inp in vv.items():
        res[v] = {"new": round(auc(y_val[:, 0], onnx_logits(int8_path, inp)[:, 0]), 4)}
        if shipped.exists() and shipped.resolve() != Path(int8_path).resolve():
            res[v]["installed"] = round(auc(y_val[:, 0], onnx_logits(shipped, inp)[:, 0]), 4)
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--minutes", type=float, default=12.0, help="training wall-time cap")
    ap.add_argument("--epochs", type=int, default=60, help="epochs (cosine schedule over them; 0 = by time only)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=None, help="output folder (default models/ecg_signal)")
    ap.add_argument("--seeds", default="1,2,3", help="ensemble members (cached in var/cache/ecg_signal/member_seedN.pt)")
    ap.add_argument("--fold9-only", action="store_true", help="stop after the fold-9 figures and the int8 latency")
    args = ap.parse_args(argv)
    root = shared_data_dir()
    if root is None or not (root / "ecg-records-ptbxl" / "labels.csv").exists():
        print(f"[{NAME}] ../shared/data/ecg-records-ptbxl is missing: nothing to train on; the shipped model stays")
        return 0
    t0 = time.time()
    d = load(root / "ecg-records-ptbxl")
    sp = splits(d)
    print(f"[{NAME}] records: train {len(sp['train'])} (of which Challenge {(d.source[sp['train']] == 'cinc').sum()}),"
          f" fold 9 {len(sp['val'])}, fold 10 {len(sp['test'])}; patients disjoint; {time.time() - t0:.0f} s")
    val, test = d.take(sp["val"]), d.take(sp["test"])
    vv, tv = fixed_views(val.x, 9), fixed_views(test.x, 10)
    from models.training.ecg_signal_ensemble import QUANT_OPS, latency_ms, members

    net, info = members(d, sp, vv, [int(s) for s in args.seeds.split(",")], args)
    zv = {k: logits_of(net, v) for k, v in vv.items()}
    zpool = np.concatenate([zv["clean"], zv["paper"]])
    ypool, mpool = np.concatenate([val.y, val.y]), np.concatenate([val.m, val.m])
    platt = fit_platt(zpool, ypool, mpool)
    pv_paper = calibrated(zv["paper"], platt)
    thr = {lab: round(balanced_threshold(val.y[:, k], pv_paper[:, k]), 4) for k, lab in enumerate(LABELS)}
    thr["abnormal"] = sensitive_threshold(val.y[:, 0], pv_paper[:, 0])   # screening operating point (1.1.1)
    out = MODELS_DIR / NAME if args.out is None else Path(args.out)
    files = export(net, out, np.concatenate([vv["paper"][:100], vv["clean"][:100]]), op_types=QUANT_OPS)
    fold9 = fold9_against_shipped(files["int8"], vv, val.y)
    info["fold9_abnormal_auc_int8"] = fold9
    info["int8_latency_ms"] = latency_ms(files["int8"], vv["paper"][:1])
    print(f"[{NAME}] fold-9 abnormal AUC int8 (the ship rule's figures): {json.dumps(fold9)}; int8 latency "
          f"{json.dumps(info['int8_latency_ms'])}; thresholds {json.dumps(thr)}", flush=True)
    if args.fold9_only:
        return 0
    res: dict[str, dict] = {}
    for key in ("fp32", "int8"):
        res[key] = {v: per_label(test.y, test.m, calibrated(onnx_logits(files[key], tv[v]), platt), thr)
                    for v in ("clean", "paper")}
    for v in ("clean", "paper"):
        for r in res["int8"][v]:
            print(f"[{NAME}] fold 10 {v} int8: {json.dumps(r)}")
    print(f"[{NAME}] fp32 abnormal AUC clean {res['fp32']['clean'][0]['auc']} paper {res['fp32']['paper'][0]['auc']};"
          f" tflite max |diff| {files['tflite_max_abs_diff']:.2e}")
    ab = {v: res["int8"][v][0] for v in ("clean", "paper")}
    from device.inference.manifest import write_manifest

    n_af = int(d.y[:, 6].sum())
    write_manifest(out, {
        "name": NAME, "version": VERSION, "task": "multi-label classification",
        "intended_use": "Screen a 12-lead ECG signal (recorded, or digitised from a paper printout by device.ecg) as "
                        "normal or abnormal and name PTB-XL diagnostic superclasses and AF. Not for diagnostic use "
                        "without review.",
        "recipe": "models/training/ecg_signal.py",
        "files": {"int8": {"path": files["int8"].name}, "fp32": {"path": files["fp32"].name},
                  "tflite": {"path": files["tflite"].name}},
        "default": "int8",
        "inputs": [{"name": "signal", "shape": [1, 24, 1, 1000], "dtype": "float32",
                    "normalisation": "10 s at 100 Hz; channels 0-11 leads I..V6 in mV with each contiguous run's "
                                     "median removed, clipped +-5, 0 where missing; channels 12-23 presence masks; "
                                     "see device/ecg/signal_model.py"}],
        "outputs": [{"name": "logits", "shape": [1, len(LABELS)], "dtype": "float32"}],
        "labels": list(LABELS),
        "params": {"platt": platt, "thresholds": thr,
                   "calibration": "per-label Platt scaling on PTB-XL strat_fold 9 (clean + one simulated "
                                  "digitisation per record); abnormal threshold: sensitivity >= 0.90 on fold 9 with simulated "
                                  "digitisation; superclass thresholds: max min(sens, spec) on fold 9 with "
                                  "simulated digitisation"},
        "training_data": (f"ecg-records-ptbxl: PTB-XL 100-Hz records of strat_fold 1-8 ({len(sp['train']) - 44} "
                          "ECGs) and 44 PhysioNet/CinC Challenge records (abnormal, AF and plainly mapped SNOMED "
                          f"superclasses), with simulated digitisation damage (models/training/ecg_signal_data.py). "
                          f"Fold 9 ({len(sp['val'])} ECGs) chose the epoch, calibration and thresholds; fold 10 "
                          f"({len(sp['test'])} ECGs) is held out. Patient-disjoint by patient_id. AF examples: "
                          f"{n_af} in all. {info['summary']}"),
        "accuracy": [
            {"metric": "auc_abnormal", "value": ab["clean"]["auc"],
             "on": f"PTB-XL fold 10 records at 100 Hz (held out), int8, n={ab['clean']['n_pos']} abnormal + "
                   f"{ab['clean']['n_neg']} normal"},
            {"metric": "sensitivity_abnormal", "value": ab["clean"]["sensitivity"], "on": "same, fold-9 threshold"},
            {"metric": "specificity_abnormal", "value": ab["clean"]["specificity"], "on": "same, fold-9 threshold"},
            {"metric": "auc_abnormal_simulated_paper", "value": ab["paper"]["auc"],
             "on": "PTB-XL fold 10 with one fixed simulated digitisation per record (3x4 etc. layouts, noise)"},
            {"metric": "per_label", "value": res["int8"], "on": "PTB-XL fold 10, int8 (clean and simulated paper)"},
            {"metric": "auc_abnormal_fp32", "value": res["fp32"]["clean"][0]["auc"], "on": "PTB-XL fold 10, fp32"},
            {"metric": "tflite_vs_fp32_max_abs_logit_diff", "value": round(files["tflite_max_abs_diff"], 6),
             "on": "8 fold-9 inputs"}],
        "training_log": info,
        "created": datetime.date.today().isoformat(),
    })
    print(f"[{NAME}] wrote {out} in {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
