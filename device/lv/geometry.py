"""The LV geometry of a clip, pure: segment a clip and build its editable geometry (traces, calipers, contours,
ED/ES frames, calibration: the detail JSON the echo page draws and edits), recompute the values from the points, and
apply a sonographer's change to the points. Arrays and dicts in, dicts out; storing is device.services.echo_measure.
"""

from __future__ import annotations

import json
from typing import Any

import cv2
import numpy as np

from device.errors import InputError
from device.lv import AORTIC_ROOT, CAVITY, LEFT_ATRIUM, MYOCARDIUM
from device.lv.calibration import require_spacing

MODES = {"A4C": "apical", "A2C": "apical", "PLAX": "plax", "PSAX-PM": "sax"}
APICAL_VALUES = ("edv_ml", "esv_ml", "sv_ml", "ef_pct")
PLAX_VALUES = ("lvidd_mm", "lvids_mm", "ivsd_mm", "lvpwd_mm", "aortic_root_mm", "la_diameter_mm", "fs_pct",
               "teichholz_edv_ml", "teichholz_esv_ml", "teichholz_ef_pct")
CALIPER_FRAME = {"lvidd": "ed", "ivsd": "ed", "lvpwd": "ed", "aortic_root": "ed", "lvids": "es", "la_diameter": "es"}
TRACE_POINTS = 32


# ---------------------------------------------------------------- geometry from masks (pure)

def _xy(points) -> list[list[float]]:
    return [[round(float(x), 2), round(float(y), 2)] for x, y in np.asarray(points, dtype=float).reshape(-1, 2)]


