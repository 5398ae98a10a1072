"""Train the SPECTF regional-counts classifiers: the default ``models/perfusion_spectf`` (2.0.0: L2 logistic
regression 44 -> 1, C = 0.1) and the selectable ``models/perfusion_spectf_mlp`` (44 -> 8 (ReLU) -> 1, the 1.0.0 model).

Why logistic is the default (issue 16 point 5, rule: the simpler model ships when it measures at least as well on
every row of the prevalence-shift evaluation, ``perfusion_spectf_shift.py``): on 25 outer folds it was at least as
good as the MLP on the balanced held-out part and on a 90 %-abnormal clinic resampled from it, in AUC, Brier score
and balanced accuracy (EVALUATION.md, perfusion section).

Data: ``../shared/data/spect-uci`` (SPECTF.train + SPECTS.valid = 80 patients, 44 regional rest/stress counts).
Accuracy is (nested) cross-validation: outer 5-fold stratified x 10 repeats for the reported AUC and balanced
accuracy; the MLP's L2 strength is chosen inside each outer training fold by an inner 5-fold CV, so no reported number
comes from data the model was tuned on (the logistic C = 0.1 is fixed). The shipped models are then fit on all 80
rows. Run: ``python -m models.training.perfusion_spectf [logistic|mlp]`` (default both).
"""

from __future__ import annotations

import datetime as dt
import sys
import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score, roc_auc_score
from sklearn.model_selection import RepeatedStratifiedKFold, StratifiedKFold
from sklearn.neural_network import MLPClassifier

from device.inference.manifest import write_manifest
from device.paths import MODELS_DIR, shared_data_dir
from device.perfusion.spectf import COLUMNS, read_spectf
from models.training.perfusion_export import export_mlp

NAME = "perfusion_spectf"
VERSION = "2.0.0"
MLP_NAME = "perfusion_spectf_mlp"
MLP_VERSION = "1.0.0"
LOGREG_C = 0.1
HIDDEN = 8
ALPHAS = (0.3, 1.0, 3.0, 10.0)
SEED = 7


