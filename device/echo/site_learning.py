"""Site learning: a new view head from the site's own labelled frames, judged on patients it never saw. Pure.

Input: backbone features of labelled frames (N, D), their view labels, patient ids and clip (loop) ids; the cart's
current view head. Steps:

1. check the data (known labels, at least `MIN_VIEWS` views and `MIN_PATIENTS` patients) -> InputError, one line;
2. split by patient (never by frame): about a quarter of the patients are held back for the test, one more share for
   calibration, the rest fit the head; a held-back patient contributes no frame to fitting or calibration;
3. fit a new head with `device.echo.view_head.fit_head` (multinomial logistic regression, numpy + scipy; the
   backbone stays frozen: only the head is learned) on the fit patients' frames (weight `SITE_WEIGHT`) plus
   *replay* frames of every view, drawn from the current head's class means and shared covariance: the new head
   keeps what the current one knew (a site that teaches 4 views does not make the cart forget the other 9 and
   OTHER, and a few site frames do not override a good head) and moves where the site's frames differ; calibrate it
   (`calibrate`) on the calibration patients plus replay frames of the views the site did not label. (Replay of
   every view, 30 per view, site weight 3 were chosen on simulated sites: 6 patient splits of 8-patient sets with
   the stand-in and the v2 backbone; held-back accuracy rose on average in each, against 2 of 3 with untaught-only
   replay at weight 1.);
4. score the current and the new head on the held-back patients' frames (accuracy, per view, per clip by majority,
   coverage and accuracy of the frames not marked uncertain) and promote only when the new head's frame accuracy
   there is strictly higher.

Shapes: feats (N, D) float32; views, patients, clips (N,) str.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from device.echo.view_head import ViewHead, calibrate, fit_head
from device.errors import InputError

MIN_PATIENTS = 4          # 1 held back for the test + 1 for calibration + 2 to fit
MIN_VIEWS = 2
TEST_FRACTION = 0.25
CALIB_FRACTION = 0.15
REPLAY_PER_VIEW = 30      # replay frames per view drawn from the current head (every view: it keeps what it knew)
SITE_WEIGHT = 3.0         # weight of a site frame against a replay frame


@dataclass(frozen=True)
class Split:
    test: tuple[str, ...]
    calib: tuple[str, ...]
    fit: tuple[str, ...]


@dataclass(frozen=True)
class Score:
    n_frames: int
    n_clips: int
    accuracy: float                      # frame accuracy on the held-back patients
    clip_accuracy: float                 # majority view of each clip
    coverage: float                      # share of frames not marked uncertain
    selective_accuracy: float | None     # accuracy of those frames
    per_view: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        return {"n_frames": self.n_frames, "n_clips": self.n_clips, "accuracy": round(self.accuracy, 4),
                "clip_accuracy": round(self.clip_accuracy, 4), "coverage": round(self.coverage, 4),
                "selective_accuracy": None if self.selective_accuracy is None else round(self.selective_accuracy, 4),
                "per_view": {k: round(v, 4) for k, v in self.per_view.items()}}


@dataclass(frozen=True)
class LearnResult:
    head: ViewHead
    split: Split
    old: Score
    new: Score
    promote: bool
    reason: str
    data: dict[str, Any] = field(default_factory=dict)


def check_data(views: np.ndarray, patients: np.ndarray, known: tuple[str, ...]) -> None:
    """InputError (one line: what is wrong, what to do) unless the labels are known and views/patients suffice."""
    views = np.asarray(views).astype(str)
    patients = np.asarray(patients).astype(str)
    if len(views) == 0:
        raise InputError("no labelled frames were found; give a folder with one sub-folder per view or a CSV "
                         "file,view,patient")
    unknown = sorted(set(views.tolist()) - set(known))
    if unknown:
        raise InputError(f"unknown view label(s) {', '.join(unknown)}; use the model's labels: {', '.join(known)}")
    vs = sorted(set(views.tolist()))
    if len(vs) < MIN_VIEWS:
        raise InputError(f"the data has only one view ({vs[0]}); label frames of at least {MIN_VIEWS} views")
    ps = set(patients.tolist())
    if len(ps) < MIN_PATIENTS:
        raise InputError(f"the data has {len(ps)} patient(s); site learning needs at least {MIN_PATIENTS} (1 held "
                         "back to test, 1 to calibrate, 2 to fit): add loops of more patients or name the patient "
                         "of each file in the CSV")


def _order(pid: str, seed: int) -> str:
    return hashlib.sha256(f"{seed}:{pid}".encode()).hexdigest()


def split_patients(patients: np.ndarray, seed: int = 0) -> Split:
    """Patients in a fixed pseudo-random order (sha256 of seed and id): test share, calibration share, the rest fit."""
    ps = sorted(set(np.asarray(patients).astype(str).tolist()), key=lambda p: _order(p, seed))
    n = len(ps)
    n_test = max(1, int(round(TEST_FRACTION * n)))
    n_cal = max(1, int(round(CALIB_FRACTION * n)))
    if n - n_test - n_cal < 2:
        raise InputError(f"{n} patients are too few to hold some back; site learning needs at least {MIN_PATIENTS}")
    return Split(tuple(ps[:n_test]), tuple(ps[n_test:n_test + n_cal]), tuple(ps[n_test + n_cal:]))


def covariance_root(head: ViewHead) -> np.ndarray:
    """(D, D) R with R R^T = the head's shared covariance (inverse of its precision), from one eigendecomposition."""
    prec = np.asarray(head.precision, dtype=np.float64)
    w, v = np.linalg.eigh(0.5 * (prec + prec.T))
    inv_sqrt = np.where(w > 1e-9 * max(float(w.max()), 1e-12), 1.0 / np.sqrt(np.clip(w, 1e-300, None)), 0.0)
    return v * inv_sqrt


