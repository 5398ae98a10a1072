"""Signal-accuracy metrics of digitised ECGs (PhysioNet 2024 challenge style)."""

from __future__ import annotations

import numpy as np


def lead_snr_db(out_mv: np.ndarray, true_mv: np.ndarray, shift: int = 0) -> np.ndarray:
    """Per-lead SNR (dB): signal = truth, noise = output - truth over the printed samples (truth not NaN), each
    contiguous printed segment's mean removed from both. Output samples that are missing count as the segment mean
    (zero after offset removal). ``shift`` moves the output by that many samples. NaN for leads never printed."""
    res = np.full(true_mv.shape[1], np.nan)
    for j in range(true_mv.shape[1]):
        t = true_mv[:, j]
        o = np.roll(out_mv[:, j], shift)
        idx = np.flatnonzero(np.isfinite(t))
        if idx.size == 0:
            continue
        num = den = 0.0
        for seg in np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1):
            tt = t[seg] - t[seg].mean()
            ov = o[seg]
            ov = ov - np.nanmean(ov) if np.isfinite(ov).any() else np.zeros_like(tt)
            ov = np.where(np.isfinite(ov), ov, 0.0)
            num += float(np.sum(tt ** 2))
            den += float(np.sum((ov - tt) ** 2))
        res[j] = 10 * np.log10(num / max(den, 1e-12))
    return res
