"""Interval calipers and a robust global QT from per-lead median beats (issue 18 point 3).

Pure functions, arrays in, records out: no storage, no web. Times are seconds relative to the R peak of the
aligned median beats (the same axis device.ecg.measure uses, ``pre`` s of beat before R).

* ``intervals_from_calipers``: PR, QRS, QT, QTc (formula named) from four caliper positions a person placed.
* ``global_fiducials``: per-lead fiducials, outliers rejected (median +- 3 scaled MAD, at least 20 ms), then the
  earliest QRS onset and the latest T end over the remaining leads, so one badly digitised lead (e.g. a box moved
  2 mm) cannot swing QT by hundreds of ms.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from device.ecg.measure import _fiducials

QTC_FORMULAS = ("bazett", "fridericia")


@dataclass(frozen=True)
class Calipers:
    """Caliper positions in s relative to R; None where not placed."""

    p_onset_s: float | None
    qrs_onset_s: float
    qrs_offset_s: float
    t_end_s: float | None


@dataclass(frozen=True)
class Intervals:
    pr_ms: float | None
    qrs_ms: float
    qt_ms: float | None
    qtc_ms: float | None
    qtc_formula: str


class CaliperError(ValueError):
    """Caliper positions out of order (one line for the user)."""


def intervals_from_calipers(c: Calipers, rr_ms: float, formula: str = "bazett") -> Intervals:
    if formula not in QTC_FORMULAS:
        raise CaliperError(f"unknown QTc formula {formula!r}: use one of {', '.join(QTC_FORMULAS)}")
    if not c.qrs_onset_s < c.qrs_offset_s:
        raise CaliperError("QRS onset must come before QRS offset: move the calipers")
    if c.p_onset_s is not None and not c.p_onset_s < c.qrs_onset_s:
        raise CaliperError("P onset must come before QRS onset: move the calipers")
    if c.t_end_s is not None and not c.t_end_s > c.qrs_offset_s:
        raise CaliperError("T end must come after QRS offset: move the calipers")
    if not rr_ms > 0:
        raise CaliperError("no RR interval: the heart rate was not measured")
    pr = None if c.p_onset_s is None else (c.qrs_onset_s - c.p_onset_s) * 1000.0
    qrs = (c.qrs_offset_s - c.qrs_onset_s) * 1000.0
    qt = qtc = None
    if c.t_end_s is not None:
        qt = (c.t_end_s - c.qrs_onset_s) * 1000.0
        rr_s = rr_ms / 1000.0
        qtc = qt / (np.sqrt(rr_s) if formula == "bazett" else np.cbrt(rr_s))
    return Intervals(pr_ms=pr, qrs_ms=qrs, qt_ms=qt, qtc_ms=None if qtc is None else float(qtc), qtc_formula=formula)


@dataclass(frozen=True)
class GlobalFiducials:
    calipers: Calipers
    leads_used: tuple[str, ...]
    leads_rejected: tuple[str, ...]  # outliers for QRS onset or T end


def _inliers(vals: dict[str, float], floor_s: float = 0.02) -> set[str]:
    if len(vals) < 3:
        return set(vals)
    v = np.asarray(list(vals.values()))
    med = float(np.median(v))
    mad = 1.4826 * float(np.median(np.abs(v - med)))
    tol = max(3.0 * mad, floor_s)
    return {k for k, x in vals.items() if abs(x - med) <= tol}


def global_fiducials(beats: dict[str, np.ndarray], fs_hz: float, pre_s: float) -> GlobalFiducials | None:
    """Robust global fiducials from aligned per-lead median beats (lead name -> 1-D mV array)."""
    fid = {name: _fiducials(np.nan_to_num(b), fs_hz, pre_s) for name, b in beats.items()}
    if not fid:
        return None
    p_on = {k: f[0] for k, f in fid.items() if f[0] is not None}
    q_on = {k: f[1] for k, f in fid.items() if f[1] is not None}
    q_off = {k: f[2] for k, f in fid.items() if f[2] is not None}
    t_end = {k: f[3] for k, f in fid.items() if f[3] is not None}
    keep_on, keep_off, keep_t, keep_p = _inliers(q_on), _inliers(q_off), _inliers(t_end), _inliers(p_on)
    if not keep_on or not keep_off:
        return None
    rejected = (set(q_on) - keep_on) | (set(t_end) - keep_t)
    cal = Calipers(
        p_onset_s=min(p_on[k] for k in keep_p) if keep_p else None,
        qrs_onset_s=min(q_on[k] for k in keep_on),
        qrs_offset_s=max(q_off[k] for k in keep_off),
        t_end_s=max(t_end[k] for k in keep_t) if keep_t else None,
    )
    return GlobalFiducials(cal, tuple(sorted(keep_on | keep_t)), tuple(sorted(rejected)))


@dataclass(frozen=True)
class MedianBeats:
    """Per-lead median beats aligned on the rhythm lead's R peaks (R at ``pre_s``), baseline removed, as
    device.ecg.measure forms them; ``qrs_onset_s``: the automatic global QRS onset (earlier of the rhythm lead's
    and the all-lead RMS beat's), in s relative to R."""

    fs_hz: float
    pre_s: float
    beats: dict[str, np.ndarray]
    rhythm_lead: str
    qrs_onset_s: float


def median_beats(signals_mv: np.ndarray, fs_hz: float, lead_names: tuple[str, ...], pre_s: float = 0.3,
                 post_s: float = 0.55) -> MedianBeats | None:
    """The median beat of every lead with enough signal (the beats the interval calipers are placed on), or None
    when fewer than two beats are found on the longest lead."""
    from device.ecg.measure import _longest_finite, _median_beat, detect_beats

    x = np.asarray(signals_mv, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != len(lead_names) or x.shape[0] < 2 * fs_hz:
        return None
    spans = {j: _longest_finite(x[:, j]) for j in range(x.shape[1])}
    length = {j: e - s for j, (s, e) in spans.items()}
    pref = [lead_names.index(n) for n in ("II", "V1", "V5", "I") if n in lead_names]
    best = max(range(x.shape[1]), key=lambda j: (length[j], j in pref and -pref.index(j)))
    if length[best] < 2 * fs_hz:
        return None
    s, e = spans[best]
    peaks = detect_beats(x[s:e, best], fs_hz)
    if peaks.size < 2:
        return None
    beats = {}
    for j, name in enumerate(lead_names):
        b = _median_beat(x[:, j], peaks + s, fs_hz, pre_s, post_s)
        if b is not None and np.isfinite(b).sum() > 0.8 * b.size:
            beats[name] = np.nan_to_num(b - np.nanmedian(b[: int(0.1 * fs_hz)]))
    if not beats:
        return None
    stack = np.stack(list(beats.values()))
    rms = np.sqrt(np.mean(stack ** 2, axis=0))
    rhythm = lead_names[best] if lead_names[best] in beats else next(iter(beats))
    q_on = min(_fiducials(beats[rhythm], fs_hz, pre_s)[1], _fiducials(rms, fs_hz, pre_s)[1])
    return MedianBeats(fs_hz=fs_hz, pre_s=pre_s, beats=beats, rhythm_lead=rhythm, qrs_onset_s=float(q_on))


def marker_positions(qrs_onset_s: float, pr_ms: float | None, qrs_ms: float | None,
                     qt_ms: float | None) -> dict[str, float | None]:
    """Caliper positions (ms from R) that reproduce the given intervals from a QRS onset: where the markers start
    on the drawn beat, so saving them unmoved stores the same PR, QRS and QT."""
    on = qrs_onset_s * 1000.0
    return {"p_onset_ms": None if pr_ms is None else on - pr_ms, "qrs_onset_ms": on,
            "qrs_offset_ms": None if qrs_ms is None else on + qrs_ms,
            "t_end_ms": None if qt_ms is None else on + qt_ms}
