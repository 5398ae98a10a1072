"""Screening operating point of the shipped ecg_signal model, chosen on PTB-XL strat_fold 9 only.

Rule (written 2026-12-05 before any figure of it existed): a screen's missed abnormal ECG costs more than a false
alarm, so the abnormal threshold is the LARGEST threshold whose sensitivity on fold 9 with one fixed simulated
digitisation per record ("paper" view, the recipe's fixed_views seed 9) is >= 0.90. It replaces the balanced
threshold (max min(sens, spec)) in the manifest iff, on fold 10 (held out, paper view, scored once), its specificity
is >= 0.60; otherwise the balanced threshold stays. Only the abnormal threshold changes; the superclass thresholds
stay. Evaluation only: prints JSON, writes nothing (the manifest edit is made by hand from its output).

    nice -n 5 python -m models.training.ecg_signal_oppoint
"""
from __future__ import annotations

import json

import numpy as np

from device.paths import MODELS_DIR, shared_data_dir
from models.training.ecg_signal import LABELS, fixed_views, onnx_logits, sens_spec, sensitive_threshold
from models.training.ecg_signal_data import load, splits

TARGET_SENSITIVITY = 0.90


def main() -> int:
    root = shared_data_dir()
    if root is None or not (root / "ecg-records-ptbxl" / "labels.csv").exists():
        print("[ecg_signal_oppoint] ../shared/data/ecg-records-ptbxl is missing: nothing to measure")
        return 0
    man = json.loads((MODELS_DIR / "ecg_signal" / "manifest.json").read_text())
    a, b = man["params"]["platt"]["abnormal"]
    d = load(root / "ecg-records-ptbxl")
    sp = splits(d)
    out: dict = {"rule_target_sensitivity_fold9_paper": TARGET_SENSITIVITY}
    k = LABELS.index("abnormal")
    int8 = MODELS_DIR / "ecg_signal" / "ecg_signal.int8.onnx"
    probs = {}
    for split, seed in (("val", 9), ("test", 10)):
        part = d.take(sp[split])
        for view, inp in fixed_views(part.x, seed).items():
            z = onnx_logits(int8, inp)[:, k]
            probs[(split, view)] = (part.y[:, k], 1 / (1 + np.exp(-(a * z + b))))
    y9, p9 = probs[("val", "paper")]
    thr = sensitive_threshold(y9, p9)
    out["threshold_sensitive"] = thr
    out["threshold_balanced"] = man["params"]["thresholds"]["abnormal"]
    for (split, view), (y, p) in probs.items():
        for name in ("sensitive", "balanced"):
            se, spc, n1, n0 = sens_spec(y, p, out[f"threshold_{name}"])
            out[f"{split}_{view}_{name}"] = {"sensitivity": round(se, 3), "specificity": round(spc, 3), "n_pos": n1,
                                            "n_neg": n0}
    out["ship"] = out["test_paper_sensitive"]["specificity"] >= 0.60
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
