"""Data for the ``ecg_signal`` screen: the real PTB-XL 100-Hz records and the Challenge records of
``ecg-records-ptbxl`` with their targets, patient-disjoint folds, and the digitisation damage used in training.

Targets (``device.ecg.signal_model.LABELS``): abnormal (the dataset's ``abnormal`` column), the five PTB-XL
superclasses and AF (PTB-XL rhythm AFIB or AFLT; Challenge AF or AFL). Challenge records carry no SCP statements: their
superclass targets are known only where a SNOMED code maps plainly (NSR alone -> NORM, OldMI -> MI, STD/STE/TInv/TAb/
NSSTTA -> STTC, LBBB/RBBB/IAVB/NSIVCB/... -> CD, LVH/RVH/LAE -> HYP) and masked out otherwise.
Folds: PTB-XL strat_fold 1-8 train, 9 validation/calibration, 10 test; Challenge records train only, and only when
their patient (where known) is not in folds 9-10.
"""

from __future__ import annotations

import ast
import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from device.ecg.signal_model import LABELS, N_IN, N_LEADS, to_100hz
from device.ecg.types import LEADS
from device.ecg.wfdb import read_record
from device.paths import REPO_ROOT

CACHE = REPO_ROOT / "var" / "cache" / "ecg_signal"
_CINC_MAP = {"MI": {"OldMI", "MI", "AMI", "IMI", "LMI"},
             "STTC": {"STD", "STE", "TInv", "TAb", "NSSTTA", "STC", "STIAb", "QTIE", "LQT"},
             "CD": {"LBBB", "RBBB", "CRBBB", "IRBBB", "CLBBB", "IAVB", "NSIVCB", "LAnFB", "LPFB", "BBB", "WPW", "AVB",
                    "IIAVB", "IIAVBII", "AVJR", "LPR"},
             "HYP": {"LVH", "RVH", "LAE", "RAE", "VH"}}


@dataclass(frozen=True)
class Dataset:
    """``x`` float32 (N, 1000, 12) mV at 100 Hz; ``y`` float32 (N, 7) targets; ``m`` float32 (N, 7) 1 where the
    target is known; ``fold`` int (0 for Challenge); ``patient`` int (-1 unknown); ``record`` names."""

    x: np.ndarray
    y: np.ndarray
    m: np.ndarray
    fold: np.ndarray
    patient: np.ndarray
    record: np.ndarray
    source: np.ndarray

    def take(self, idx: np.ndarray) -> "Dataset":
        return Dataset(*(getattr(self, k)[idx] for k in ("x", "y", "m", "fold", "patient", "record", "source")))


def _leads(rec) -> np.ndarray:
    names = [n.upper() for n in rec.lead_names]
    idx = [names.index(n.upper()) for n in LEADS]
    return rec.signals_mv[:, idx]


def _targets(row: dict) -> tuple[list[float], list[float]]:
    y = [0.0] * len(LABELS)
    m = [1.0] * len(LABELS)
    y[0] = float(row["abnormal"])
    if row["source"] == "ptbxl":
        sup = set(filter(None, row["diagnostic_superclass"].split("|")))
        for k, lab in enumerate(LABELS[1:6], start=1):
            y[k] = float(lab in sup)
        rh = set(row["ptbxl_rhythm"].split("|")) | set(ast.literal_eval(row["scp_codes"]))
        y[6] = float(bool(rh & {"AFIB", "AFLT"}))
        return y, m
    dx = set(filter(None, row["dx_abbrev"].split("|")))
    y[6] = float(bool(dx & {"AF", "AFL"}))
    m[1] = 1.0
    y[1] = float(dx <= {"NSR", "SR"} and bool(dx))
    for k, lab in enumerate(LABELS[2:6], start=2):
        hit = bool(dx & _CINC_MAP[lab])
        y[k], m[k] = float(hit), float(hit)  # a present code is a positive; absence says nothing
    return y, m


def load(data_dir: Path) -> Dataset:
    """Every usable record of ``data_dir`` (ecg-records-ptbxl), cached as one .npz under var/cache/ecg_signal."""
    CACHE.mkdir(parents=True, exist_ok=True)
    f = CACHE / "records.npz"
    labels = data_dir / "labels.csv"
    if f.exists() and f.stat().st_mtime > labels.stat().st_mtime:
        z = np.load(f, allow_pickle=False)
        return Dataset(z["x"], z["y"], z["m"], z["fold"], z["patient"], z["record"], z["source"])
    with open(labels, newline="") as fh:
        rows = list(csv.DictReader(fh))
    xs, ys, ms, folds, pats, recs, srcs = [], [], [], [], [], [], []
    for r in rows:
        if r["source"] == "ptbxl" and r["fs"] != "100":
            continue  # the 500-Hz copies are the same ECGs as their 100-Hz records
        rec = read_record(data_dir / f"{r['record']}.hea")
        x = to_100hz(_leads(rec), rec.fs_hz)
        if not np.isfinite(x).all():
            x = np.nan_to_num(x)
        y, m = _targets(r)
        xs.append(x)
        ys.append(y)
        ms.append(m)
        folds.append(int(r["strat_fold"]) if r["strat_fold"] else 0)
        pats.append(int(float(r["patient_id"])) if r["patient_id"] else -1)
        recs.append(r["record"])
        srcs.append(r["source"])
    d = Dataset(np.stack(xs).astype(np.float32), np.array(ys, np.float32), np.array(ms, np.float32),
                np.array(folds), np.array(pats), np.array(recs), np.array(srcs))
    np.savez(f, **{k: getattr(d, k) for k in ("x", "y", "m", "fold", "patient", "record", "source")})
    return d


