"""Parasternal long-axis (PLAX) linear measurements, fractional shortening and Teichholz EF.

From label masks (1 LV cavity, 2 LV myocardium, 3 left atrium, 4 aortic root) of the ED and ES frames:
- the LV long axis is the principal axis of the ED cavity; its base end is the end nearer the atrium / aortic root;
- LVIDd / IVSd / LVPWd (ED) and LVIDs (ES) lie on one line perpendicular to the ED long axis, ``level_frac`` of the
  visible cavity length from its base (about the mitral leaflet tips, the basal/mid junction): septum = myocardium
  on the transducer side (top), posterior wall = myocardium on the far side; ES is measured on the same line;
- aortic root (ED): from the grey image when it is given (device/lv/aortic_root.py: the walls' brightest points on
  M-mode-like lines from the atrium toward the transducer; the segmentation model does not learn the root), else the
  widest width of an aortic-root label across its own long axis;
- LA diameter = the atrium's extent on the antero-posterior line (perpendicular to the LV long axis) through its
  centroid (ES, when the atrium is largest).
Every value keeps its caliper end points in pixels, so a sonographer can drag them and
:func:`plax_from_calipers` recomputes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from device.errors import InputError
from device.lv import AORTIC_ROOT, CAVITY, LEFT_ATRIUM, MYOCARDIUM
from device.lv.calibration import require_spacing
from device.lv.indices import largest_component

DEFAULT_LEVEL_FRAC = 0.33
Caliper = tuple[tuple[float, float], tuple[float, float]]  # ((x0, y0), (x1, y1)) in pixels


@dataclass(frozen=True)
class PlaxCalipers:
    """Caliper end points (pixels, x = column, y = row) per measurement; None when it could not be placed."""

    lvidd: Caliper | None = None
    lvids: Caliper | None = None
    ivsd: Caliper | None = None
    lvpwd: Caliper | None = None
    aortic_root: Caliper | None = None
    la_diameter: Caliper | None = None


@dataclass(frozen=True)
class PlaxLinear:
    """PLAX linear measurements (mm) with fractional shortening (%) and Teichholz volumes/EF; None = not measured."""

    lvidd_mm: float | None
    lvids_mm: float | None
    ivsd_mm: float | None
    lvpwd_mm: float | None
    aortic_root_mm: float | None
    la_diameter_mm: float | None
    fs_pct: float | None
    teichholz_edv_ml: float | None
    teichholz_esv_ml: float | None
    teichholz_ef_pct: float | None
    calipers: PlaxCalipers


def teichholz_volume_ml(diameter_mm: float) -> float:
    """Teichholz volume V = 7 / (2.4 + D) * D^3, D in cm, V in mL."""
    d_cm = diameter_mm / 10.0
    return 7.0 / (2.4 + d_cm) * d_cm ** 3


def _length_mm(cal: Caliper | None, spacing: tuple[float, float]) -> float | None:
    if cal is None:
        return None
    (x0, y0), (x1, y1) = cal
    return float(np.hypot((x1 - x0) * spacing[1], (y1 - y0) * spacing[0]))


def plax_from_calipers(calipers: PlaxCalipers, mm_per_px) -> PlaxLinear:
    """All PLAX values from caliper end points (after automatic placement or a sonographer's edit)."""
    sp = require_spacing(mm_per_px, "PLAX measurements")
    lvidd, lvids = _length_mm(calipers.lvidd, sp), _length_mm(calipers.lvids, sp)
    fs = edv = esv = ef = None
    if lvidd and lvids is not None:
        fs = 100.0 * (lvidd - lvids) / lvidd
        edv, esv = teichholz_volume_ml(lvidd), teichholz_volume_ml(lvids)
        ef = 100.0 * (edv - esv) / edv
    return PlaxLinear(lvidd_mm=lvidd, lvids_mm=lvids, ivsd_mm=_length_mm(calipers.ivsd, sp),
                      lvpwd_mm=_length_mm(calipers.lvpwd, sp), aortic_root_mm=_length_mm(calipers.aortic_root, sp),
                      la_diameter_mm=_length_mm(calipers.la_diameter, sp), fs_pct=fs, teichholz_edv_ml=edv,
                      teichholz_esv_ml=esv, teichholz_ef_pct=ef, calipers=calipers)


def edit_caliper(result: PlaxLinear, name: str, caliper: Caliper, mm_per_px) -> PlaxLinear:
    """Replace one caliper (name: lvidd, lvids, ivsd, lvpwd, aortic_root, la_diameter) and recompute everything."""
    if name not in PlaxCalipers.__dataclass_fields__:
        raise InputError(f"unknown PLAX caliper {name!r}; use one of {', '.join(PlaxCalipers.__dataclass_fields__)}")
    pts = tuple((float(x), float(y)) for x, y in np.asarray(caliper, dtype=float).reshape(2, 2))
    return plax_from_calipers(replace(result.calipers, **{name: pts}), mm_per_px)


def _axis(points_xy: np.ndarray, spacing: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Centroid (px) and unit principal direction (in mm space, returned in mm units) of a point set."""
    pts = points_xy * np.array([spacing[1], spacing[0]])
    c = pts.mean(axis=0)
    w, v = np.linalg.eigh(np.cov((pts - c).T))
    return c, v[:, int(np.argmax(w))]


def _runs_along(mask: np.ndarray, origin_mm: np.ndarray, direction: np.ndarray, spacing, half_len_mm: float,
                step_mm: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """Sample the label mask along origin + t * direction (mm), t in [-half, half]; returns (t, labels)."""
    t = np.arange(-half_len_mm, half_len_mm, step_mm)
    pts = origin_mm[None, :] + t[:, None] * direction[None, :]
    cols = np.round(pts[:, 0] / spacing[1]).astype(int)
    rows = np.round(pts[:, 1] / spacing[0]).astype(int)
    inside = (rows >= 0) & (rows < mask.shape[0]) & (cols >= 0) & (cols < mask.shape[1])
    lab = np.zeros(len(t), dtype=mask.dtype)
    lab[inside] = mask[rows[inside], cols[inside]]
    return t, lab


def _to_px(origin_mm, direction, t, spacing) -> tuple[float, float]:
    p = origin_mm + t * direction
    return (float(p[0] / spacing[1]), float(p[1] / spacing[0]))


def _lv_line(mask: np.ndarray, spacing, level_frac: float):
    """(origin_mm, perpendicular direction pointing away from the transducer, axis) at the measurement level."""
    cav = largest_component(mask == CAVITY)
    if cav.sum() < 30:
        raise InputError("the segmentation has no usable LV cavity on this PLAX frame; place the calipers by hand")
    ys, xs = np.nonzero(cav)
    pts = np.column_stack([xs, ys]).astype(float)
    c, axis = _axis(pts, spacing)
    base_ref = None
    for lab in (AORTIC_ROOT, LEFT_ATRIUM):
        if (mask == lab).sum() >= 20:
            yy, xx = np.nonzero(mask == lab)
            base_ref = np.array([xx.mean() * spacing[1], yy.mean() * spacing[0]])
            break
    u = (pts * np.array([spacing[1], spacing[0]]) - c) @ axis
    if base_ref is not None and (base_ref - c) @ axis > 0:
        axis = -axis
        u = -u
    elif base_ref is None and axis[0] > 0:   # screen convention: LV apex on the left, base on the right
        axis, u = -axis, -u
    origin = c + (u.min() + level_frac * (u.max() - u.min())) * axis
    perp = np.array([-axis[1], axis[0]])
    if perp[1] < 0:                          # point away from the transducer (downwards on screen)
        perp = -perp
    return origin, perp, axis


def lv_line(mask: np.ndarray, mm_per_px, level_frac: float = DEFAULT_LEVEL_FRAC):
    """The measurement line (origin in mm, unit direction away from the transducer) of a PLAX label mask."""
    sp = require_spacing(mm_per_px, "PLAX measurements")
    origin, perp, _ = _lv_line(np.asarray(mask), sp, level_frac)
    return origin, perp


def _cavity_calipers(mask, spacing, line, with_walls: bool):
    origin, perp = line
    t, lab = _runs_along(mask, origin, perp, spacing, 80.0)
    centre = int(np.argmin(np.abs(t)))
    if lab[centre] != CAVITY:
        cav_idx = np.nonzero(lab == CAVITY)[0]
        if cav_idx.size == 0:
            return None, None, None
        centre = int(cav_idx[np.argmin(np.abs(cav_idx - centre))])
    lo = hi = centre
    while lo - 1 >= 0 and lab[lo - 1] == CAVITY:
        lo -= 1
    while hi + 1 < len(t) and lab[hi + 1] == CAVITY:
        hi += 1
    cav_cal = (_to_px(origin, perp, t[lo], spacing), _to_px(origin, perp, t[hi], spacing))
    if not with_walls:
        return cav_cal, None, None
    septum = _wall(t, lab, lo - 1, -1)
    post = _wall(t, lab, hi + 1, +1)
    sep_cal = (_to_px(origin, perp, septum[0], spacing), _to_px(origin, perp, septum[1], spacing)) if septum else None
    post_cal = (_to_px(origin, perp, post[0], spacing), _to_px(origin, perp, post[1], spacing)) if post else None
    return cav_cal, sep_cal, post_cal


def _wall(t, lab, start: int, step: int):
    """The myocardium run that starts right next to the cavity edge (within 2 mm), or None."""
    i = start
    while 0 <= i < len(t) and lab[i] != MYOCARDIUM and abs(t[i] - t[start]) <= 2.0:
        i += step
    if not (0 <= i < len(t)) or lab[i] != MYOCARDIUM:
        return None
    j = i
    while 0 <= j + step < len(t) and lab[j + step] == MYOCARDIUM:
        j += step
    return (t[i - step] if 0 <= i - step < len(t) else t[i], t[j])


def _structure_caliper(mask, spacing, label: int, across: np.ndarray | None) -> Caliper | None:
    """Widest chord of a label across its own long axis (across None) or along ``across`` through its centroid."""
    region = largest_component(mask == label)
    if region.sum() < 20:
        return None
    ys, xs = np.nonzero(region)
    pts = np.column_stack([xs, ys]).astype(float)
    c, axis = _axis(pts, spacing)
    if across is not None:
        t, lab = _runs_along(region.astype(np.uint8), c, across, spacing, 80.0)
        idx = np.nonzero(lab == 1)[0]
        return (_to_px(c, across, t[idx[0]], spacing), _to_px(c, across, t[idx[-1]], spacing)) if idx.size else None
    perp = np.array([-axis[1], axis[0]])
    pm = pts * np.array([spacing[1], spacing[0]])
    u = (pm - c) @ axis
    best = None
    for ui in np.linspace(u.min() + 1.0, u.max() - 1.0, 25):
        t, lab = _runs_along(region.astype(np.uint8), c + ui * axis, perp, spacing, 60.0)
        idx = np.nonzero(lab == 1)[0]
        if idx.size and (best is None or t[idx[-1]] - t[idx[0]] > best[0]):
            best = (t[idx[-1]] - t[idx[0]], c + ui * axis, t[idx[0]], t[idx[-1]])
    if best is None:
        return None
    _, o, t0, t1 = best
    return (_to_px(o, perp, t0, spacing), _to_px(o, perp, t1, spacing))


def lvid_mm(mask: np.ndarray, mm_per_px, line) -> float | None:
    """LV internal dimension (mm) of a mask along a given measurement line (see lv_line), None if no cavity on it."""
    sp = require_spacing(mm_per_px, "PLAX measurements")
    cal, _, _ = _cavity_calipers(np.asarray(mask), sp, line, with_walls=False)
    return _length_mm(cal, sp)


def plax_linear(ed_mask: np.ndarray, es_mask: np.ndarray | None, mm_per_px,
                level_frac: float = DEFAULT_LEVEL_FRAC, ed_image: np.ndarray | None = None) -> PlaxLinear:
    """PLAX linear measurements from the ED (and ES) label masks (H, W). Refused without calibration.

    ed_image: the ED grey frame (H, W) for the aortic root (see device.lv.aortic_root); without it the root comes
    from an aortic-root label if the mask has one.

    Raises InputError when the ED frame has no LV cavity. Values whose structure is not visible are None.
    """
    sp = require_spacing(mm_per_px, "PLAX measurements")
    ed = np.asarray(ed_mask)
    origin, perp, axis = _lv_line(ed, sp, level_frac)
    lvidd, ivsd, lvpwd = _cavity_calipers(ed, sp, (origin, perp), with_walls=True)
    lvids = None
    if es_mask is not None:
        lvids, _, _ = _cavity_calipers(np.asarray(es_mask), sp, (origin, perp), with_walls=False)
    la_src = np.asarray(es_mask) if es_mask is not None else ed
    if ed_image is not None:
        from device.lv.aortic_root import aortic_root_from_image
        root = aortic_root_from_image(ed_image, ed, sp, origin, perp, axis).caliper
    else:
        root = _structure_caliper(ed, sp, AORTIC_ROOT, None)
    cal = PlaxCalipers(lvidd=lvidd, lvids=lvids, ivsd=ivsd, lvpwd=lvpwd, aortic_root=root,
                       la_diameter=_structure_caliper(la_src, sp, LEFT_ATRIUM, perp))
    return plax_from_calipers(cal, sp)