def load_data(data_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    parts = [read_spectf(data_dir / "spect-uci" / f) for f in ("SPECTF.train", "SPECTS.valid")]
    x = np.concatenate([p.counts for p in parts]).astype(np.float64)
    y = np.concatenate([p.diagnosis for p in parts]).astype(int)
    return x, y


def _fit(x: np.ndarray, y: np.ndarray, alpha: float, seed: int = SEED) -> tuple[np.ndarray, np.ndarray, MLPClassifier]:
    mu, sd = x.mean(0), x.std(0) + 1e-6
    clf = MLPClassifier((HIDDEN,), alpha=alpha, solver="lbfgs", max_iter=2000, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit((x - mu) / sd, y)
    return mu, sd, clf


def _prob(model: tuple[np.ndarray, np.ndarray, MLPClassifier], x: np.ndarray) -> np.ndarray:
    mu, sd, clf = model
    return clf.predict_proba((x - mu) / sd)[:, 1]


def choose_alpha(x: np.ndarray, y: np.ndarray) -> float:
    """Inner 5-fold CV AUC per L2 strength; the best one."""
    cv = StratifiedKFold(5, shuffle=True, random_state=SEED)
    scores = []
    for a in ALPHAS:
        p = np.zeros(len(y))
        for tr, te in cv.split(x, y):
            p[te] = _prob(_fit(x[tr], y[tr], a), x[te])
        scores.append(roc_auc_score(y, p))
    return ALPHAS[int(np.argmax(scores))]


def nested_cv(x: np.ndarray, y: np.ndarray, repeats: int = 10) -> dict:
    """Outer repeated stratified 5-fold; returns mean/sd AUC and balanced accuracy (threshold 0.5)."""
    aucs, baccs, lr_aucs = [], [], []
    outer = RepeatedStratifiedKFold(n_splits=5, n_repeats=repeats, random_state=SEED)
    for r, (tr, te) in enumerate(outer.split(x, y)):
        a = choose_alpha(x[tr], y[tr])
        p = _prob(_fit(x[tr], y[tr], a), x[te])
        aucs.append(roc_auc_score(y[te], p))
        baccs.append(balanced_accuracy_score(y[te], p >= 0.5))
        mu, sd = x[tr].mean(0), x[tr].std(0) + 1e-6
        lr = LogisticRegression(C=0.1, max_iter=2000).fit((x[tr] - mu) / sd, y[tr])
        lr_aucs.append(roc_auc_score(y[te], lr.predict_proba((x[te] - mu) / sd)[:, 1]))
    return {"auc": float(np.mean(aucs)), "auc_sd": float(np.std(aucs)), "bacc": float(np.mean(baccs)),
            "bacc_sd": float(np.std(baccs)), "logreg_auc": float(np.mean(lr_aucs)), "folds": len(aucs)}


def layers_of(model: tuple[np.ndarray, np.ndarray, MLPClassifier]) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """Fold the standardisation into the first layer: W1' = W1 / sd, b1' = b1 - W1' @ mu."""
    mu, sd, clf = model
    w1, w2 = clf.coefs_[0].T, clf.coefs_[1].T  # (hidden, 44), (1, hidden)
    b1, b2 = clf.intercepts_
    w1f = w1 / sd[None, :]
    return [(w1f, b1 - w1f @ mu, "RELU"), (w2, b2, "NONE")]


def logistic_cv(x: np.ndarray, y: np.ndarray, repeats: int = 10) -> dict:
    """The logistic model's outer repeated stratified 5-fold AUC and balanced accuracy (threshold 0.5)."""
    aucs, baccs = [], []
    for tr, te in RepeatedStratifiedKFold(n_splits=5, n_repeats=repeats, random_state=SEED).split(x, y):
        mu, sd = x[tr].mean(0), x[tr].std(0) + 1e-6
        p = LogisticRegression(C=LOGREG_C, max_iter=2000).fit((x[tr] - mu) / sd, y[tr]).predict_proba(
            (x[te] - mu) / sd)[:, 1]
        aucs.append(roc_auc_score(y[te], p))
        baccs.append(balanced_accuracy_score(y[te], p >= 0.5))
    return {"auc": float(np.mean(aucs)), "auc_sd": float(np.std(aucs)), "bacc": float(np.mean(baccs)),
            "bacc_sd": float(np.std(baccs)), "folds": len(aucs)}


def main_logistic(x: np.ndarray, y: np.ndarray, out_dir: Path | None = None) -> int:
    """Fit the default logistic model on all rows; standardisation folded into the one layer."""
    cv = logistic_cv(x, y)
    mu, sd = x.mean(0), x.std(0) + 1e-6
    clf = LogisticRegression(C=LOGREG_C, max_iter=2000).fit((x - mu) / sd, y)
    w = clf.coef_ / sd[None, :]
    layers = [(w, clf.intercept_ - w @ mu, "NONE")]
    out_dir = Path(out_dir or MODELS_DIR / NAME)
    exp = export_mlp(out_dir, NAME, layers, "regions", "prob_abnormal", "LOGISTIC", x.astype(np.float32))
    manifest = {
        "name": NAME, "version": VERSION, "task": "binary classification",
        "intended_use": "Probability that a myocardial perfusion SPECT study is abnormal, from the 22 regional "
                        "rest and stress counts of the UCI SPECTF format. Research aid; not for diagnostic use "
                        "without review.",
        "recipe": "models/training/perfusion_spectf.py",
        "files": exp["files"], "default": "int8",
        "inputs": [{"name": "regions", "shape": ["N", 44], "dtype": "float32",
                    "normalisation": "raw SPECTF counts 0-100 in column order F1R,F1S,...,F22S; standardisation "
                                     "is folded into the layer"}],
        "outputs": [{"name": "prob_abnormal", "shape": ["N", 1], "dtype": "float32"}],
        "labels": ["abnormal"],
        "params": {"threshold": 0.5, "columns": list(COLUMNS), "kind": "L2 logistic regression",
                   "C": LOGREG_C, "selectable": MLP_NAME,
                   "why_default": "at least as good as the MLP on every row of the prevalence-shift evaluation "
                                  "(models/training/perfusion_spectf_shift.py; EVALUATION.md)"},
        "training_data": "UCI SPECTF heart (CC BY 4.0), ../shared/data/spect-uci: SPECTF.train (62) + "
                         "SPECTS.valid (18) = 80 patients, 40 normal / 40 abnormal",
        "accuracy": [
            {"metric": "roc_auc", "value": round(cv["auc"], 4), "sd": round(cv["auc_sd"], 4),
             "on": f"cross-validation (outer stratified 5-fold x 10 repeats, C fixed), n=80, {cv['folds']} folds"},
            {"metric": "balanced_accuracy", "value": round(cv["bacc"], 4), "sd": round(cv["bacc_sd"], 4),
             "on": "same CV, threshold 0.5"},
            {"metric": "int8_vs_fp32_max_abs_prob", "value": round(exp["checks"]["int8_vs_fp32_max_abs"], 5),
             "on": "all 80 rows (agreement, not accuracy)"},
            {"metric": "tflite_vs_fp32_max_abs_prob", "value": float(f"{exp['checks']['tflite_vs_fp32_max_abs']:.3g}"),
             "on": "32 rows, LiteRT interpreter vs ONNX Runtime"},
        ],
        "created": dt.date.today().isoformat(),
    }
    write_manifest(out_dir, manifest)
    print(f"{NAME}: logistic CV AUC {cv['auc']:.3f}±{cv['auc_sd']:.3f}, balanced accuracy {cv['bacc']:.3f}; "
          f"checks {exp['checks']}")
    return 0


def main(argv: list[str] | None = None) -> int:
    kinds = [a for a in (argv or []) if a in ("logistic", "mlp")] or ["logistic", "mlp"]
    data = shared_data_dir()
    if data is None or not (data / "spect-uci").is_dir():
        print("error: needs ../shared/data/spect-uci (SPECTF) to train; the shipped models stay as they are",
              file=sys.stderr)
        return 2
    x, y = load_data(data)
    rc = main_logistic(x, y) if "logistic" in kinds else 0
    return rc or (main_mlp(x, y) if "mlp" in kinds else 0)


def main_mlp(x: np.ndarray, y: np.ndarray, out_dir: Path | None = None) -> int:
    """The 1.0.0 MLP, selectable as perfusion_spectf_mlp."""
    cv = nested_cv(x, y)
    alpha = choose_alpha(x, y)
    model = _fit(x, y, alpha)
    out_dir = Path(out_dir or MODELS_DIR / MLP_NAME)
    exp = export_mlp(out_dir, MLP_NAME, layers_of(model), "regions", "prob_abnormal", "LOGISTIC",
                     x.astype(np.float32))
    ref = _prob(model, x)
    manifest = {
        "name": MLP_NAME, "version": MLP_VERSION, "task": "binary classification",
        "intended_use": "Probability that a myocardial perfusion SPECT study is abnormal, from the 22 regional "
                        "rest and stress counts of the UCI SPECTF format. Research aid; not for diagnostic use "
                        "without review.",
        "recipe": "models/training/perfusion_spectf.py",
        "files": exp["files"], "default": "int8",
        "inputs": [{"name": "regions", "shape": ["N", 44], "dtype": "float32",
                    "normalisation": "raw SPECTF counts 0-100 in column order F1R,F1S,...,F22S; standardisation "
                                     "is folded into the first layer"}],
        "outputs": [{"name": "prob_abnormal", "shape": ["N", 1], "dtype": "float32"}],
        "labels": ["abnormal"],
        "params": {"threshold": 0.5, "columns": list(COLUMNS), "hidden": HIDDEN, "l2_alpha": alpha},
        "training_data": "UCI SPECTF heart (CC BY 4.0), ../shared/data/spect-uci: SPECTF.train (62) + "
                         "SPECTS.valid (18) = 80 patients, 40 normal / 40 abnormal",
        "accuracy": [
            {"metric": "roc_auc", "value": round(cv["auc"], 4), "sd": round(cv["auc_sd"], 4),
             "on": f"nested CV (outer 5-fold x 10 repeats, inner 5-fold for L2), n=80, {cv['folds']} folds"},
            {"metric": "balanced_accuracy", "value": round(cv["bacc"], 4), "sd": round(cv["bacc_sd"], 4),
             "on": "same nested CV, threshold 0.5"},
            {"metric": "roc_auc_logistic_baseline", "value": round(cv["logreg_auc"], 4),
             "on": f"same outer folds, L2 logistic regression C=0.1 (shipped as {NAME} {VERSION}, the default)"},
            {"metric": "int8_vs_fp32_max_abs_prob", "value": round(exp["checks"]["int8_vs_fp32_max_abs"], 5),
             "on": "all 80 rows (agreement, not accuracy)"},
            {"metric": "tflite_vs_fp32_max_abs_prob", "value": float(f"{exp['checks']['tflite_vs_fp32_max_abs']:.3g}"),
             "on": "32 rows, LiteRT interpreter vs ONNX Runtime"},
        ],
        "created": dt.date.today().isoformat(),
    }
    write_manifest(out_dir, manifest)
    print(f"{MLP_NAME}: nested-CV AUC {cv['auc']:.3f}±{cv['auc_sd']:.3f}, balanced accuracy {cv['bacc']:.3f}; "
          f"logistic baseline AUC {cv['logreg_auc']:.3f}; alpha {alpha}; checks {exp['checks']}; "
          f"fp32 fit on all rows mean prob {ref.mean():.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
