"""Right heart and atria on the apical views (issue 14 part 2; ASE/EACVI 2015 chamber quantification).

A4C (the cart has no separate RV-focused view label, so the RV is measured on the A4C clip and the method says so):
``rv_basal_mm`` and ``rv_mid_mm`` at end-diastole, ``ra_area_mm2`` / ``ra_minor_mm`` and ``la_a4c_area_mm2`` /
``la_a4c_length_mm`` at end-systole, and ``tapse_mm`` (the tricuspid lateral annulus's excursion between ED and ES, by
2-D tracking: one caliper from its ED position, ``frame``, to its ES position, ``frame2``). A2C: ``la_a2c_area_mm2`` and
``la_a2c_length_mm`` at end-systole. The LA biplane volume from the two views is computed at exam level
(device/services/la_biplane.py).

Method: in each frame the chambers are the enclosed dark (blood) regions inside the fan (device.echo.right_heart_geom
.chambers). A4C needs four: the two nearest the apex are the ventricles (screen left RV, right LV), the other two
the atria (left RA, right LA); A2C needs two (LV above, LA below). ED / ES are the frames the LV geometry of the same
clip names when it was measured, else the frames with the largest / smallest LV region. The heart axis is the LV
region's long axis; diameters are chords perpendicular to it, lengths chords along it (right_heart_geom).
Not measurable -> value None with the reason: chambers not separated (a chamber cut off by the sector, a valve open
or a wall dropped out), or a clip too short for both phases.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from device.echo import right_heart_geom as rg
from device.echo.measures2d import Clip2D, Measure2D, caliper_mm, contour_mm2
from device.echo.screen import find_sector

NAMES_A4C = ("rv_basal_mm", "rv_mid_mm", "tapse_mm", "ra_area_mm2", "ra_minor_mm", "la_a4c_area_mm2",
             "la_a4c_length_mm")
NAMES_A2C = ("la_a2c_area_mm2", "la_a2c_length_mm")
MIN_SYSTOLE_S = 0.15     # ED and ES closer than this (at the clip's frame rate) are not one systole
MAX_FRAMES = 40          # frames examined for ED / ES when the LV geometry does not name them


def _fan(clip: Clip2D) -> np.ndarray:
    f = clip.frames
    if clip.fan_mask is not None and clip.fan_mask.shape == f.shape[1:]:
        return clip.fan_mask.astype(bool)
    sector = find_sector(f.max(axis=0).astype(np.uint8))
    return sector.mask if sector is not None else np.zeros(f.shape[1:], bool)


def _assign(masks: list[tuple[np.ndarray, bool]], n: int, sp) -> dict[str, Any] | None:
    """Name the chambers by position: the ventricles reach nearest the apex (A4C: RV screen left, LV right; A2C:
    the LV), each atrium is the largest region below its ventricle (centroid across within the ventricle's width
    +-5 mm). None when the ventricles are not found; a missing atrium is left out (refused by the caller)."""
    nv = 2 if n == 4 else 1
    if len(masks) < nv:
        return None
    info = []
    for m, _ in masks:
        p = rg.pixels_mm(m, sp)
        info.append((m, p.mean(axis=0), p[:, 0].min(), p[:, 0].max(), p[:, 1].min(), float(len(p))))
    vents = sorted(sorted(info, key=lambda t: t[4])[:nv], key=lambda t: t[1][0])
    if nv == 2:     # the RV lies beside the LV: its top above the LV centroid, sizes within 5x of each other
        rv, lv = vents
        if rv[4] > lv[1][1] or rv[5] < 0.2 * lv[5] or lv[5] < 0.2 * rv[5]:
            return None
    names = ("rv", "lv") if nv == 2 else ("lv",)
    out: dict[str, Any] = {k: v[0] for k, v in zip(names, vents, strict=True)}
    rest = [t for t in info if all(t[0] is not v[0] for v in vents)]
    for atrium, v in zip(("ra", "la") if nv == 2 else ("la",), vents, strict=True):
        below = [t for t in rest if t[1][1] > v[1][1] and v[2] - 5 <= t[1][0] <= v[3] + 5]
        if below:
            best = max(below, key=lambda t: t[5])
            out[atrium] = best[0]
            rest = [t for t in rest if t[0] is not best[0]]
    out["cut"] = []
    return out


def _lv_phase_frames(lv: dict[str, Any] | None, n: int) -> tuple[int, int] | None:
    try:
        ed, es = int(lv["frames"]["ed"]["index"]), int(lv["frames"]["es"]["index"])  # type: ignore[index]
    except (TypeError, KeyError, ValueError):
        return None
    return (ed, es) if 0 <= ed < n and 0 <= es < n and ed != es else None


def segment_phases(clip: Clip2D, n: int) -> tuple[dict[str, Any] | None, dict[str, Any] | None, str]:
    """(ED chambers, ES chambers, reason) where chambers = {"index", names -> mask}; None with the reason."""
    fan = _fan(clip)
    if fan.sum() < 1000:
        return None, None, "no imaging fan found on the screen"
    t = len(clip.frames)
    if t < 2:
        return None, None, "the clip has one frame; ED and ES need a clip over a whole beat"
    sp = clip.mm_per_px
    named = _lv_phase_frames(clip.lv, t)
    idx = list(named) if named else list(np.unique(np.linspace(0, t - 1, min(t, MAX_FRAMES)).round().astype(int)))
    segs: dict[int, dict[str, Any]] = {}
    for i in idx:
        a = _assign(rg.chambers(clip.frames[i], fan, sp), n, sp)
        if a is not None:
            segs[int(i)] = a
    what = "the two ventricles" if n == 4 else "the LV"
    if named:
        ed, es = named
    elif len(segs) >= 2:
        area = {i: float(s["lv"].sum()) for i, s in segs.items()}
        ed, es = max(area, key=area.__getitem__), min(area, key=area.__getitem__)
        if area[ed] < 1.08 * area[es]:
            return None, None, ("the LV region does not change over the clip (no beat seen), so ED and ES are "
                                "unknown; record a clip over a whole beat")
    else:
        return None, None, f"{what} were not separated as closed dark regions (a chamber cut off by the sector, " \
                           "or walls dropped out); adjust depth and gain, or measure by hand"
    if clip.fps and abs(es - ed) / clip.fps < MIN_SYSTOLE_S:
        return None, None, (f"the largest and smallest LV frames are {1000 * abs(es - ed) / clip.fps:.0f} ms apart, "
                            "not one systole (check the clip's frame rate, or record a whole beat)")
    out = []
    for i in (ed, es):
        s = segs.get(int(i))
        out.append(None if s is None else {"index": int(i), **s})
    if out[0] is None or out[1] is None:
        return out[0], out[1], f"{what} were not separated on the {'ED' if out[0] is None else 'ES'} frame"
    return out[0], out[1], ""


def _px(pt_mm: np.ndarray, sp) -> tuple[float, float]:
    return float(pt_mm[0] / sp[1]), float(pt_mm[1] / sp[0])


def _caliper(name: str, ch, sp, frame: int, phase: str, method: str, frame2: int | None = None,
             extra: dict | None = None) -> Measure2D:
    if ch is None:
        return Measure2D(name, None, "the chamber outline gave no chord here", frame=frame, phase=phase)
    pts = (_px(ch[0], sp), _px(ch[1], sp))
    return Measure2D(name, caliper_mm(pts, sp), points=pts, frame=frame, frame2=frame2, phase=phase, method=method,
                     extra=extra or {})


def _contour(name: str, poly_mm: np.ndarray, sp, frame: int, phase: str, method: str) -> Measure2D:
    pts = tuple(_px(p, sp) for p in poly_mm)
    return Measure2D(name, contour_mm2(pts, sp), kind="contour", points=pts, frame=frame, phase=phase,
                     method=method)


def _refused(names, reason: str) -> list[Measure2D]:
    return [Measure2D(n, None, reason, kind="contour" if n.endswith("_mm2") else "caliper") for n in names]


def _atrium(side: str, seg: dict[str, Any], axis, sp, view: str, minor: bool) -> list[Measure2D]:
    up = side.upper()
    key = side if side == "ra" else f"la_{view.lower()}"
    second = f"{key}_minor_mm" if minor else f"{key}_length_mm"
    if side not in seg:
        return _refused((f"{key}_area_mm2", second), f"no closed {up} region below the ventricle on the "
                        "end-systolic frame (cut off by the sector, or its walls dropped out)")
    if side in seg["cut"]:
        return _refused((f"{key}_area_mm2", second), f"the {up} is cut off by the sector's edge on the end-systolic "
                        "frame; increase the depth and record again")
    poly, i = rg.outline_mm(seg[side], sp), seg["index"]
    out = [_contour(f"{key}_area_mm2", poly, sp, i, "es", f"{up} blood area traced at end-systole ({view})")]
    if minor:
        out.append(_caliper(f"{side}_minor_mm", rg.chord_at(poly, axis, 0.5), sp, i, "es",
                            f"{up} minor axis: widest-level chord perpendicular to the heart axis at mid-length "
                            f"({view}, end-systole)"))
    else:
        out.append(_caliper(f"{key}_length_mm", rg.long_chord(poly, axis), sp, i, "es",
                            f"{up} length along the heart axis through the atrium's centroid ({view}, end-systole)"))
    return out


def measure_a4c(clip: Clip2D) -> list[Measure2D]:
    """RV basal and mid diameters (ED), TAPSE (ED -> ES), RA area and minor axis, LA area and length (ES)."""
    ed, es, reason = segment_phases(clip, 4)
    if ed is None or es is None:
        return _refused(NAMES_A4C, reason)
    sp = clip.mm_per_px
    out: list[Measure2D] = []
    ax_ed = rg.axis_of(rg.pixels_mm(ed["lv"], sp))
    ax_es = rg.axis_of(rg.pixels_mm(es["lv"], sp))
    note = " on the A4C clip (no separate RV-focused view)"
    if "rv" in ed["cut"] or "rv" in es["cut"]:
        out += _refused(("rv_basal_mm", "rv_mid_mm", "tapse_mm"), "the RV is cut off by the sector's edge; "
                        "bring it into the sector and record again")
        return out + _atrium("ra", es, ax_es, sp, "A4C", minor=True) + _atrium("la", es, ax_es, sp, "A4C", False)
    rv_ed, rv_es = rg.outline_mm(ed["rv"], sp), rg.outline_mm(es["rv"], sp)
    out.append(_caliper("rv_basal_mm", rg.basal_width(rv_ed, ax_ed), sp, ed["index"], "ed",
                        "RV basal diameter: widest chord perpendicular to the heart axis in the basal third" + note))
    out.append(_caliper("rv_mid_mm", rg.chord_at(rv_ed, ax_ed, 0.5), sp, ed["index"], "ed",
                        "RV mid diameter: chord perpendicular to the heart axis at mid-length" + note))
    lat = rg.pixels_mm(ed["rv"], sp).mean(axis=0) - rg.pixels_mm(ed["lv"], sp).mean(axis=0)
    perp = np.array([-ax_ed[1], ax_ed[0]])
    lat = perp * np.sign(lat @ perp or 1.0)
    a_ed, a_es = rg.lateral_annulus(rv_ed, ax_ed, lat), rg.lateral_annulus(rv_es, ax_es, lat)
    out.append(_caliper("tapse_mm", (a_ed, a_es), sp, ed["index"], "ed-es",
                        "TAPSE by 2-D tracking: the RV's basal lateral corner (tricuspid lateral annulus) at "
                        "end-diastole to end-systole" + note, frame2=es["index"]))
    out += _atrium("ra", es, ax_es, sp, "A4C", minor=True)
    out += _atrium("la", es, ax_es, sp, "A4C", minor=False)
    return out


def measure_a2c(clip: Clip2D) -> list[Measure2D]:
    """LA area and length at end-systole."""
    _, es, reason = segment_phases(clip, 2)
    if es is None:
        return _refused(NAMES_A2C, reason)
    ax = rg.axis_of(rg.pixels_mm(es["lv"], clip.mm_per_px))
    return _atrium("la", es, ax, clip.mm_per_px, "A2C", minor=False)


MEASURERS = {"A4C": [measure_a4c], "A2C": [measure_a2c]}
