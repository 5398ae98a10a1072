"""Beats and intervals from a 12-lead signal: R peaks, HR, RR, PR, QRS, QT, QTc (Bazett, Fridericia), frontal axis.

Works on the median beat of the available leads (NaN-aware), so it applies both to digitised paper (where each
lead covers only 2.5 s) and to continuous recordings (serial front-end).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import butter, filtfilt, find_peaks

from device.ecg.types import LEADS


@dataclass(frozen=True)
class Measurements:
    """Global ECG measurements; None where not measurable. ``r_peaks_s`` beat times (s) on the rhythm lead."""

    hr_bpm: float | None
    rr_ms: float | None
    rr_sd_ms: float | None
    pr_ms: float | None
    qrs_ms: float | None
    qt_ms: float | None
    qtc_bazett_ms: float | None
    qtc_fridericia_ms: float | None
    axis_deg: float | None
    n_beats: int
    rhythm_lead: str | None
    r_peaks_s: tuple[float, ...]
    p_wave_ratio: float | None  # share of beats with a P wave before the QRS

    def as_dict(self) -> dict:
        d = {k: (round(v, 1) if isinstance(v, float) else v) for k, v in self.__dict__.items()}
        d["r_peaks_s"] = [round(t, 3) for t in self.r_peaks_s]
        return d


def _bandpass(x: np.ndarray, fs: float, lo: float, hi: float) -> np.ndarray:
    b, a = butter(2, [lo / (fs / 2), min(hi / (fs / 2), 0.99)], btype="band")
    return filtfilt(b, a, x)


def _longest_finite(x: np.ndarray) -> tuple[int, int]:
    m = np.isfinite(x)
    if not m.any():
        return 0, 0
    d = np.diff(np.concatenate(([0], m.view(np.int8), [0])))
    s, e = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
    k = int(np.argmax(e - s))
    return int(s[k]), int(e[k])


def detect_beats(x: np.ndarray, fs: float) -> np.ndarray:
    """R-peak sample indices in a 1-D mV signal (NaN-free), Pan-Tompkins-like energy + adaptive threshold."""
    if x.size < int(fs):
        return np.zeros(0, int)
    y = _bandpass(x - np.mean(x), fs, 5.0, 20.0)
    e = np.convolve(np.gradient(y) ** 2, np.ones(int(0.1 * fs)) / (0.1 * fs), mode="same")
    # threshold from the typical beat (median of the strongest ~1/s candidates), robust to a few artefact spikes
    cand, props = find_peaks(e, distance=int(0.25 * fs), height=0)
    if cand.size == 0:
        return np.zeros(0, int)
    top = np.sort(props["peak_heights"])[::-1][: max(2, int(x.size / fs))]
    thr = 0.25 * float(np.median(top))
    pk = cand[props["peak_heights"] >= thr]
    # refine to the largest absolute deflection within +-60 ms
    w = int(0.06 * fs)
    z = x - np.median(x)
    out = []
    for p in pk:
        a, b = max(0, p - w), min(x.size, p + w)
        out.append(a + int(np.argmax(np.abs(z[a:b]))))
    return np.unique(np.asarray(out, int))


def _median_beat(sig: np.ndarray, peaks: np.ndarray, fs: float, pre: float, post: float) -> np.ndarray | None:
    a, b = int(pre * fs), int(post * fs)
    segs = [sig[p - a : p + b] for p in peaks if p - a >= 0 and p + b <= sig.size]
    if not segs:
        return None
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns where a lead was not printed
        return np.nanmedian(np.stack(segs), axis=0)


def _fiducials(beat: np.ndarray, fs: float, pre: float) -> tuple[float | None, ...]:
    """(P onset, QRS onset, QRS offset, T end) in s relative to the R peak, from a median beat (1-D)."""
    r = int(pre * fs)
    base = np.median(beat[max(0, r - int(0.3 * fs)) : r - int(0.2 * fs)]) if r > int(0.3 * fs) else np.median(beat)
    z = beat - base
    slope = np.abs(np.gradient(z)) * fs  # mV/s
    peak_slope = slope[max(0, r - int(0.05 * fs)) : r + int(0.05 * fs)].max()
    thr = 0.1 * peak_slope
    on = r
    while on > r - int(0.12 * fs) and on > 0 and (slope[on] > thr or abs(z[on]) > 0.15 * abs(z[r])):
        on -= 1
    off = r
    lim = min(beat.size - 1, r + int(0.14 * fs))
    while off < lim and (slope[off] > thr or abs(z[off]) > 0.15 * abs(z[r])):
        off += 1
    # T wave: largest deflection 100-450 ms after QRS offset; end where the slope flattens after it
    t_lo, t_hi = off + int(0.08 * fs), min(beat.size - 1, off + int(0.45 * fs))
    t_end = None
    if t_hi > t_lo + 5:
        seg = z[t_lo:t_hi] - z[t_hi]
        tp = t_lo + int(np.argmax(np.abs(seg)))
        if abs(z[tp]) > 0.03:
            # tangent method at the steepest descent after the T peak
            dz = np.gradient(z)
            after = slice(tp, min(beat.size - 1, tp + int(0.2 * fs)))
            k = tp + int(np.argmax(np.abs(dz[after]))) if dz[after].size else tp
            if dz[k] != 0:
                t_end_i = k - z[k] / dz[k]
                if tp < t_end_i < beat.size:
                    t_end = (t_end_i - r) / fs
    # P wave: a deflection 60-250 ms before QRS onset
    p_on = None
    p_lo, p_hi = max(0, on - int(0.25 * fs)), on - int(0.04 * fs)
    if p_hi > p_lo + 5:
        seg = z[p_lo:p_hi]
        pp = p_lo + int(np.argmax(np.abs(seg)))
        amp = abs(z[pp])
        if 0.04 < amp < 0.6:
            k = pp
            while k > p_lo and abs(z[k]) > 0.2 * amp:
                k -= 1
            p_on = (k - r) / fs
    return p_on, (on - r) / fs, (off - r) / fs, t_end


def measure(signals_mv: np.ndarray, fs_hz: float, lead_names: tuple[str, ...] = LEADS) -> Measurements:
    """Measure a (n_samples, n_leads) float mV array (NaN = not recorded). Rhythm from the longest clean lead
    (lead II preferred), intervals from the median beat across leads."""
    n, L = signals_mv.shape
    spans = {j: _longest_finite(signals_mv[:, j]) for j in range(L)}
    length = {j: e - s for j, (s, e) in spans.items()}
    pref = [lead_names.index(x) for x in ("II", "V1", "V5", "I") if x in lead_names]
    best = max(range(L), key=lambda j: (length[j], j in pref and -pref.index(j)))
    empty = Measurements(None, None, None, None, None, None, None, None, None, 0, None, (), None)
    if length[best] < 2 * fs_hz:
        return empty
    s, e = spans[best]
    x = signals_mv[s:e, best].astype(np.float64)
    peaks = detect_beats(x, fs_hz)
    if peaks.size < 2:
        return Measurements(None, None, None, None, None, None, None, None, None, int(peaks.size),
                            lead_names[best], tuple((s + peaks) / fs_hz), None)
    rr = np.diff(peaks) / fs_hz * 1000.0
    rr_ms = float(np.median(rr))
    hr = 60000.0 / rr_ms
    # median beats per lead, aligned on the rhythm lead's R peaks (all leads share the time axis)
    pre, post = 0.3, 0.55
    abs_peaks = peaks + s
    beats = {}
    for j in range(L):
        b = _median_beat(signals_mv[:, j].astype(np.float64), abs_peaks, fs_hz, pre, post)
        if b is not None and np.isfinite(b).sum() > 0.8 * b.size:
            beats[j] = np.nan_to_num(b - np.nanmedian(b[: int(0.1 * fs_hz)]))
    pr = qrs = qt = None
    p_ratio = None
    if beats:
        # a global beat: root-mean-square over leads makes onsets/offsets lead-independent
        stack = np.stack(list(beats.values()))
        rms = np.sqrt(np.mean(stack ** 2, axis=0))
        rhythm_beat = beats.get(best, stack[0])
        p_on, q_on, q_off, t_end = _fiducials(rhythm_beat, fs_hz, pre)
        _, q_on2, q_off2, t_end2 = _fiducials(rms, fs_hz, pre)
        q_on = min(q_on, q_on2)
        q_off = max(q_off, q_off2)
        qrs = (q_off - q_on) * 1000.0
        te = t_end if t_end is not None else t_end2
        qt_on = q_on
        # QT from the robust global fiducials (all leads, outlier leads rejected) when there are >= 3 leads:
        # one mis-boxed lead no longer decides T end (issue 18: V6 moved 2 mm swung QT 575 -> 329 ms)
        from device.ecg.calipers import global_fiducials  # local: calipers imports this module

        gf = global_fiducials({lead_names[j]: b for j, b in beats.items()}, fs_hz, pre) if len(beats) >= 3 else None
        if gf is not None and gf.calipers.t_end_s is not None:
            te, qt_on = gf.calipers.t_end_s, min(q_on, gf.calipers.qrs_onset_s)
        if te is not None:
            qt = (te - qt_on) * 1000.0
        if p_on is not None:
            pr = (q_on - p_on) * 1000.0
        # P-wave consistency: share of beats whose pre-QRS segment matches the median one (sinus: most do)
        a_, b_ = int(0.3 * fs_hz), int(0.06 * fs_hz)
        segs = [x[p - a_ : p - b_] for p in peaks if p - a_ >= 0]
        if len(segs) >= 3:
            S = np.stack(segs)
            S = S - S.mean(1, keepdims=True)
            med = np.median(S, axis=0)
            if np.ptp(med) > 0.04:
                c = [float(np.corrcoef(row, med)[0, 1]) if np.std(row) > 1e-6 else 0.0 for row in S]
                p_ratio = float(np.mean(np.asarray(c) > 0.6))
            else:
                p_ratio = 0.0
    qtc_b = qtc_f = None
    if qt is not None and 200 < qt < 700:
        rr_s = rr_ms / 1000.0
        qtc_b = qt / np.sqrt(rr_s)
        qtc_f = qt / np.cbrt(rr_s)
    else:
        qt = None
    axis = None
    if LEADS.index("I") in beats and LEADS.index("aVF") in beats and lead_names == LEADS:
        r = int(pre * fs_hz)
        w = int(0.06 * fs_hz)
        net_i = float(np.sum(beats[0][r - w : r + w]))
        net_avf = float(np.sum(beats[5][r - w : r + w]))
        axis = float(np.degrees(np.arctan2(net_avf, net_i)))
    return Measurements(hr_bpm=float(hr), rr_ms=rr_ms, rr_sd_ms=float(np.std(rr)), pr_ms=pr, qrs_ms=qrs, qt_ms=qt,
                        qtc_bazett_ms=qtc_b, qtc_fridericia_ms=qtc_f, axis_deg=axis, n_beats=int(peaks.size),
                        rhythm_lead=lead_names[best], r_peaks_s=tuple(float(t) for t in abs_peaks / fs_hz),
                        p_wave_ratio=p_ratio)
