"""The echo view head: a calibrated linear classifier on backbone features, with an out-of-distribution score.

Pure numpy (+ scipy for the temperature search; no torch): it is trained, calibrated and run on the cart itself (site learning trains a new head
on the box). Features are standardised with the training set's mean and scale; the view is a multinomial logistic
regression on them; the confidence is softmax(logits / temperature) with the temperature fitted on held-out frames;
the out-of-distribution score is the squared Mahalanobis distance (per feature dimension) of the standardised
feature vector to the nearest class mean under one shared, shrunk (Ledoit-Wolf) covariance. A frame is *uncertain*
when its calibrated confidence is below `conf_threshold` or its ood score above `ood_threshold`, or (heads fitted with
``ref_rows``, echo_view >= 2.2) its *distance to the training data* above `knn_threshold`: the root mean squared
distance (per dimension) of the standardised features to the nearest KNN_K of up to ~2,000 stored training rows.
The Mahalanobis score measures distance to class means under one covariance; on real screens it stayed as low as
on simulated ones while the view was wrong, whereas the nearest-rows distance is larger for real frames than for
the simulator's (EVALUATION.md, echo view).

Shapes: features (N, D) float; weight (D, K); class_means (K, D); precision (D, D).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from device.errors import ModelError
from device.fsutil import atomic_write_bytes

FORMAT = "cardiocart-view-head-1"
_ARRAYS = ("weight", "bias", "feature_mean", "feature_scale", "class_means", "precision")
KNN_K = 10


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


@dataclass(frozen=True, eq=False)
class ViewHead:
    labels: tuple[str, ...]
    weight: np.ndarray
    bias: np.ndarray
    feature_mean: np.ndarray
    feature_scale: np.ndarray
    temperature: float
    conf_threshold: float
    class_means: np.ndarray
    precision: np.ndarray
    ood_threshold: float
    meta: dict = field(default_factory=dict)
    ref_feats: np.ndarray | None = None     # (M, D) standardised training rows for the distance gate (optional)
    knn_threshold: float = float("inf")

    def __post_init__(self) -> None:
        d, k = np.shape(self.weight)
        checks = {"bias": (k,), "feature_mean": (d,), "feature_scale": (d,), "class_means": (k, d),
                  "precision": (d, d)}
        for name, shape in checks.items():
            if np.shape(getattr(self, name)) != shape:
                raise ValueError(f"view head: {name} has shape {np.shape(getattr(self, name))}, expected {shape}")
        if len(self.labels) != k:
            raise ValueError(f"view head: {len(self.labels)} labels for {k} weight columns")
        if not (self.temperature > 0 and np.isfinite(self.temperature)):
            raise ValueError(f"view head: temperature must be positive, got {self.temperature}")

    @property
    def dim(self) -> int:
        return int(np.shape(self.weight)[0])

    def standardise(self, feats: np.ndarray) -> np.ndarray:
        f = np.asarray(feats, dtype=np.float64)
        if f.ndim == 1:
            f = f[None]
        if f.ndim != 2 or f.shape[1] != self.dim:
            raise ValueError(f"view head expects features (N, {self.dim}), got {np.shape(feats)}")
        return (f - self.feature_mean) / self.feature_scale

    def logits(self, feats: np.ndarray) -> np.ndarray:
        """(N, D) -> (N, K) uncalibrated logits."""
        return self.standardise(feats) @ self.weight + self.bias

    def probs(self, feats: np.ndarray) -> np.ndarray:
        """(N, D) -> (N, K) calibrated probabilities softmax(logits / temperature)."""
        return _softmax(self.logits(feats) / self.temperature)

    @cached_property
    def _ood_terms(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        p = np.asarray(self.precision, dtype=np.float64)
        mu = np.asarray(self.class_means, dtype=np.float64)
        pmu = mu @ p                                  # (K, D)
        return p, pmu, np.einsum("kd,kd->k", pmu, mu)

    def ood_score(self, feats: np.ndarray) -> np.ndarray:
        """(N,) min over classes of (z - mu_k)^T P (z - mu_k) / D; about 1 for training data, higher = farther."""
        z = self.standardise(feats)
        p, pmu, mpm = self._ood_terms
        zz = np.einsum("nd,nd->n", z @ p, z)
        d2 = zz[:, None] - 2.0 * z @ pmu.T + mpm[None, :]
        return np.maximum(d2.min(axis=1), 0.0) / self.dim

    @cached_property
    def _refs(self) -> tuple[np.ndarray, np.ndarray]:
        r = np.ascontiguousarray(self.ref_feats, dtype=np.float32)
        return r, (r.astype(np.float64) ** 2).sum(1)

    def knn_score(self, feats: np.ndarray) -> np.ndarray:
        """(N,) RMS distance per dimension of the standardised features to their KNN_K nearest stored training rows;
        zeros when the head stores none."""
        z = self.standardise(feats)
        if self.ref_feats is None or len(self.ref_feats) == 0:
            return np.zeros(len(z))
        r, r2 = self._refs
        d2 = (z * z).sum(1)[:, None] - 2.0 * (z.astype(np.float32) @ r.T) + r2[None, :]
        k = min(KNN_K, r.shape[0])
        near = np.partition(np.maximum(d2, 0.0), k - 1, axis=1)[:, :k]
        return np.sqrt(near.mean(axis=1) / self.dim)

    def uncertain(self, conf: np.ndarray, ood: np.ndarray, feats: np.ndarray) -> np.ndarray:
        """(N,) bool: confidence below its threshold, ood score above its threshold, or too far from the training
        rows (only for heads with stored rows)."""
        unc = (np.asarray(conf) < self.conf_threshold) | (np.asarray(ood) > self.ood_threshold)
        if self.ref_feats is not None and np.isfinite(self.knn_threshold):
            unc = unc | (self.knn_score(feats) > self.knn_threshold)
        return unc

    def predict(self, feats: np.ndarray) -> list[tuple[str, float, bool, float]]:
        """Per row: (view, calibrated confidence, uncertain, ood_score)."""
        pr = self.probs(feats)
        ood = self.ood_score(feats)
        conf = pr.max(axis=1)
        unc = self.uncertain(conf, ood, feats)
        return [(self.labels[int(np.argmax(p))], float(c), bool(u), float(o)) for p, c, u, o in zip(pr, conf, unc, ood)]

    def save(self, path: Path) -> None:
        """Write an .npz atomically (temp file + fsync + rename)."""
        buf = io.BytesIO()
        # the (D, D) precision only feeds the ood score: float16 halves the file (relative error ~1e-3)
        arrays: dict[str, Any] = {k: np.asarray(getattr(self, k), dtype=np.float16 if k == "precision" else np.float32)
                                  for k in _ARRAYS}
        header = {"format": FORMAT, "labels": list(self.labels), "temperature": float(self.temperature),
                  "conf_threshold": float(self.conf_threshold), "ood_threshold": float(self.ood_threshold),
                  "meta": self.meta}
        if self.ref_feats is not None:
            arrays["ref_feats"] = np.asarray(self.ref_feats, dtype=np.float16)
            header["knn_threshold"] = float(self.knn_threshold)
        np.savez(buf, header=np.array(json.dumps(header)), **arrays)
        atomic_write_bytes(Path(path), buf.getvalue(), mode=0o644)

    @staticmethod
    def load(path: Path) -> ViewHead:
        """Read a head written by `save`; ModelError (what to do) when the file is missing or malformed."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as d:
                header = json.loads(str(d["header"]))
                arrays = {k: np.asarray(d[k], dtype=np.float32) for k in _ARRAYS}
                if "ref_feats" in d.files:
                    arrays["ref_feats"] = np.asarray(d["ref_feats"], dtype=np.float32)
            if header.get("format") != FORMAT:
                raise ValueError(f"format {header.get('format')!r}, expected {FORMAT!r}")
            return ViewHead(labels=tuple(header["labels"]), temperature=float(header["temperature"]),
                            conf_threshold=float(header["conf_threshold"]),
                            ood_threshold=float(header["ood_threshold"]), meta=dict(header.get("meta", {})),
                            knn_threshold=float(header.get("knn_threshold", float("inf"))), **arrays)
        except FileNotFoundError:
            raise ModelError(f"view head {path} is missing; restore the model directory or retrain") from None
        except (OSError, KeyError, ValueError, TypeError, json.JSONDecodeError) as exc:
            raise ModelError(f"view head {path} cannot be read ({exc}); restore it from git or retrain") from exc