def outline(region: np.ndarray, n_points: int = 48) -> list[list[float]]:
    """The outer boundary of a boolean region (H, W) as up to n_points (x, y) pixel points ([] when empty)."""
    cs, _ = cv2.findContours(region.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not cs:
        return []
    c = max(cs, key=cv2.contourArea).reshape(-1, 2)
    idx = np.linspace(0, len(c), min(n_points, len(c)), endpoint=False).astype(int)
    return _xy(c[idx])


def _outlines(mask: np.ndarray) -> dict[str, list]:
    return {"cavity": outline(mask == CAVITY), "myocardium": outline((mask == MYOCARDIUM) | (mask == CAVITY)),
            "la": outline(mask == LEFT_ATRIUM), "aortic_root": outline(mask == AORTIC_ROOT)}


def _trace_json(trace) -> dict[str, Any]:
    return {"contour": _xy(trace.contour_xy), "apex": _xy([trace.apex_xy])[0], "annulus": _xy(trace.annulus_xy)}


def _trace_of(d: dict[str, Any]):
    from device.lv.volumes import ApicalTrace
    return ApicalTrace(tuple(map(tuple, d["contour"])), tuple(d["apex"]), tuple(map(tuple, d["annulus"])))


def apical_values(detail: dict[str, Any]) -> dict[str, float]:
    """Single-plane EDV/ESV/SV/EF of an apical geometry (its ED and ES traces and calibration)."""
    from device.lv.volumes import apical_volumes
    ed, es = _trace_of(detail["frames"]["ed"]["trace"]), _trace_of(detail["frames"]["es"]["trace"])
    sp = tuple(detail["mm_per_px"])
    v = apical_volumes(ed, es, sp) if detail["view"] == "A4C" else apical_volumes(None, None, None, ed, es, sp)
    return {"edv_ml": v.edv_ml, "esv_ml": v.esv_ml, "sv_ml": v.sv_ml, "ef_pct": v.ef_pct}


def biplane_values(a4c: dict[str, Any], a2c: dict[str, Any]) -> dict[str, float]:
    """Biplane EDV/ESV/SV/EF from the A4C and A2C geometries (each with its own calibration)."""
    from device.lv.volumes import apical_volumes
    fr4, fr2 = a4c["frames"], a2c["frames"]
    v = apical_volumes(_trace_of(fr4["ed"]["trace"]), _trace_of(fr4["es"]["trace"]), tuple(a4c["mm_per_px"]),
                       _trace_of(fr2["ed"]["trace"]), _trace_of(fr2["es"]["trace"]), tuple(a2c["mm_per_px"]))
    return {"edv_ml": v.edv_ml, "esv_ml": v.esv_ml, "sv_ml": v.sv_ml, "ef_pct": v.ef_pct}


def plax_values(detail: dict[str, Any]) -> dict[str, float]:
    from device.lv.plax import PlaxCalipers, plax_from_calipers
    cal = {k: (tuple(map(tuple, v)) if v else None) for k, v in detail["calipers"].items()}
    lin = plax_from_calipers(PlaxCalipers(**cal), tuple(detail["mm_per_px"]))
    return {k: getattr(lin, k) for k in PLAX_VALUES if getattr(lin, k) is not None}


def sax_values(detail: dict[str, Any]) -> dict[str, float]:
    """ED indices (11) and ES areas from the stored endo/epi contours of the ED and ES frames."""
    from device.lv.edit import recompute_sax
    h, w = detail["image_size"]
    out: dict[str, float] = {}
    for ph in ("ed", "es"):
        fr = detail["frames"][ph]
        _, ind = recompute_sax((h, w), fr["endo"], fr["epi"], tuple(detail["mm_per_px"]))
        out[f"sax_{ph}_cavity_area_mm2"] = ind.cavity_area_mm2
        out[f"sax_{ph}_myo_area_mm2"] = ind.myo_area_mm2
        if ph == "ed":
            out |= {f"sax_ed_dim{i + 1}_mm": v for i, v in enumerate(ind.dims_mm)}
            out |= {f"sax_ed_rwt{i + 1}_mm": v for i, v in enumerate(ind.rwt_mm)}
    return out


def values_of(detail: dict[str, Any]) -> dict[str, float]:
    """Stored-name -> value of a measured geometry (recomputed from its points with the device.lv functions)."""
    mode = detail["mode"]
    if mode == "apical":
        pre = detail["view"].lower()
        return {f"{pre}_{k}": v for k, v in apical_values(detail).items()}
    if mode == "plax":
        return plax_values(detail)
    return sax_values(detail)


def _valid_bbox(bbox, hw: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """The saved fan box (x0, y0, x1, y1) when it fits the frames, else None (the segmenter finds the fan)."""
    try:
        x0, y0, x1, y1 = (int(v) for v in bbox)
    except (TypeError, ValueError):
        return None
    ok = x0 >= 0 and y0 >= 0 and x0 + 16 <= x1 <= hw[1] and y0 + 16 <= y1 <= hw[0]
    return (x0, y0, x1, y1) if ok else None


def geometry_from_clip(frames: np.ndarray, view: str, mm_per_px, model, bbox=None,
                       degree: int = 11, timing=None) -> dict[str, Any]:
    """Segment a clip and build its editable geometry (the finding detail). Raises InputError with the reason when
    the clip cannot be measured (not a measurable view, no calibration, empty segmentation, no beat)."""
    from device.lv.echo import check_echo, measure_apical, measure_plax
    from device.lv.edit import sax_contours, simplify_trace
    from device.lv.phase import phase_from_areas
    from device.lv.segment import grey_frames, segment_echo

    mode = MODES.get(view)
    if mode is None:
        raise InputError(f"{view or 'this'} clip is not a view the LV is measured on; measurements come from "
                         f"{', '.join(MODES)} clips")
    if mm_per_px is None:
        raise InputError(f"the {view} clip has no pixel calibration (mm per pixel): the depth scale was not read "
                         "from the screen when it was saved, so no length or volume is measured; capture the view "
                         "again with the depth scale visible")
    sp = require_spacing(mm_per_px, f"the {view} clip")
    if len(frames) < 3:
        raise InputError(f"the {view} clip has {len(frames)} frames; ED and ES need a clip over a whole beat")
    checks = check_echo(frames)          # "is this echo?" (device/echo/validity.py): ClipRefused with the reason
    fan = checks.pop("fan_mask")
    seg = segment_echo(frames, model, _valid_bbox(bbox, frames.shape[1:3]))
    masks = seg.masks
    detail: dict[str, Any] = {"status": "measured", "reason": "", "view": view, "mode": mode,
                              "mm_per_px": list(sp), "image_size": list(masks.shape[1:]), "model_tag": seg.model_tag,
                              "model_name": seg.model_name, "model_version": seg.model_version,
                              "n_frames": len(frames), "checks": checks}
    if mode == "apical":
        res = measure_apical(masks, sp, view, seg.model_name, seg.model_version, fan_mask=fan, timing=timing,
                             echo_checked=True, checks=checks)
        detail["checks"] = res.checks
        ed, es = res.ed_frame, res.es_frame
        detail["curve"] = [None if not np.isfinite(v) else round(v, 2) for v in res.volume_curve_ml]
        detail["frames"] = {
            "ed": {"index": ed, "trace": _trace_json(simplify_trace(res.ed_trace, TRACE_POINTS)), **_outlines(masks[ed])},
            "es": {"index": es, "trace": _trace_json(simplify_trace(res.es_trace, TRACE_POINTS)), **_outlines(masks[es])}}
    elif mode == "plax":
        res = measure_plax(masks, sp, seg.model_name, seg.model_version, grey_frames(frames), fan_mask=fan,
                           timing=timing, echo_checked=True, checks=checks)
        detail["checks"] = res.checks
        ed, es = res.ed_frame, res.es_frame
        detail["curve"] = [None if not np.isfinite(v) else round(v, 2) for v in res.lvid_curve_mm]
        detail["calipers"] = {k: (_xy(v) if v else None) for k, v in vars(res.linear.calipers).items()}
        detail["frames"] = {"ed": {"index": ed, **_outlines(masks[ed])}, "es": {"index": es, **_outlines(masks[es])}}
        if res.linear.lvidd_mm is None:
            raise InputError("no LV internal dimension could be placed on the PLAX clip; place the calipers by hand")
    else:
        sax = np.where(masks <= MYOCARDIUM, masks, 0).astype(np.uint8)
        areas = (sax == CAVITY).sum(axis=(1, 2)).astype(float) * sp[0] * sp[1]
        if areas.max() <= 0:
            raise InputError("the segmentation found no LV cavity in the PSAX clip; is it a short-axis view at the "
                             "papillary muscles?")
        ph = phase_from_areas(areas, degree)
        ed, es = ph.ed_frame, ph.es_frame
        detail["curve"] = [round(float(a), 1) for a in areas]
        detail["phases"] = list(ph.labels)
        detail["frames"] = {}
        for name, i in (("ed", ed), ("es", es)):
            endo, epi = sax_contours(sax[i], TRACE_POINTS)
            if len(endo) < 3 or len(epi) < 3:
                raise InputError(f"the segmentation has no myocardium around the cavity on the "
                                 f"{name.upper()} frame; the short-axis indices need both")
            detail["frames"][name] = {"index": int(i), "endo": _xy(endo), "epi": _xy(epi), **_outlines(sax[i])}
    detail["ed_frame"], detail["es_frame"] = int(ed), int(es)
    detail["values"] = {k: round(float(v), 4) for k, v in values_of(detail).items()}
    if not detail["values"]:
        raise InputError(f"nothing could be measured on the {view} clip; check the view and image quality")
    return detail


def _points(raw, n: int | None, size: tuple[int, int], what: str) -> list[list[float]]:
    try:
        arr = np.asarray(raw, dtype=float).reshape(-1, 2)
    except (TypeError, ValueError):
        raise InputError(f"the {what} points must be [x, y] pairs; reload the page and try again") from None
    if (n is not None and len(arr) != n) or not np.all(np.isfinite(arr)):
        raise InputError(f"the {what} needs {n} finite points; reload the page and try again")
    h, w = size
    arr[:, 0] = np.clip(arr[:, 0], 0, w - 1)
    arr[:, 1] = np.clip(arr[:, 1], 0, h - 1)
    return _xy(arr)


def apply_change(detail: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    """A copy of a measured geometry with a sonographer's change, its values recomputed (pure).

    change: apical ``{"phase": "ed"|"es", "contour": [[x, y]...], "apex": [x, y], "annulus": [[x, y], [x, y]]}``
    (any subset of the points); PLAX ``{"caliper": "lvidd", "points": [[x0, y0], [x1, y1]]}``; PSAX
    ``{"phase": "ed"|"es", "endo": [...], "epi": [...]}``. Point counts must match the stored ones.
    Raises InputError for a change that does not fit the geometry or gives no measurable result.
    """
    if detail.get("status") != "measured":
        raise InputError("this clip was not measured, so there is nothing to edit; measure it first")
    new = json.loads(json.dumps(detail))
    size = tuple(detail["image_size"])
    if detail["mode"] == "plax":
        name = change.get("caliper")
        if not isinstance(name, str) or name not in CALIPER_FRAME:
            raise InputError(f"unknown caliper {name!r}; use one of {', '.join(CALIPER_FRAME)}")
        new["calipers"][name] = _points(change.get("points"), 2, size, f"{name} caliper")
    else:
        ph = change.get("phase")
        if ph not in ("ed", "es"):
            raise InputError("say which frame the edit is on (phase 'ed' or 'es')")
        fr = new["frames"][ph]
        keys = ("contour", "apex", "annulus") if detail["mode"] == "apical" else ("endo", "epi")
        target = fr["trace"] if detail["mode"] == "apical" else fr
        if not any(k in change for k in keys):
            raise InputError(f"the edit has no points; send one of {', '.join(keys)}")
        for k in keys:
            if k in change:
                pts = _points(change[k], len(np.asarray(target[k], float).reshape(-1, 2)), size, k)
                target[k] = pts[0] if k == "apex" else pts
    new["values"] = {k: round(float(v), 4) for k, v in values_of(new).items()}
    return new
