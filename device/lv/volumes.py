"""Apical LV volumes by the method of discs (ASE/EACVI): single-plane (A4C or A2C) or biplane (A4C + A2C).

A trace is the closed endocardial contour of the cavity (closed across the mitral annulus), its apex and the two
mitral annulus points. The long axis runs from the annulus midpoint to the apex and is cut into 20 discs; a disc's
diameter is the width of the contour across the axis at the disc's middle.
Single plane: V = pi/4 * sum(d_i^2) * L/20.  Biplane: V = pi/4 * sum(a_i * b_i) * L/20 with L the longer axis.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from device.errors import InputError
from device.lv import CAVITY, LEFT_ATRIUM
from device.lv.calibration import require_spacing
from device.lv.indices import largest_component

N_DISCS = 20


@dataclass(frozen=True)
class ApicalTrace:
    """An endocardial trace on one apical frame, in image pixels (x = column, y = row).

    contour_xy: (N, 2) float polygon, closed implicitly; apex_xy: (x, y); annulus_xy: ((x, y), (x, y)).
    """

    contour_xy: tuple[tuple[float, float], ...]
    apex_xy: tuple[float, float]
    annulus_xy: tuple[tuple[float, float], tuple[float, float]]

    def moved(self, *, contour_xy=None, apex_xy=None, annulus_xy=None) -> "ApicalTrace":
        """A copy with some points replaced (a sonographer dragging them); the numbers are recomputed by callers."""
        return ApicalTrace(
            contour_xy=_pts(contour_xy) if contour_xy is not None else self.contour_xy,
            apex_xy=tuple(map(float, apex_xy)) if apex_xy is not None else self.apex_xy,  # type: ignore[arg-type]
            annulus_xy=_pts(annulus_xy) if annulus_xy is not None else self.annulus_xy,  # type: ignore[arg-type]
        )


@dataclass(frozen=True)
class Discs:
    """Disc diameters (mm) of one trace along its long axis (mm)."""

    diameters_mm: tuple[float, ...]
    length_mm: float
    area_mm2: float


@dataclass(frozen=True)
class ApicalVolumes:
    """EDV, ESV (mL), SV (mL) and EF (%) by the method of discs."""

    edv_ml: float
    esv_ml: float
    sv_ml: float
    ef_pct: float
    method: str                      # "biplane" or "single-plane A4C" / "single-plane A2C"
    ed_length_mm: float
    es_length_mm: float


def _pts(points) -> tuple:
    arr = np.asarray(points, dtype=float)
    return tuple((float(x), float(y)) for x, y in arr.reshape(-1, 2))


def trace_from_mask(mask: np.ndarray) -> ApicalTrace:
    """The cavity trace of an apical label mask (H, W; 1 cavity, 3 left atrium where visible).

    The annulus is where the cavity touches the left atrium; without an atrium label the base is the end of the
    cavity's long axis away from the transducer (the top of an apical image is the apex). Raises InputError when
    the cavity is empty or too small to trace.
    """
    cav = largest_component(np.asarray(mask) == CAVITY)
    if cav.sum() < 30:
        raise InputError("the segmentation has no usable LV cavity on this frame; trace it by hand or pick another frame")
    contours, _ = cv2.findContours(cav.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    contour = max(contours, key=cv2.contourArea).reshape(-1, 2).astype(float)
    la = np.asarray(mask) == LEFT_ATRIUM
    base_pts = None
    if la.sum() >= 20:
        near_la = cv2.dilate(la.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
        on = near_la[contour[:, 1].astype(int), contour[:, 0].astype(int)]
        if on.sum() >= 3:
            base_pts = contour[on]
    if base_pts is None:   # no atrium: the long axis (principal axis) runs from the top (transducer, apex) down
        c0 = contour.mean(axis=0)
        w, v = np.linalg.eigh(np.cov((contour - c0).T))
        ax = v[:, int(np.argmax(w))]
        ax = ax if ax[1] > 0 else -ax
        u = (contour - c0) @ ax
        base_pts = contour[u >= u.max() - 0.05 * (u.max() - u.min())]
    mid = base_pts.mean(axis=0)
    apex = contour[np.argmax(np.hypot(*(contour - mid).T))]
    axis = (apex - mid) / max(np.hypot(*(apex - mid)), 1e-9)
    perp = np.array([-axis[1], axis[0]])
    v = (base_pts - mid) @ perp
    annulus = (base_pts[np.argmin(v)], base_pts[np.argmax(v)])
    return ApicalTrace(contour_xy=_pts(contour), apex_xy=(float(apex[0]), float(apex[1])), annulus_xy=_pts(annulus))


def discs(trace: ApicalTrace, mm_per_px, n_discs: int = N_DISCS) -> Discs:
    """Disc diameters of a trace (see module docstring). Raises InputError on a degenerate trace."""
    row_mm, col_mm = require_spacing(mm_per_px, "apical volumes")
    scale = np.array([col_mm, row_mm])
    poly = np.asarray(trace.contour_xy, dtype=float).reshape(-1, 2) * scale
    if len(poly) < 3:
        raise InputError("the LV trace needs at least 3 points")
    apex = np.asarray(trace.apex_xy, dtype=float) * scale
    base = np.asarray(trace.annulus_xy, dtype=float).reshape(2, 2).mean(axis=0) * scale
    length = float(np.hypot(*(apex - base)))
    if length < 5.0:
        raise InputError(f"the LV long axis is only {length:.1f} mm; check the apex and mitral annulus points")
    axis = (apex - base) / length
    perp = np.array([-axis[1], axis[0]])
    u = (poly - base) @ axis
    v = (poly - base) @ perp
    u2, v2 = np.roll(u, -1), np.roll(v, -1)
    diam = []
    for i in range(n_discs):
        ui = (i + 0.5) * length / n_discs
        cross = (u - ui) * (u2 - ui) <= 0
        cross &= u != u2
        if cross.sum() < 2:
            diam.append(0.0)
            continue
        t = (ui - u[cross]) / (u2[cross] - u[cross])
        vi = v[cross] + t * (v2[cross] - v[cross])
        diam.append(float(vi.max() - vi.min()))
    area = 0.5 * abs(float(np.dot(poly[:, 0], np.roll(poly[:, 1], -1)) - np.dot(poly[:, 1], np.roll(poly[:, 0], -1))))
    return Discs(diameters_mm=tuple(diam), length_mm=length, area_mm2=area)


def volume_ml(a: Discs, b: Discs | None = None) -> float:
    """Single-plane (b None) or biplane volume in mL from disc diameters."""
    da = np.asarray(a.diameters_mm)
    if b is None:
        return float(np.pi / 4.0 * np.sum(da ** 2) * a.length_mm / len(da) / 1000.0)
    db = np.asarray(b.diameters_mm)
    if len(da) != len(db):
        raise InputError("biplane volumes need the same number of discs in both views")
    length = max(a.length_mm, b.length_mm)
    return float(np.pi / 4.0 * np.sum(da * db) * length / len(da) / 1000.0)


def apical_volumes(ed_a4c: ApicalTrace | None, es_a4c: ApicalTrace | None, mm_per_px_a4c=None,
                   ed_a2c: ApicalTrace | None = None, es_a2c: ApicalTrace | None = None,
                   mm_per_px_a2c=None) -> ApicalVolumes:
    """EDV, ESV, SV, EF from ED and ES traces of A4C and/or A2C (biplane when both views have both frames).

    Each view has its own calibration (mm per pixel); a missing calibration is refused (InputError).
    """
    have4 = ed_a4c is not None and es_a4c is not None
    have2 = ed_a2c is not None and es_a2c is not None
    if not (have4 or have2):
        raise InputError("apical volumes need an ED and an ES trace of A4C or A2C")
    if have4 and have2:
        d = [discs(t, mm_per_px_a4c) for t in (ed_a4c, es_a4c)]
        e = [discs(t, mm_per_px_a2c) for t in (ed_a2c, es_a2c)]
        edv, esv = volume_ml(d[0], e[0]), volume_ml(d[1], e[1])
        method, led, les = "biplane", max(d[0].length_mm, e[0].length_mm), max(d[1].length_mm, e[1].length_mm)
    else:
        view = "A4C" if have4 else "A2C"
        ed, es, cal = (ed_a4c, es_a4c, mm_per_px_a4c) if have4 else (ed_a2c, es_a2c, mm_per_px_a2c)
        d = [discs(t, cal) for t in (ed, es)]  # type: ignore[arg-type]
        edv, esv = volume_ml(d[0]), volume_ml(d[1])
        method, led, les = f"single-plane {view}", d[0].length_mm, d[1].length_mm
    if edv <= 0:
        raise InputError("the end-diastolic volume is zero; the ED trace does not enclose a cavity")
    sv = edv - esv
    return ApicalVolumes(edv_ml=edv, esv_ml=esv, sv_ml=sv, ef_pct=100.0 * sv / edv, method=method,
                         ed_length_mm=led, es_length_mm=les)