def _lr_objective(theta: np.ndarray, z: np.ndarray, onehot: np.ndarray, w: np.ndarray, l2: float
                  ) -> tuple[float, np.ndarray]:
    d, k = z.shape[1], onehot.shape[1]
    wmat = theta[: d * k].reshape(d, k)
    b = theta[d * k:]
    logits = z @ wmat + b
    logits -= logits.max(axis=1, keepdims=True)
    lse = np.log(np.exp(logits).sum(axis=1, keepdims=True))
    logp = logits - lse
    loss = -float((w[:, None] * onehot * logp).sum()) + 0.5 * l2 * float((wmat ** 2).sum())
    g = w[:, None] * (np.exp(logp) - onehot)            # (N, K)
    grad_w = z.T @ g + l2 * wmat
    return loss, np.concatenate([grad_w.ravel(), g.sum(axis=0)])


def lbfgs(fun, x0: np.ndarray, max_iter: int = 500, m: int = 10, tol: float = 1e-6) -> tuple[np.ndarray, int]:
    """Minimise a smooth convex `fun(x) -> (value, gradient)` by L-BFGS (two-loop recursion, Armijo backtracking).

    numpy only: scipy's L-BFGS-B (1.17) spends ~0.4 s per step at 17k parameters on this box, this one ~1 ms.
    Returns (x, iterations).
    """
    x = x0.astype(np.float64).copy()
    f, g = fun(x)
    s_hist: list[np.ndarray] = []
    y_hist: list[np.ndarray] = []
    it = 0
    for it in range(1, max_iter + 1):
        q = g.copy()
        alphas = []
        for s_i, y_i in zip(reversed(s_hist), reversed(y_hist)):
            a = float(s_i @ q) / float(y_i @ s_i)
            alphas.append(a)
            q -= a * y_i
        if y_hist:
            q *= float(s_hist[-1] @ y_hist[-1]) / float(y_hist[-1] @ y_hist[-1])
        for (s_i, y_i), a in zip(zip(s_hist, y_hist), reversed(alphas)):
            q += s_i * (a - float(y_i @ q) / float(y_i @ s_i))
        d = -q
        slope = float(g @ d)
        if slope >= 0:   # not a descent direction: restart from the gradient
            s_hist.clear()
            y_hist.clear()
            d, slope = -g, -float(g @ g)
        step = 1.0 if s_hist else min(1.0, 1.0 / max(float(np.abs(g).max()), 1e-12))
        while True:
            x_new = x + step * d
            f_new, g_new = fun(x_new)
            if f_new <= f + 1e-4 * step * slope or step < 1e-10:
                break
            step *= 0.5
        s_vec, y_vec = x_new - x, g_new - g
        if float(s_vec @ y_vec) > 1e-12:
            s_hist.append(s_vec)
            y_hist.append(y_vec)
            if len(s_hist) > m:
                s_hist.pop(0)
                y_hist.pop(0)
        done = abs(f - f_new) <= tol * max(1.0, abs(f)) and float(np.abs(g_new).max()) < 1e-5
        x, f, g = x_new, f_new, g_new
        if done or step < 1e-10:
            break
    return x, it


