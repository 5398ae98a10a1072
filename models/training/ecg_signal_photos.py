"""Score an ``ecg_signal`` model folder on the 30 digitised Paper2Pulse photos (evaluation only, writes no model).

Each photo is digitised once by the cart's reader (cached in ``var/cache/ecg_signal/photos_digitised.npz``); the
model's int8 file, Platt parameters and abnormal threshold come from the folder's manifest. Truth: abnormal = any
PTB-XL superclass other than NORM alone (as device/eval/ecg.py). Prints sensitivity/specificity at the manifest
threshold and the AUC. Not part of `make models` (entry ``run``).

    nice -n 5 python -m models.training.ecg_signal_photos var/cache/ecg_signal/candidate_1.2.0 models/ecg_signal
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np

from device.ecg.signal_model import calibrated, signal_input
from device.paths import shared_data_dir
from models.training.ecg_signal import auc, onnx_logits, sens_spec
from models.training.ecg_signal_data import CACHE


def digitised(d: Path) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Photo names, model inputs (N, 24, 1, 1000) of their digitised signals and truth (abnormal)."""
    f = CACHE / "photos_digitised.npz"
    with open(d / "labels.csv", newline="") as fh:
        labels = {r["image_filename"]: r["labels"] for r in csv.DictReader(fh)}
    if not f.exists():
        from device.ecg.imageio import load_image
        from device.ecg.reader import read_ecg_image

        names, xs = [], []
        for p in sorted((d / "images").glob("*.jpg")):
            if p.name not in labels:
                continue
            r = read_ecg_image(load_image(p))
            names.append(p.name)
            xs.append(signal_input(r.signals_mv, r.fs_hz)[0])
        np.savez_compressed(f, names=np.array(names), x=np.stack(xs))
    z = np.load(f)
    names = [str(n) for n in z["names"]]
    y = np.array([any(t.strip() != "NORM" for t in labels[n].split(",")) for n in names])
    return names, z["x"], y


def score(model_dir: Path, x: np.ndarray, y: np.ndarray) -> dict:
    man = json.loads((model_dir / "manifest.json").read_text())
    p = calibrated(onnx_logits(model_dir / man["files"]["int8"]["path"], x), man["params"]["platt"])[:, 0]
    thr = float(man["params"]["thresholds"]["abnormal"])
    se, sp, n1, n0 = sens_spec(y.astype(int), p, thr)
    return {"model": f"{man['name']} {man['version']}", "dir": str(model_dir), "threshold": thr,
            "found_abnormal": int(round(se * n1)), "n_abnormal": n1, "right_normal": int(round(sp * n0)),
            "n_normal": n0, "sensitivity": round(se, 3), "specificity": round(sp, 3), "auc": round(auc(y, p), 3),
            "p_abnormal": [round(float(v), 3) for v in p]}


def run(argv: list[str] | None = None) -> int:
    root = shared_data_dir()
    d = None if root is None else root / "ecg-photos-paper2pulse"
    if d is None or not (d / "labels.csv").exists():
        print("[ecg_signal_photos] ../shared/data/ecg-photos-paper2pulse is missing: nothing to score")
        return 0
    names, x, y = digitised(d)
    for m in argv if argv is not None else sys.argv[1:]:
        r = score(Path(m), x, y)
        print(json.dumps({k: v for k, v in r.items() if k != "p_abnormal"}))
        print("  " + ", ".join(f"{n.split('_')[0]}{'*' if t else ''}={v:.2f}" for n, t, v in
                               zip(names, y, r["p_abnormal"])))
    return 0


if __name__ == "__main__":
    raise SystemExit(run())