def replay_features(head: ViewHead, classes: list[int], n_per_class: int, rng: np.random.Generator,
                    root: np.ndarray | None = None) -> np.ndarray:
    """(len(classes) * n_per_class, D) features drawn from the head's class means and shared covariance."""
    if not classes or n_per_class <= 0:
        return np.zeros((0, head.dim), np.float32)
    root = covariance_root(head) if root is None else root
    mean = np.asarray(head.class_means, dtype=np.float64)
    out = []
    for c in classes:
        z = mean[c] + rng.standard_normal((n_per_class, head.dim)) @ root.T
        out.append(z * head.feature_scale + head.feature_mean)
    return np.concatenate(out).astype(np.float32)


def score(head: ViewHead, feats: np.ndarray, views: np.ndarray, clips: np.ndarray) -> Score:
    """How well `head` names the views of these frames (every frame counts; uncertain ones too)."""
    views = np.asarray(views).astype(str)
    clips = np.asarray(clips).astype(str)
    pred = head.predict(feats)
    named = np.array([p[0] for p in pred])
    sure = np.array([not p[2] for p in pred], dtype=bool)
    ok = named == views
    per_view = {str(v): float(ok[views == v].mean()) for v in sorted(set(views.tolist()))}
    clip_ok = []
    for c in sorted(set(clips)):
        m = clips == c
        clip_ok.append(Counter(named[m]).most_common(1)[0][0] == views[m][0])
    return Score(len(views), len(clip_ok), float(ok.mean()), float(np.mean(clip_ok)), float(sure.mean()),
                 float(ok[sure].mean()) if sure.any() else None, per_view)