def _shrunk_precision(zc: np.ndarray) -> tuple[np.ndarray, float]:
    """Inverse of the Ledoit-Wolf shrunk covariance of centred rows zc (N, D), and the shrinkage used."""
    n, d = zc.shape
    s = zc.T @ zc / n
    mu = float(np.trace(s)) / d
    delta2 = float(((s - mu * np.eye(d)) ** 2).sum()) / d
    # beta^2 = mean over samples of ||x x^T - S||_F^2 / d, computed without forming the (N, D, D) tensor
    x2 = (zc ** 2).sum(axis=1)
    beta2 = float((x2 ** 2).sum() / n - (s ** 2).sum()) / (n * d)
    alpha = float(np.clip(beta2 / max(delta2, 1e-12), 0.01, 1.0))
    cov = (1 - alpha) * s + alpha * mu * np.eye(d)
    return np.linalg.inv(cov), alpha


def fit_head(feats: np.ndarray, y: np.ndarray, labels: tuple[str, ...], *, l2: float = 1e-3,
             sample_weight: np.ndarray | None = None, max_iter: int = 500, ref_rows: int = 0) -> ViewHead:
    """Multinomial logistic regression (L-BFGS in numpy) on standardised features; fills the ood statistics.

    feats (N, D); y (N,) int class indices into `labels`; l2: penalty on the weights (per unit of mean sample weight);
    sample_weight (N,) optional. Temperature 1; conf_threshold 0.5; ood_threshold the 99th percentile of the training
    scores (up to 2,000 rows; use `calibrate` on held-out frames for both). ref_rows > 0 stores about that many
    standardised training rows (every n-th row, plus every row weighted above 1.5x the median weight: real or site
    frames) for the distance gate; `calibrate(..., knn_quantile=...)` sets its threshold.
    """
    x = np.asarray(feats, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    k = len(labels)
    if x.ndim != 2 or len(x) != len(y) or len(y) == 0:
        raise ValueError(f"fit_head: features {x.shape} and labels {y.shape} do not match")
    if y.min() < 0 or y.max() >= k:
        raise ValueError(f"fit_head: labels must be 0..{k - 1}")
    n, d = x.shape
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    w = w / w.sum()
    mean = (w[:, None] * x).sum(axis=0)
    std = np.sqrt((w[:, None] * (x - mean) ** 2).sum(axis=0))
    scale = std + 1e-3 * max(float(std.mean()), 1e-6)
    z = (x - mean) / scale
    onehot = np.eye(k)[y]
    theta, n_iter = lbfgs(lambda t: _lr_objective(t, z, onehot, w, l2), np.zeros(d * k + k), max_iter=max_iter)
    wmat = theta[: d * k].reshape(d, k)
    b = theta[d * k:]
    present = np.unique(y)
    means = np.zeros((k, d))
    for c in present:
        means[c] = np.average(z[y == c], axis=0, weights=w[y == c])
    missing = np.setdiff1d(np.arange(k), present)
    if missing.size:  # a class without training rows gets a mean far away, so it never counts as "near"
        means[missing] = 1e3
    prec, alpha = _shrunk_precision(z - means[y])
    head = ViewHead(labels=tuple(labels), weight=wmat.astype(np.float32), bias=b.astype(np.float32),
                    feature_mean=mean.astype(np.float32), feature_scale=scale.astype(np.float32), temperature=1.0,
                    conf_threshold=0.5, class_means=means.astype(np.float32), precision=prec.astype(np.float32),
                    ood_threshold=float("inf"),
                    meta={"n_train": int(n), "dim": int(d), "l2": l2, "shrinkage": round(alpha, 4),
                          "lbfgs_iterations": int(n_iter), "train_accuracy": 0.0})
    if ref_rows > 0:
        pick = np.zeros(n, bool)
        pick[:: max(1, n // ref_rows)] = True
        pick |= w > 1.5 * np.median(w)
        head = replace(head, ref_feats=z[pick].astype(np.float32))
    acc = float((head.logits(x).argmax(1) == y).mean())
    sub = x[:: max(1, n // 2000)]   # the threshold from (up to) 2,000 training rows is plenty
    ood_thr = float(np.quantile(head.ood_score(sub), 0.99))
    return replace(head, ood_threshold=ood_thr, meta={**head.meta, "train_accuracy": round(acc, 4)})


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The temperature T minimising the negative log-likelihood of softmax(logits / T) (searched on log T)."""
    from scipy.optimize import minimize_scalar

    lg = np.asarray(logits, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)

    def nll(log_t: float) -> float:
        z = lg / np.exp(log_t)
        z = z - z.max(axis=1, keepdims=True)
        return float(-(z[np.arange(len(y)), y] - np.log(np.exp(z).sum(axis=1))).mean())

    r = minimize_scalar(nll, bounds=(np.log(0.05), np.log(50.0)), method="bounded")
    return float(np.exp(r.x))


def choose_conf_threshold(conf: np.ndarray, correct: np.ndarray, target_precision: float | None = None) -> float:
    """Confidence threshold on held-out frames.

    With `target_precision`: the lowest threshold whose accepted frames (conf >= t) are at least that accurate
    (1.0 = abstain on everything if no threshold reaches it). Without: the threshold maximising
    (correct accepted) - 2 x (wrong accepted), i.e. a wrong view costs twice what a missed one gains.
    """
    conf = np.asarray(conf, dtype=np.float64)
    correct = np.asarray(correct, dtype=bool)
    order = np.argsort(-conf)
    c_sorted, ok = conf[order], correct[order]
    n_ok, n_acc = np.cumsum(ok), np.arange(1, len(ok) + 1)
    if target_precision is not None:
        good = np.flatnonzero(n_ok / n_acc >= target_precision)
        if good.size == 0:
            return 1.0
        # accept the largest prefix that still meets the target
        return float(c_sorted[good[-1]])
    gain = n_ok - 2.0 * (n_acc - n_ok)
    i = int(np.argmax(gain))
    if gain[i] <= 0:
        return 1.0
    return float(c_sorted[i])


def calibrate(head: ViewHead, feats: np.ndarray, y: np.ndarray, *, target_precision: float | None = None,
              ood_quantile: float = 0.99, ood_factor: float = 2.0, knn_quantile: float | None = None) -> ViewHead:
    """Temperature scaling, then the confidence threshold and the ood threshold, on a held-out calibration set.

    feats (N, D) and y (N,) must not overlap the head's training rows nor any frame later used to report accuracy.
    The ood threshold is `ood_factor` x the `ood_quantile` of the calibration frames' scores (they are all
    in-distribution; the factor 2 keeps the long tail of ordinary frames - a steady probe sits in it for seconds -
    from being called "uncertain", while pictures that are not echo lie far beyond). With `knn_quantile` (a head with
    stored rows) the distance-gate threshold is that quantile of the calibration frames' distances (factor 1).
    """
    y = np.asarray(y, dtype=np.int64)
    t = fit_temperature(head.logits(feats), y)
    h = replace(head, temperature=t)
    p = h.probs(feats)
    conf, pred = p.max(axis=1), p.argmax(axis=1)
    thr = choose_conf_threshold(conf, pred == y, target_precision)
    ood_thr = ood_factor * float(np.quantile(h.ood_score(feats), ood_quantile))
    knn_thr = float("inf")
    if knn_quantile is not None and h.ref_feats is not None:
        knn_thr = float(np.quantile(h.knn_score(feats), knn_quantile))
    acc = float((pred == y).mean())
    kept = conf >= thr
    meta: dict[str, Any] = {**head.meta, "calibration": {
        "n": int(len(y)), "temperature": round(t, 4), "accuracy": round(acc, 4),
        "conf_threshold": round(thr, 4), "target_precision": target_precision, "ood_quantile": ood_quantile,
        "ood_factor": ood_factor, "knn_quantile": knn_quantile,
        "knn_threshold": round(knn_thr, 4) if np.isfinite(knn_thr) else None,
        "coverage": round(float(kept.mean()), 4),
        "selective_accuracy": round(float((pred == y)[kept].mean()), 4) if kept.any() else None}}
    return replace(h, conf_threshold=thr, ood_threshold=ood_thr, knn_threshold=knn_thr, meta=meta)
