"""Normal / abnormal screen on the digitised (or recorded) signals: explicit findings from the median beats.

Each finding is a named rule with its number, so a clinician sees why a tracing was flagged. The score is
1 - 0.5**(weighted findings / 0.7): 0 with none, 0.5 at the abnormal threshold (weight 0.7, e.g. an axis
deviation), 0.63 with one major finding (weight 1). Every clinical limit is read from the threshold table
(``device/ecg/thresholds.toml``), the same table the report uses. Since the signal model ``ecg_signal``
(``device/ecg/signal_model.py``) the rules are the explanation layer: the combined screen takes the model's
calibrated probability and keeps the rule findings beside it (``combine``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from device.ecg import thresholds
from device.ecg.measure import Measurements, _median_beat
from device.ecg.rhythm import Rhythm
from device.ecg.types import LEADS

SCREEN_NAME = "ecg_rules 1.1.0"


@dataclass(frozen=True)
class Screen:
    """``label`` "normal" / "abnormal" / "undetermined"; ``score`` 0..1 (higher = more likely abnormal);
    ``findings`` the reasons; ``source`` which screen made it (model name, version, variant). A model screen
    also carries its calibrated ``probabilities`` per label and the ``classes`` (superclasses, AF) it found."""

    label: str
    score: float
    findings: tuple[str, ...]
    source: str
    probabilities: dict[str, float] | None = None
    classes: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        d = {"label": self.label, "score": round(self.score, 3), "findings": list(self.findings),
             "source": self.source}
        if self.probabilities is not None:
            d["probabilities"] = {k: round(v, 3) for k, v in self.probabilities.items()}
            d["classes"] = list(self.classes)
        return d


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
    """Rule-based screen of a (n, 12) mV array with its measurements and rhythm; every limit comes from the
    threshold table (``device/ecg/thresholds.toml``), read at call time."""
    T = thresholds.table()
    if m.n_beats < 2 or m.hr_bpm is None:
        return Screen("undetermined", 0.5, ("too few beats to screen",), SCREEN_NAME)
    f: list[tuple[str, float]] = []
    if rhythm.label in ("atrial fibrillation", "paced rhythm"):
        f.append((rhythm.label, 1.0))
    if m.hr_bpm < T["heart_rate"]["flag_low_bpm"]:
        f.append((f"bradycardia {m.hr_bpm:.0f}/min", 1.0))
    elif m.hr_bpm > T["heart_rate"]["flag_high_bpm"]:
        f.append((f"tachycardia {m.hr_bpm:.0f}/min", 1.0))
    if m.qrs_ms is not None and m.qrs_ms >= T["qrs"]["wide_ms"]:
        f.append((f"wide QRS {m.qrs_ms:.0f} ms", 1.0))
    if m.pr_ms is not None and m.pr_ms > T["pr"]["long_ms"]:
        f.append((f"long PR {m.pr_ms:.0f} ms", 1.0))
    if m.qtc_bazett_ms is not None and m.qtc_bazett_ms > T["qtc"]["flag_ms"]:
        f.append((f"long QTc {m.qtc_bazett_ms:.0f} ms (Bazett)", 1.0))
    if m.axis_deg is not None and (m.axis_deg < T["axis"]["low_deg"] or m.axis_deg > T["axis"]["high_deg"]):
        f.append((f"axis deviation {m.axis_deg:.0f} deg", 0.7))
    beats = _lead_beats(signals_mv, m, fs_hz)
    if beats:
        f += _morphology(beats, m, fs_hz, T)
    w = sum(x[1] for x in f)
    score = float(1.0 - 0.5 ** (w / 0.7))
    return Screen("abnormal" if w >= 0.7 else "normal", score, tuple(x[0] for x in f) or ("no abnormal finding",),
                  SCREEN_NAME)


def q_wave_leads(beats: dict[str, np.ndarray], fs_hz: float, T: dict) -> list[str]:
    """Leads (of the table's territories) whose median beat has a pathological Q wave: negative before the lead's
    own R, deeper than ``depth_mv`` and ``depth_of_r`` x R, at least ``width_ms`` wide."""
    q_t = T["q_wave"]
    r = int(0.3 * fs_hz)
    half = int(0.06 * fs_hz)
    out = []
    for k in dict.fromkeys(x for g in q_t["groups"] for x in g):
        if k not in beats:
            continue
        b = beats[k][r - half : r + half]
        top = int(np.argmax(b))
        if top < 3:
            continue
        q, rr = -b[:top].min(), b[top]
        wide = (b[:top] < -0.5 * q).sum() / fs_hz >= q_t["width_ms"] / 1000.0 if q > 0 else False
        if q > q_t["depth_mv"] and q > q_t["depth_of_r"] * max(rr, 1e-3) and wide:
            out.append(k)
    return out


def _morphology(beats: dict[str, np.ndarray], m: Measurements, fs_hz: float, T: dict) -> list[tuple[str, float]]:
    f: list[tuple[str, float]] = []
    r = int(0.3 * fs_hz)
    st_t = T["st"]
    j60 = r + int(((m.qrs_ms or 100) / 2000.0 + 0.06) * fs_hz)
    st = {k: float(b[min(j60, b.size - 1)]) for k, b in beats.items()}
    elev = [k for k, v in st.items() if k != "aVR" and v >= (
        st_t["elevation_v1_v3_mv"] if k in ("V1", "V2", "V3") else st_t["elevation_other_mv"])]
    depr = [k for k, v in st.items() if v <= st_t["depression_mv"] and k != "aVR"]
    if len(elev) >= st_t["elevation_min_leads"]:
        f.append((f"ST elevation in {', '.join(elev)}", 1.0))
    if len(depr) >= st_t["depression_min_leads"]:
        f.append((f"ST depression in {', '.join(depr)}", 1.0))
    tinv = []
    for k in ("I", "II", "V4", "V5", "V6"):
        if k in beats:
            b = beats[k]
            seg = b[j60 : min(b.size, j60 + int(0.3 * fs_hz))]
            if seg.size and seg.min() < T["t_wave"]["inversion_mv"] and abs(seg.min()) > abs(seg.max()):
                tinv.append(k)
    if len(tinv) >= T["t_wave"]["inversion_min_leads"]:
        f.append((f"T-wave inversion in {', '.join(tinv)}", 0.8))
    qs = q_wave_leads(beats, fs_hz, T)
    q_groups = [g for g in T["q_wave"]["groups"] if sum(k in qs for k in g) >= T["q_wave"]["min_leads_in_group"]]
    if q_groups:
        leads = [k for g in q_groups for k in g if k in qs]
        f.append((f"pathological Q waves in {', '.join(leads)}", 1.0))
    if "V1" in beats and ("V5" in beats or "V6" in beats):
        w0, w1 = r - int(0.06 * fs_hz), r + int(0.08 * fs_hz)
        sv1 = -beats["V1"][w0:w1].min()
        rv = max(beats[k][w0:w1].max() for k in ("V5", "V6") if k in beats)
        if sv1 + rv > T["voltage"]["sokolow_lyon_mv"]:
            f.append((f"LVH voltage (Sokolow-Lyon {sv1 + rv:.1f} mV)", 0.7))
    return f


DEFINITE_RHYTHMS = ("atrial fibrillation", "paced rhythm")


def combine(signal_screen: Screen, model_screen: Screen | None) -> Screen:
    """The combined result. With the signal model (a screen that carries calibrated probabilities) its decision
    and probability are the result (it measures best: EVALUATION.md) and the rule findings stay as the
    explanation; with the older image model, the mean of the two scores, abnormal at >= 0.5; without a model,
    the rules alone."""
    if model_screen is None:
        return Screen(signal_screen.label, signal_screen.score, signal_screen.findings,
                      f"combined({signal_screen.source})")
    src = f"combined({signal_screen.source}, {model_screen.source})"
    if model_screen.probabilities is not None:
        rules = tuple(f"rules: {x}" for x in signal_screen.findings)
        # a rhythm the rules are sure of (AF, pacing) is abnormal whatever the model's probability says
        label = "abnormal" if any(x in DEFINITE_RHYTHMS for x in signal_screen.findings) else model_screen.label
        return Screen(label, model_screen.score, model_screen.findings + rules, src,
                      model_screen.probabilities, model_screen.classes)
    score = 0.5 * (signal_screen.score + model_screen.score)
    return Screen("abnormal" if score >= 0.5 else "normal", score, signal_screen.findings + model_screen.findings,
                  src)