def learn(feats: np.ndarray, views: np.ndarray, patients: np.ndarray, clips: np.ndarray, current: ViewHead, *,
          seed: int = 0, l2: float = 1e-3, replay_per_view: int = REPLAY_PER_VIEW,
          target_precision: float | None = None, replay_taught: bool = True,
          site_weight: float = SITE_WEIGHT) -> LearnResult:
    """Fit, calibrate and judge a new head against `current` on held-back patients (see the module docstring)."""
    feats = np.asarray(feats, dtype=np.float32)
    views = np.asarray(views).astype(str)
    patients = np.asarray(patients).astype(str)
    clips = np.asarray(clips).astype(str)
    if feats.ndim != 2 or feats.shape[1] != current.dim:
        raise InputError(f"features of width {feats.shape[-1]} do not fit the current view head ({current.dim}); "
                         "the model directory's backbone and head do not belong together: restore the model")
    labels = tuple(current.labels)
    check_data(views, patients, labels)
    split = split_patients(patients, seed)
    m_test = np.isin(patients, split.test)
    m_cal = np.isin(patients, split.calib)
    m_fit = ~(m_test | m_cal)
    taught = sorted(set(views[m_fit].tolist()))
    if len(taught) < MIN_VIEWS:
        raise InputError(f"after holding back patients {', '.join(split.test + split.calib)} the training patients "
                         f"show only {', '.join(taught)}; label at least {MIN_VIEWS} views in more patients")
    idx = {v: i for i, v in enumerate(labels)}
    y = np.array([idx[v] for v in views], dtype=np.int64)
    rng = np.random.default_rng(seed)
    untaught = [i for i, v in enumerate(labels) if v not in set(views.tolist())]
    replayed = list(range(len(labels))) if replay_taught else untaught
    root = covariance_root(current) if replayed else None
    x_rep = replay_features(current, replayed, replay_per_view, rng, root)
    y_rep = np.repeat(np.array(replayed, dtype=np.int64), replay_per_view) if replayed else np.zeros(0, np.int64)
    x_fit = np.concatenate([feats[m_fit], x_rep])
    y_fit = np.concatenate([y[m_fit], y_rep])
    w_fit = np.concatenate([np.full(int(m_fit.sum()), site_weight), np.ones(len(y_rep))])
    head = fit_head(x_fit, y_fit, labels, l2=l2, sample_weight=w_fit)
    # calibration: the calibration patients' frames plus fresh replay frames of the untaught views
    n_cal_rep = max(5, replay_per_view // 4)
    x_cal = np.concatenate([feats[m_cal], replay_features(current, untaught, n_cal_rep, rng, root)])
    y_cal = np.concatenate([y[m_cal], np.repeat(np.array(untaught, dtype=np.int64), n_cal_rep)
                            if untaught else np.zeros(0, np.int64)])
    head = calibrate(head, x_cal, y_cal, target_precision=target_precision)
    old = score(current, feats[m_test], views[m_test], clips[m_test])
    new = score(head, feats[m_test], views[m_test], clips[m_test])
    if new.accuracy > old.accuracy:
        promote, reason = True, (f"the new head names {new.accuracy:.1%} of the held-back patients' frames right, "
                                 f"the current one {old.accuracy:.1%}")
    else:
        promote, reason = False, (f"the new head is not better on the held-back patients ({new.accuracy:.1%} vs "
                                  f"{old.accuracy:.1%} for the current model); the current model stays")
    data = {"frames": int(len(views)), "clips": int(len(set(clips))), "patients": int(len(set(patients))),
            "views": dict(sorted(Counter(views.tolist()).items())),
            "frames_fit": int(m_fit.sum()), "frames_calibration": int(m_cal.sum()), "frames_test": int(m_test.sum()),
            "patients_fit": len(split.fit), "patients_calibration": len(split.calib),
            "patients_test": len(split.test), "views_not_labelled": [labels[i] for i in untaught],
            "views_replayed": [labels[i] for i in replayed], "replay_per_view": replay_per_view if replayed else 0,
            "site_weight": site_weight}
    head = replace(head, meta={**head.meta, "site_learning": {"data": data, "old": old.as_dict(), "new": new.as_dict()}})
    return LearnResult(head, split, old, new, promote, reason, data)
