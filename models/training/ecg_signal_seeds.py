"""Fold-9-only experiment: one more seed of the ecg_signal recipe, alone and averaged with the shipped model.

Measures single vs two-model ensemble (mean of logits) on PTB-XL strat_fold 9 (clean and one fixed simulated
digitisation per record). Never touches fold 10 and writes nothing under models/; the log goes to
var/cache/ecg_signal/seeds.log. Not run by `make models` (its entry point is `run`, not `main`): an experiment that informs the next recipe change.

    nice -n 5 python -m models.training.ecg_signal_seeds --minutes 7 --seed 1 --threads 1
"""
from __future__ import annotations

import argparse
import json
import time


from device.paths import MODELS_DIR, REPO_ROOT, shared_data_dir
from models.training import ecg_signal as rec
from models.training.ecg_signal_data import load, splits


def run(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--minutes", type=float, default=7.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    root = shared_data_dir()
    if root is None or not (root / "ecg-records-ptbxl" / "labels.csv").exists():
        print("[ecg_signal_seeds] ../shared/data/ecg-records-ptbxl is missing: nothing to measure")
        return 0
    import torch

    torch.set_num_threads(args.threads)
    torch.set_num_threads = lambda n: None  # the recipe's train() asks for 2; keep what the caller chose
    d = load(root / "ecg-records-ptbxl")
    sp = splits(d)
    val = d.take(sp["val"])
    vv = rec.fixed_views(val.x, 9)
    t0 = time.time()
    net, info = rec.train(d, sp["train"], vv, val.y, args.minutes, seed=args.seed)
    shipped = MODELS_DIR / rec.NAME / f"{rec.NAME}.int8.onnx"
    out = {"seed": args.seed, "minutes": args.minutes, "threads": args.threads, "epochs": info["epochs"],
           "n_fold9": int(len(sp["val"])), "n_fold9_abnormal": int(val.y[:, 0].sum())}
    for v, inp in vv.items():
        z_new = rec.logits_of(net, inp)[:, 0]
        z_old = rec.onnx_logits(shipped, inp)[:, 0]
        out[v] = {"shipped_int8": round(rec.auc(val.y[:, 0], z_old), 4),
                  "new_seed_fp32": round(rec.auc(val.y[:, 0], z_new), 4),
                  "mean_of_both": round(rec.auc(val.y[:, 0], (z_old + z_new) / 2), 4)}
    line = json.dumps(out)
    print(f"[ecg_signal_seeds] fold-9 abnormal AUC: {line} ({time.time() - t0:.0f} s)")
    log = REPO_ROOT / "var" / "cache" / "ecg_signal" / "seeds.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as f:
        f.write(line + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(run())
