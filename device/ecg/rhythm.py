"""Rhythm label from beats: sinus (normal, brady, tachy), atrial fibrillation, paced (where obvious)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from device.ecg import thresholds
from device.ecg.measure import Measurements


@dataclass(frozen=True)
class Rhythm:
    """``label`` one of "sinus rhythm", "sinus bradycardia", "sinus tachycardia", "atrial fibrillation",
    "paced rhythm", "bradycardia", "tachycardia", "undetermined"; ``reason`` the finding behind it."""

    label: str
    reason: str
    irregular: bool


def classify_rhythm(m: Measurements, signal_mv: np.ndarray | None = None, fs_hz: float = 500.0) -> Rhythm:
    """Rules on RR irregularity (successive-difference ratio), P-wave presence, rate, and pacing spikes
    (``signal_mv`` 1-D rhythm lead: very steep, narrow deflections just before most QRS)."""
    if m.hr_bpm is None or m.n_beats < 3:
        return Rhythm("undetermined", "fewer than 3 beats could be detected", False)
    t = np.asarray(m.r_peaks_s)
    rr = np.diff(t) * 1000.0
    irr = float(np.median(np.abs(np.diff(rr))) / np.median(rr)) if rr.size > 2 else 0.0
    cv = float(np.std(rr) / np.mean(rr))
    irregular = irr > 0.08 and cv > 0.08
    if signal_mv is not None and _paced(signal_mv, t, fs_hz):
        return Rhythm("paced rhythm", "sharp pacing spikes precede most QRS complexes", irregular)
    p_ok = m.p_wave_ratio is not None and m.p_wave_ratio >= 0.6
    if irregular and not p_ok:
        return Rhythm("atrial fibrillation", f"irregularly irregular RR (CV {cv:.2f}) without consistent P waves",
                      True)
    rate = m.hr_bpm
    lo, hi = thresholds.get("heart_rate", "low_bpm"), thresholds.get("heart_rate", "high_bpm")  # the report's table
    if p_ok:
        if rate < lo:
            return Rhythm("sinus bradycardia", f"P waves before QRS, rate {rate:.0f}/min < {lo:.0f}", irregular)
        if rate > hi:
            return Rhythm("sinus tachycardia", f"P waves before QRS, rate {rate:.0f}/min > {hi:.0f}", irregular)
        return Rhythm("sinus rhythm", f"P waves before QRS, rate {rate:.0f}/min", irregular)
    if rate < lo:
        return Rhythm("bradycardia", f"rate {rate:.0f}/min < {lo:.0f}, P waves not identified", irregular)
    if rate > hi:
        return Rhythm("tachycardia", f"rate {rate:.0f}/min > {hi:.0f}, P waves not identified", irregular)
    return Rhythm("undetermined", "regular rate but P waves not identified", irregular)


def _paced(x: np.ndarray, r_s: np.ndarray, fs: float) -> bool:
    x = np.asarray(x, float)
    if not np.isfinite(x).all() or x.size < fs:
        return False
    d = np.abs(np.diff(x)) * fs  # mV/s
    hits = 0
    for t in r_s:
        a, b = int((t - 0.12) * fs), int((t - 0.01) * fs)
        if a < 0 or b >= d.size:
            continue
        seg = d[a:b]
        # a spike: slope > 300 mV/s lasting < 6 ms
        if seg.max() > 300.0 and (seg > 100.0).sum() < 0.006 * fs + 2:
            hits += 1
    return hits >= max(3, 0.6 * len(r_s))
