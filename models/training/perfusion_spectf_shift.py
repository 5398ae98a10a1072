"""SPECTF under prevalence shift (issue 16 point 5): evaluation only, no model is written.

Outer repeated stratified 5-fold over the 80 SPECTF rows (balanced, 40 abnormal); in each outer fold the MLP recipe
(inner CV choosing L2) and an L2 logistic regression are fit on the training part, then scored on the held-out part
AND on a resampled clinic population drawn from it with replacement at 90 % abnormal (n = 100 per fold). Reports
AUC, Brier score and balanced accuracy / sensitivity / specificity at 0.5 and at the prior-adjusted threshold
(logit shift log(0.9/0.1) - log(0.5/0.5)). Run: python -m models.training.perfusion_spectf_shift [data_dir]."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score, brier_score_loss, roc_auc_score
from sklearn.model_selection import RepeatedStratifiedKFold

from models.training.perfusion_spectf import SEED, _fit, _prob, choose_alpha, load_data

CLINIC_PREVALENCE = 0.9


def _shift(p: np.ndarray, train_prev: float, new_prev: float) -> np.ndarray:
    lo = np.log(np.clip(p, 1e-6, 1 - 1e-6) / np.clip(1 - p, 1e-6, 1)) + np.log(new_prev / (1 - new_prev)) \
        - np.log(train_prev / (1 - train_prev))
    return 1 / (1 + np.exp(-lo))


def run(data_dir: Path, repeats: int = 5) -> dict:
    x, y = load_data(data_dir)
    rng = np.random.default_rng(SEED)
    out: dict[str, list] = {}
    for tr, te in RepeatedStratifiedKFold(n_splits=5, n_repeats=repeats, random_state=SEED).split(x, y):
        mu, sd = x[tr].mean(0), x[tr].std(0) + 1e-6
        models = {"mlp": _prob(_fit(x[tr], y[tr], choose_alpha(x[tr], y[tr])), x[te]),
                  "logreg": LogisticRegression(C=0.1, max_iter=2000).fit((x[tr] - mu) / sd, y[tr])
                  .predict_proba((x[te] - mu) / sd)[:, 1]}
        pos, neg = np.flatnonzero(y[te] == 1), np.flatnonzero(y[te] == 0)
        k = int(round(100 * CLINIC_PREVALENCE))
        idx = np.concatenate([rng.choice(pos, k), rng.choice(neg, 100 - k)])
        for name, p in models.items():
            prev = y[tr].mean()
            for pop, (pp, yy) in {"balanced": (p, y[te]), "clinic90": (p[idx], y[te][idx])}.items():
                adj = _shift(pp, prev, CLINIC_PREVALENCE) if pop == "clinic90" else pp
                for thr_name, q in (("raw", pp), ("prior_adjusted", adj)):
                    pred = q >= 0.5
                    row = out.setdefault(f"{name}/{pop}/{thr_name}", [])
                    row.append((roc_auc_score(yy, q), brier_score_loss(yy, q), balanced_accuracy_score(yy, pred),
                                pred[yy == 1].mean(), 1 - pred[yy == 0].mean()))
    return {k: np.mean(v, 0).round(3).tolist() + [len(v)] for k, v in out.items()}


if __name__ == "__main__":
    d = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/work/shared/data")
    for k, v in run(d).items():
        print(k, "auc brier bacc sens spec folds:", v)