def splits(d: Dataset) -> dict[str, np.ndarray]:
    """Indices of train / val (fold 9) / test (fold 10); raises if any patient is on two sides."""
    val = np.flatnonzero(d.fold == 9)
    test = np.flatnonzero(d.fold == 10)
    held = set(d.patient[val]) | set(d.patient[test])
    train = np.flatnonzero(((d.fold >= 1) & (d.fold <= 8)) | ((d.fold == 0) & ~np.isin(d.patient, list(held))))
    pt, pv, pe = (set(d.patient[i]) - {-1} for i in (train, val, test))
    if pt & pv or pt & pe or pv & pe:
        raise RuntimeError(f"patient overlap between folds: {sorted((pt & pv) | (pt & pe) | (pv & pe))[:10]}")
    return {"train": train, "val": val, "test": test}


# -- what digitisation does to a signal ---------------------------------------------------------------------------
_COLS = (("I", "II", "III"), ("aVR", "aVL", "aVF"), ("V1", "V2", "V3"), ("V4", "V5", "V6"))


def layout_mask(rng: np.random.Generator, kind: str | None = None) -> np.ndarray:
    """bool (1000, 12): which samples a printout shows: 3x4 (+1 or +3 rhythm strips), 6x2, 12x1 or all."""
    kind = kind or rng.choice(["3x4+1", "3x4+3", "3x4", "6x2", "full"], p=[0.45, 0.15, 0.05, 0.1, 0.25])
    mask = np.zeros((N_IN, N_LEADS), bool)
    if kind == "full":
        mask[:] = True
    elif kind == "6x2":
        for j in range(N_LEADS):
            mask[(j // 6) * 500 : (j // 6 + 1) * 500, j] = True
    else:
        for c, names in enumerate(_COLS):
            for n in names:
                mask[c * 250 : (c + 1) * 250, LEADS.index(n)] = True
        extra = {"3x4+1": ("II",), "3x4+3": ("V1", "II", "V5"), "3x4": ()}[kind]
        for n in extra:
            mask[:, LEADS.index(n)] = True
    return mask


def _smooth(z: np.ndarray, k: int) -> np.ndarray:
    if k <= 1:
        return z
    ker = np.ones(k) / k
    return np.apply_along_axis(lambda v: np.convolve(v, ker, mode="same"), 0, z)


def digitisation_damage(x: np.ndarray, rng: np.random.Generator, clean_p: float = 0.2) -> np.ndarray:
    """A (1000, 12) clean 100-Hz mV array as the digitiser might return it (NaN = not printed / lost): gain error,
    baseline wander, per-lead noise at 0-20 dB SNR (white + smooth), trace blur, per-segment offsets and
    sub-sample/small time shifts, a printout layout, lost pieces of trace and whole leads. ``clean_p`` of the
    time the signal is returned whole and clean (a recorded ECG)."""
    x = np.array(x, np.float64)
    shift = int(rng.integers(-40, 41))
    x = np.roll(x, shift, axis=0)
    if rng.random() < clean_p:
        return x
    t = np.arange(N_IN) / 100.0
    x = x * rng.uniform(0.8, 1.25) * rng.uniform(0.9, 1.1, N_LEADS)
    for j in range(N_LEADS):
        f = rng.uniform(0.05, 0.5, 2)
        x[:, j] += (rng.uniform(0, 0.15, 2)[:, None] * np.sin(2 * np.pi * f[:, None] * t + rng.uniform(0, 6.3, 2)[:, None])).sum(0)
    x = _smooth(x, int(rng.choice([1, 1, 2, 3])))
    p_sig = np.maximum(np.var(x, axis=0), 0.01)
    snr_db = rng.uniform(0.0, 20.0, N_LEADS)
    p_noise = p_sig / 10 ** (snr_db / 10)
    share = rng.uniform(0.2, 0.8)
    white = rng.standard_normal((N_IN, N_LEADS))
    smooth = _smooth(rng.standard_normal((N_IN, N_LEADS)), 8)
    smooth /= smooth.std(0, keepdims=True) + 1e-9
    x += np.sqrt(p_noise) * (np.sqrt(1 - share) * white + np.sqrt(share) * smooth)
    mask = layout_mask(rng)
    # each printed segment: its own offset and a small time shift (the reader places boxes to ~1-2 samples)
    out = np.full_like(x, np.nan)
    for j in range(N_LEADS):
        d = np.diff(np.concatenate(([0], mask[:, j].view(np.int8), [0])))
        for s, e in zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)):
            k = int(rng.integers(-2, 3))
            seg = np.roll(x[:, j], k)[s:e] + rng.normal(0, 0.3)
            out[s:e, j] = seg
        if rng.random() < 0.25:  # a lost piece of trace (ink gap, fold, glare)
            a = int(rng.integers(0, N_IN - 10))
            out[a : a + int(rng.integers(5, 60)), j] = np.nan
    if rng.random() < 0.15:
        out[:, int(rng.integers(0, N_LEADS))] = np.nan  # a whole lead lost
    return out
