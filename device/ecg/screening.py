"""Normal / abnormal screen on the digitised (or recorded) signals: explicit findings from the median beats.

Each finding is a named rule with its number, so a clinician sees why a tracing was flagged. The score is
1 - 0.5**(weighted findings / 0.7): 0 with none, 0.5 at the abnormal threshold (weight 0.7, e.g. an axis
deviation), 0.63 with one major finding (weight 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from device.ecg.measure import Measurements, _median_beat
from device.ecg.rhythm import Rhythm
from device.ecg.types import LEADS

SCREEN_NAME = "ecg_rules 1.0.0"


@dataclass(frozen=True)
class Screen:
    """``label`` "normal" / "abnormal" / "undetermined"; ``score`` 0..1 (higher = more likely abnormal);
    ``findings`` the reasons; ``source`` which screen made it."""

    label: str
    score: float
    findings: tuple[str, ...]
    source: str

    def as_dict(self) -> dict:
        return {"label": self.label, "score": round(self.score, 3), "findings": list(self.findings),
                "source": self.source}


def _lead_beats(sig: np.ndarray, m: Measurements, fs: float) -> dict[str, np.ndarray]:
    peaks = (np.asarray(m.r_peaks_s) * fs).astype(int)
    out = {}
    for j, name in enumerate(LEADS):
        b = _median_beat(sig[:, j].astype(float), peaks, fs, 0.3, 0.55)
        if b is not None and np.isfinite(b).sum() > 0.8 * b.size:
            b = np.nan_to_num(b)
            out[name] = b - np.median(b[int(0.15 * fs) : int(0.22 * fs)])  # PR segment as the baseline
    return out


def screen_signals(signals_mv: np.ndarray, fs_hz: float, m: Measurements, rhythm: Rhythm) -> Screen:
    """Rule-based screen of a (n, 12) mV array with its measurements and rhythm."""
    if m.n_beats < 2 or m.hr_bpm is None:
        return Screen("undetermined", 0.5, ("too few beats to screen",), SCREEN_NAME)
    f: list[tuple[str, float]] = []
    if rhythm.label in ("atrial fibrillation", "paced rhythm"):
        f.append((rhythm.label, 1.0))
    if m.hr_bpm < 50:
        f.append((f"bradycardia {m.hr_bpm:.0f}/min", 1.0))
    elif m.hr_bpm > 110:
        f.append((f"tachycardia {m.hr_bpm:.0f}/min", 1.0))
    if m.qrs_ms is not None and m.qrs_ms >= 120:
        f.append((f"wide QRS {m.qrs_ms:.0f} ms", 1.0))
    if m.pr_ms is not None and m.pr_ms > 220:
        f.append((f"long PR {m.pr_ms:.0f} ms", 1.0))
    if m.qtc_bazett_ms is not None and m.qtc_bazett_ms > 480:
        f.append((f"long QTc {m.qtc_bazett_ms:.0f} ms (Bazett)", 1.0))
    if m.axis_deg is not None and (m.axis_deg < -30 or m.axis_deg > 100):
        f.append((f"axis deviation {m.axis_deg:.0f} deg", 0.7))
    beats = _lead_beats(signals_mv, m, fs_hz)
    r = int(0.3 * fs_hz)
    if beats:
        j60 = r + int(((m.qrs_ms or 100) / 2000.0 + 0.06) * fs_hz)
        st = {k: float(b[min(j60, b.size - 1)]) for k, b in beats.items()}
        elev = [k for k, v in st.items() if v >= (0.2 if k in ("V1", "V2", "V3") else 0.1) and k != "aVR"]
        depr = [k for k, v in st.items() if v <= -0.1 and k != "aVR"]
        if len(elev) >= 2:
            f.append((f"ST elevation in {', '.join(elev)}", 1.0))
        if len(depr) >= 3:
            f.append((f"ST depression in {', '.join(depr)}", 1.0))
        tinv = []
        for k in ("I", "II", "V4", "V5", "V6"):
            if k in beats:
                b = beats[k]
                seg = b[j60 : min(b.size, j60 + int(0.3 * fs_hz))]
                if seg.size and seg.min() < -0.1 and abs(seg.min()) > abs(seg.max()):
                    tinv.append(k)
        if len(tinv) >= 2:
            f.append((f"T-wave inversion in {', '.join(tinv)}", 0.8))
        qs = []
        half = int(0.06 * fs_hz)
        for k in ("I", "II", "aVL", "aVF", "V4", "V5", "V6"):
            if k not in beats:
                continue
            b = beats[k][r - half : r + half]
            top = int(np.argmax(b))
            if top < 3:
                continue
            q, rr = -b[:top].min(), b[top]
            # a Q wave: negative before this lead's own R, deep (> 0.1 mV and > 1/3 R) and >= 30 ms wide
            wide = (b[:top] < -0.5 * q).sum() / fs_hz >= 0.03 if q > 0 else False
            if q > 0.1 and q > 0.33 * max(rr, 1e-3) and wide:
                qs.append(k)
        if "V1" in beats and ("V5" in beats or "V6" in beats):
            sv1 = -beats["V1"][r - 30 : r + 40].min()
            rv = max(beats[k][r - 30 : r + 40].max() for k in ("V5", "V6") if k in beats)
            if sv1 + rv > 3.5:
                f.append((f"LVH voltage (Sokolow-Lyon {sv1 + rv:.1f} mV)", 0.7))
    w = sum(x[1] for x in f)
    score = float(1.0 - 0.5 ** (w / 0.7))
    return Screen("abnormal" if w >= 0.7 else "normal", score, tuple(x[0] for x in f) or ("no abnormal finding",),
                  SCREEN_NAME)


def combine(signal_screen: Screen, model_screen: Screen | None) -> Screen:
    """The combined result: the mean of the available scores, abnormal at >= 0.5 (rule fixed before evaluation);
    the findings of both screens are kept."""
    if model_screen is None:
        return Screen(signal_screen.label, signal_screen.score, signal_screen.findings,
                      f"combined({signal_screen.source})")
    score = 0.5 * (signal_screen.score + model_screen.score)
    return Screen("abnormal" if score >= 0.5 else "normal", score, signal_screen.findings + model_screen.findings,
                  f"combined({signal_screen.source}, {model_screen.source})")
