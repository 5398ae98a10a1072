"""Would a sonographer measure EF on this clip? Pure checks on the segmentation of an apical or PLAX clip.

EF and volumes are given only when every check passes; otherwise the caller leaves them blank with :attr:`reason`
(never a guess, never an alert). The checks:

- calibration: a fan calibration (mm per pixel) is present and plausible, and the fan spans a cardiac depth;
- shape, on every frame: an LV cavity is found, its area is physiological (mm2), it is nearly convex (solidity),
  elongated like an LV (aspect ratio), inside the fan and not cut by the fan's edge;
- beat: the cavity-area curve changes (fractional area change), is smooth (a segmentation that jumps between
  chambers is not), beats at a plausible heart rate when the clip's timing is known (frame time, DICOM heart rate),
  and ED / ES are one systole apart for that rate;
- long axis: its angle and length stay within drift limits over the clip (the probe did not move or foreshorten).

Thresholds are data (:data:`THRESHOLDS`), each with why; ED/ES are chosen within one beat (:func:`pick_ed_es`) and
timed from the start of contraction (:func:`contraction_onset`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
from scipy.ndimage import distance_transform_edt, median_filter

from device.errors import InputError
from device.lv import CAVITY
from device.lv.calibration import require_spacing
from device.lv.indices import largest_component

# name: (value, why). Values measured on simulator clips (tuning seeds, not the held-out ones) and set wide enough
# for adult hearts; see EVALUATION.md "LV on real echo" for the refusal rates they give.
THRESHOLDS: dict[str, tuple[float, str]] = {
    "min_mm_per_px": (0.03, "finer than 0.03 mm/px is a microscope, not a cardiac probe (~0.1-0.8 mm/px)"),
    "max_mm_per_px": (1.5, "coarser than 1.5 mm/px leaves an LV of < 40 px: no reliable trace"),
    "min_fan_depth_mm": (40.0, "a cardiac fan images >= 4 cm deep; less means the calibration is wrong"),
    "max_fan_depth_mm": (320.0, "no cardiac preset images deeper than ~30 cm"),
    "min_area_mm2": (400.0, "an adult LV cavity in an apical or PLAX view is >= ~5 cm2 even at end-systole"),
    "max_area_mm2": (8000.0, "> 80 cm2 is beyond the largest dilated LV (ED area ~60 cm2): another chamber or merge"),
    "min_solidity": (0.80, "cavity area / its convex hull: an LV is nearly convex (trabeculae dent it a little, "
                           "simulated clips >= 0.9); a trace that wraps into the RV or atrium is not"),
    "min_aspect": (1.2, "long / short axis: an apical or PLAX LV is elongated (~1.6-2.5); a round blob is not one"),
    "max_aspect": (4.5, "longer than 4.5 x its width is a sliver (a wall or a partial trace), not a cavity"),
    "min_inside_fan": (0.98, "the cavity must lie in the imaged fan; outside it there is no image to trace"),
    "max_edge_touch": (0.15, "share of the cavity outline within 1.5 mm of the fan's edge: more means the fan "
                             "cuts the LV (the wall is out of the picture)"),
    "max_bad_frames": (0.0, "a plausible LV shape on every frame (issue 12): one implausible frame refuses"),
    "min_fac": (0.05, "fractional area change: below 5 % the curve does not beat (even severe dysfunction moves "
                      "the cavity area more than segmentation noise)"),
    "max_roughness": (0.3, "median |second difference| of the curve over its range: a beat sampled at >= 8 "
                           "frames per beat gives <= 0.2 (a sine: 0.1 at 20 frames); independent jumps frame to "
                           "frame (a trace switching structures) give ~0.45"),
    "min_hr_bpm": (30.0, "slower than 30 /min is not a rhythm one measures EF on"),
    "max_hr_bpm": (200.0, "faster than 200 /min is beyond adult sinus/tachy rates (and beyond frame rates' "
                          "resolution)"),
    "max_hr_disagree": (0.25, "the curve's rate and the DICOM/ECG heart rate must agree within 25 %"),
    "onset_frac": (0.10, "systole (for the timing checks) starts at the last frame before ES within 10 % of the "
                         "ED-ES range of ED: a diastolic plateau's noise (2-4 %) or an early-filling overshoot must "
                         "not count as systole"),
    "min_systole_frac": (0.15, "ED->ES of at least 15 % of the RR interval (isovolumic contraction + ejection)"),
    "max_systole_frac": (0.65, "ED->ES of at most 65 % of the RR interval: systole is ~35-45 % of RR at rest and "
                               "rises to ~60 % in tachycardia (120-150 /min); ~2 frames of ED-onset uncertainty"),
    "min_systole_ms": (120.0, "ED->ES shorter than 120 ms is not an ejection"),
    "max_systole_ms": (650.0, "ED->ES longer than 650 ms is beyond the longest ejection (slow rates ~ 450 ms)"),
    "max_axis_angle_range_deg": (20.0, "the LV long axis turns < ~10 deg over a beat; more means the probe moved"),
    "max_axis_angle_step_deg": (12.0, "a jump of > 12 deg between frames is a trace switching structures"),
    "min_axis_length_ratio": (0.60, "shortest / longest long axis: the LV shortens 10-25 % in systole; a > 40 % "
                                    "change is foreshortening or a trace changing chambers"),
}


def _t(name: str) -> float:
    return THRESHOLDS[name][0]


@dataclass(frozen=True)
class ClipTiming:
    """What is known of the clip's time base: frame time (DICOM FrameTime, 1000 / video fps) and heart rate
    (DICOM HeartRate or an ECG). None where unknown: the checks that need it are then skipped and say so."""

    frame_time_ms: float | None = None
    hr_bpm: float | None = None

    @staticmethod
    def of(fps: float | None = None, frame_time_ms: float | None = None, hr_bpm: float | None = None) -> "ClipTiming":
        ft = frame_time_ms if frame_time_ms and np.isfinite(frame_time_ms) and 1.0 <= frame_time_ms <= 1000.0 \
            else (1000.0 / fps if fps and np.isfinite(fps) and 1.0 <= fps <= 1000.0 else None)
        hr = float(hr_bpm) if hr_bpm and np.isfinite(hr_bpm) and 10.0 <= hr_bpm <= 300.0 else None
        return ClipTiming(float(ft) if ft else None, hr)


@dataclass(frozen=True)
class FrameShape:
    """Cavity shape of one frame (NaN-free only when ``found``)."""

    found: bool
    area_mm2: float = 0.0
    solidity: float = 0.0
    aspect: float = 0.0
    inside_fan: float = 1.0
    edge_touch: float = 0.0
    angle_deg: float = 0.0
    length_mm: float = 0.0


@dataclass(frozen=True)
class LvValidity:
    """ok, the first reason, all failed checks, scores, and the ED/ES frames chosen one systole apart."""

    ok: bool
    reason: str
    failed: tuple[str, ...]
    ed_frame: int
    es_frame: int
    scores: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "reason": self.reason, "failed": list(self.failed), "ed_frame": self.ed_frame,
                "es_frame": self.es_frame,
                "scores": {k: _jsonable(v) for k, v in self.scores.items()}}


def _jsonable(v):
    if isinstance(v, (bool, np.bool_)) or v is None:
        return None if v is None else bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return round(float(v), 4) if np.isfinite(v) else None
    return v


def frame_shape(mask: np.ndarray, sp: tuple[float, float], fan: np.ndarray | None,
                fan_dist_mm: np.ndarray | None) -> FrameShape:
    """Shape statistics of the cavity (label 1) of one mask, in mm."""
    cav = largest_component(np.asarray(mask) == CAVITY)
    n = int(cav.sum())
    if n < 30:
        return FrameShape(False)
    row_mm, col_mm = sp
    cs, _ = cv2.findContours(cav.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    c = max(cs, key=cv2.contourArea)
    hull_area = float(cv2.contourArea(cv2.convexHull(c)))
    solidity = float(cv2.contourArea(c)) / hull_area if hull_area > 0 else 0.0
    ys, xs = np.nonzero(cav)
    pts = np.stack([xs * col_mm, ys * row_mm], axis=1)
    w, v = np.linalg.eigh(np.cov((pts - pts.mean(axis=0)).T))
    ax = v[:, 1] if v[1, 1] >= 0 else -v[:, 1]             # long axis, pointing down the image (away from probe)
    u = (pts - pts.mean(axis=0)) @ ax
    aspect = float(np.sqrt(max(w[1], 1e-9) / max(w[0], 1e-9)))
    inside = float(fan[cav].mean()) if fan is not None else 1.0
    touch = 0.0
    if fan_dist_mm is not None:
        cxy = c.reshape(-1, 2)
        touch = float((fan_dist_mm[cxy[:, 1], cxy[:, 0]] <= 1.5).mean())
    return FrameShape(True, n * row_mm * col_mm, solidity, aspect, inside, touch,
                      float(np.degrees(np.arctan2(ax[0], ax[1]))), float(u.max() - u.min()))


def beat_period_frames(curve: np.ndarray) -> float | None:
    """The dominant period (frames) of an area curve by autocorrelation, or None when it covers < ~1.5 beats or
    has no clear periodicity (the first autocorrelation peak after its first zero must be > 0.3)."""
    a = np.asarray(curve, float)
    if len(a) < 8 or not np.all(np.isfinite(a)):
        return None
    x = a - a.mean()
    if not np.any(x):
        return None
    ac = np.correlate(x, x, mode="full")[len(x) - 1:] / np.dot(x, x)
    below = np.flatnonzero(ac < 0)
    if below.size == 0:
        return None
    start = int(below[0])
    limit = int(len(a) / 1.5)                                 # a period must repeat at least 1.5 times in the clip
    if limit <= start + 1:
        return None
    k = start + int(np.argmax(ac[start:limit + 1]))
    if ac[k] < 0.3 or k >= limit:
        return None
    if 0 < k < len(ac) - 1:                                   # parabolic refinement of the peak
        d = ac[k - 1] - 2 * ac[k] + ac[k + 1]
        return float(k + (0.5 * (ac[k - 1] - ac[k + 1]) / d if d < 0 else 0.0))
    return float(k)


def smooth_curve(curve: np.ndarray) -> np.ndarray:
    """Running median over ~1/24 of the clip (3 frames at least) on the finite values: one bad frame is not ED/ES."""
    v = np.asarray(curve, float)
    ok = np.isfinite(v)
    out = v.copy()
    if ok.sum() >= 3:
        out[ok] = median_filter(v[ok], size=max(3, (len(v) // 24) | 1), mode="nearest")
    return out


def pick_ed_es(curve, period_frames: float | None) -> tuple[int, int]:
    """ES and the ED of the same beat from the smoothed curve.

    ES: the deepest minimum whose preceding beat is in the clip; ED: the largest value in the beat before ES (ASE:
    the frame with the largest LV). A beat is not in the clip when the clip starts inside its systole: the window
    before ES peaks at frame 0 and frame 0 is well below the ED that follows ES. When no ES has its ED before it
    (a clip shorter than a beat that starts in systole), ED is the largest value in the beat after ES (ED > ES:
    the next beat's end-diastole). Without a period the clip is taken as about one beat.
    """
    s = smooth_curve(curve)
    if not np.isfinite(s).any():
        raise InputError("no frame of the clip has a traceable LV cavity")
    n = len(s)
    span = int(round(period_frames)) if period_frames else n
    finite = np.where(np.isfinite(s), s, np.inf)
    minima = [i for i in range(n) if np.isfinite(s[i]) and finite[i] <= finite[max(0, i - 1)]
              and finite[i] <= finite[min(n - 1, i + 1)]]
    lo_v, hi_v = float(np.nanmin(s)), float(np.nanmax(s))
    deep = [i for i in minima if s[i] <= lo_v + 0.25 * (hi_v - lo_v)]   # an ES is a trough, not a shallow dip
    order = sorted(deep, key=lambda i: s[i])[:6]

    def after(es: int) -> tuple[int, float] | None:
        w = s[es + 1: es + 1 + span]
        if not np.isfinite(w).any():
            return None
        k = int(np.nanargmax(w))
        return es + 1 + k, float(w[k])

    for es in order:
        lo = max(0, es - span)
        win = s[lo:es]
        if np.isfinite(win).sum() < 2 or float(np.nanmax(win)) <= float(s[es]):
            continue
        k = int(np.nanargmax(win))
        if lo == 0 and k == 0:                                 # is frame 0 an end-diastole or inside systole?
            nxt = after(es)
            if nxt is not None and s[0] < nxt[1] - _t("onset_frac") * (nxt[1] - s[es]):
                continue                                      # the clip starts inside this systole
        return lo + k, es
    for es in order:
        nxt = after(es)
        if nxt is not None and nxt[1] > s[es]:
            return nxt[0], es
    return int(np.nanargmax(s)), int(np.nanargmin(s))


def contraction_onset(curve, ed: int, es: int) -> int:
    """The last frame in [ED, ES) still within ``onset_frac`` of the ED-ES range of the ED value: where systole
    begins (a diastolic plateau or an early-filling overshoot must not count as systole in the timing checks)."""
    s = smooth_curve(curve)
    if es <= ed or not (np.isfinite(s[ed]) and np.isfinite(s[es])):
        return ed
    level = s[ed] - _t("onset_frac") * (s[ed] - s[es])
    seg = np.nan_to_num(s[ed:es], nan=-np.inf)
    return ed + int(np.flatnonzero(seg >= level)[-1])


def _frames_text(idx) -> str:
    idx = list(idx)
    shown = ", ".join(str(i) for i in idx[:6])
    return shown + (f" and {len(idx) - 6} more" if len(idx) > 6 else "")


def lv_clip_validity(masks: np.ndarray, mm_per_px, *, view: str = "apical", curve=None,
                     fan_mask: np.ndarray | None = None, timing: ClipTiming | None = None) -> LvValidity:
    """Check a segmented apical (``view`` "apical"/"A4C"/"A2C") or PLAX clip. masks: (T, H, W) labels.

    curve: the per-frame quantity ED/ES are picked on (volume for apical, LVID for PLAX; NaN where untraced);
    the cavity area is used when None. Never raises for a bad clip: returns ok False with the reason.
    """
    timing = timing or ClipTiming()
    masks = np.asarray(masks)
    failed: list[tuple[str, str]] = []
    scores: dict[str, Any] = {"n_frames": int(len(masks)), "frame_time_ms": timing.frame_time_ms,
                              "dicom_hr_bpm": timing.hr_bpm}
    try:
        sp = require_spacing(mm_per_px, "EF and volumes")
    except InputError as exc:
        return LvValidity(False, str(exc), ("calibration",), 0, 0, scores)
    scores["mm_per_px"] = float(max(sp))
    if not (_t("min_mm_per_px") <= min(sp) and max(sp) <= _t("max_mm_per_px")):
        failed.append(("calibration", f"the calibration {max(sp):.3g} mm/pixel is not an echo fan's; check the "
                                      "depth scale or DICOM regions"))
    fan = None
    fan_dist = None
    if fan_mask is not None and np.shape(fan_mask) == masks.shape[1:] and np.asarray(fan_mask).any():
        fan = np.asarray(fan_mask, bool)
        rows = np.flatnonzero(fan.any(axis=1))
        scores["fan_depth_mm"] = float((rows[-1] - rows[0] + 1) * sp[0])
        if not _t("min_fan_depth_mm") <= scores["fan_depth_mm"] <= _t("max_fan_depth_mm"):
            failed.append(("calibration", f"with this calibration the fan is {scores['fan_depth_mm']:.0f} mm deep, "
                                          "not a cardiac depth; check the calibration"))
        fan_dist = distance_transform_edt(fan, sampling=sp)
    shapes = [frame_shape(m, sp, fan, fan_dist) for m in masks]
    missing = [i for i, s in enumerate(shapes) if not s.found]
    lo_a, hi_a = _t("min_area_mm2"), _t("max_area_mm2")
    odd: dict[str, list[int]] = {"area": [], "solidity": [], "aspect": [], "fan": [], "edge": []}
    for i, s in enumerate(shapes):
        if not s.found:
            continue
        if not lo_a <= s.area_mm2 <= hi_a:
            odd["area"].append(i)
        if s.solidity < _t("min_solidity"):
            odd["solidity"].append(i)
        if not _t("min_aspect") <= s.aspect <= _t("max_aspect"):
            odd["aspect"].append(i)
        if s.inside_fan < _t("min_inside_fan"):
            odd["fan"].append(i)
        if s.edge_touch > _t("max_edge_touch"):
            odd["edge"].append(i)
    found = [s for s in shapes if s.found]
    if found:
        scores |= {"area_mm2_min": min(s.area_mm2 for s in found), "area_mm2_max": max(s.area_mm2 for s in found),
                   "solidity_min": min(s.solidity for s in found), "aspect_min": min(s.aspect for s in found),
                   "aspect_max": max(s.aspect for s in found), "inside_fan_min": min(s.inside_fan for s in found),
                   "edge_touch_max": max(s.edge_touch for s in found)}
    bad = sorted(set(missing) | {i for v in odd.values() for i in v})
    scores["bad_frames"] = len(bad)
    scores["shape_frames"] = {k: len(v) for k, v in odd.items() if v}
    scores["missing_frames"] = len(missing)
    words = {"area": f"cavity area outside {lo_a / 100:.0f}-{hi_a / 100:.0f} cm2",
             "solidity": "cavity not convex (the trace wraps into another chamber)",
             "aspect": "cavity not LV-shaped (too round or too thin)", "fan": "cavity outside the fan",
             "edge": "cavity cut by the fan's edge"}
    if len(bad) > _t("max_bad_frames") * len(masks):
        if missing:
            what = f"no LV cavity found on frames {_frames_text(missing)} of {len(masks)}"
        else:
            k = max(odd, key=lambda n: len(odd[n]))
            what = f"{words[k]} on frames {_frames_text(odd[k])} of {len(masks)}"
        failed.append(("shape", f"the LV shape is not plausible on every frame ({what}); re-scan the view with the "
                                "whole LV inside the fan (depth, gain, focus)"))
    area = np.array([s.area_mm2 if s.found else np.nan for s in shapes])
    cur = np.asarray(curve, float) if curve is not None else area
    ed = es = 0
    if np.isfinite(cur).sum() >= 3:
        sm = smooth_curve(cur)
        fin = sm[np.isfinite(sm)]
        rng = float(fin.max() - fin.min())
        scores["fac"] = rng / float(fin.max()) if fin.max() > 0 else 0.0
        d2 = np.abs(np.diff(cur[np.isfinite(cur)], 2))
        scores["roughness"] = float(np.median(d2) / rng) if rng > 0 and d2.size else 0.0
        if scores["fac"] < _t("min_fac"):
            failed.append(("beat", f"the LV hardly changes size over the clip ({100 * scores['fac']:.0f} % area "
                                   "change); a beating LV is needed for EF"))
        elif scores["roughness"] > _t("max_roughness"):
            failed.append(("beat", "the LV size jumps from frame to frame instead of beating (the trace is not "
                                   "stable); re-scan the view"))
        period = beat_period_frames(sm) if np.isfinite(sm).all() else None
        ft, hr = timing.frame_time_ms, timing.hr_bpm
        scores["period_frames"] = period
        if period is None and hr and ft:
            period = 60000.0 / hr / ft                       # the DICOM / ECG rate gives the period
        curve_hr = 60000.0 / (period * ft) if period and ft else None
        scores["curve_hr_bpm"] = curve_hr
        scores["rate_checked"] = curve_hr is not None          # False: no frame time, or < 1.5 beats in the clip
        if curve_hr is not None and not _t("min_hr_bpm") <= curve_hr <= _t("max_hr_bpm"):
            failed.append(("rate", f"the LV area beats at {curve_hr:.0f} /min, not a plausible heart rate; "
                                   "re-scan over a steady rhythm"))
        if curve_hr is not None and hr and scores["period_frames"] is not None and \
                abs(curve_hr - hr) > _t("max_hr_disagree") * hr:
            failed.append(("rate", f"the LV area beats at {curve_hr:.0f} /min but the heart rate is {hr:.0f} "
                                   "/min; the trace does not follow the heart"))
        ed, es = pick_ed_es(cur, period)
        scores["systole_in_clip"] = bool(es > ed)
        if es > ed:
            onset = contraction_onset(cur, ed, es)
            scores["contraction_onset_frame"] = int(onset)
            gap = es - onset
        else:                           # ED of the next beat (the clip starts in systole): the systole is not timed
            gap = ed - es
        scores["ed_to_es_frames"] = int(gap)
        if ed > es:
            if (period is not None and gap > period) or (ft and gap * ft > 60000.0 / _t("min_hr_bpm")):
                failed.append(("phase", "end-systole and the next end-diastole are more than a beat apart; record "
                                        "a clip over a whole beat"))
        elif ed == es or gap < 2:
            failed.append(("phase", "end-diastole and end-systole fall on the same or adjacent frames; a whole "
                                    "beat is needed"))
        elif period is not None and not _t("min_systole_frac") <= gap / period <= _t("max_systole_frac"):
            failed.append(("phase", f"end-diastole and end-systole are {gap / period:.0%} of a beat apart, not one "
                                    "systole; re-scan over a steady rhythm"))
        if ft and es > ed:
            scores["ed_to_es_ms"] = gap * ft
            if not _t("min_systole_ms") <= gap * ft <= _t("max_systole_ms"):
                failed.append(("phase", f"end-diastole and end-systole are {gap * ft:.0f} ms apart, not one systole; "
                                        "re-scan over a steady rhythm"))
    else:
        failed.append(("shape", f"the LV cavity was found on {int(np.isfinite(cur).sum())} of {len(masks)} frames; "
                                "re-scan the view"))
    ang = np.array([s.angle_deg for s in found])
    lens = np.array([s.length_mm for s in found])
    if len(found) >= 2:
        a_u = np.degrees(np.unwrap(np.radians(ang) * 2) / 2)       # an axis has no direction: unwrap over 180 deg
        scores["axis_angle_range_deg"] = float(a_u.max() - a_u.min())
        scores["axis_angle_step_deg"] = float(np.abs(np.diff(a_u)).max())
        scores["axis_length_ratio"] = float(lens.min() / lens.max()) if lens.max() > 0 else 0.0
        if scores["axis_angle_range_deg"] > _t("max_axis_angle_range_deg") or \
                scores["axis_angle_step_deg"] > _t("max_axis_angle_step_deg"):
            failed.append(("axis", f"the LV long axis turns by {scores['axis_angle_range_deg']:.0f} deg over the "
                                   "clip (the probe moved or the trace changed structure); hold the probe still"))
        elif scores["axis_length_ratio"] < _t("min_axis_length_ratio"):
            failed.append(("axis", f"the LV long axis changes length by {100 * (1 - scores['axis_length_ratio']):.0f}"
                                   " % over the clip (foreshortened or the trace changes chamber); re-scan"))
    if not failed:
        return LvValidity(True, "", (), ed, es, scores)
    return LvValidity(False, "EF not given: " + failed[0][1], tuple(dict.fromkeys(n for n, _ in failed)), ed, es,
                      scores)
