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
