"""Chamber segmentation and chamber geometry for the apical right-heart and atrial measurements (issue 14 part 2).

Pure helpers of :mod:`device.echo.right_heart`. Geometry works on polygons in mm (x right, y down) and a heart axis
(unit vector from the apex toward the base), so the same definitions score a measured contour and the simulator's
true chamber outline (device/eval/echo_2d_chambers.py):

- :func:`chord_at`: the chord of the polygon perpendicular to the axis at a fraction of its extent along the axis
  (0 = the apical end, 1 = the basal end);
- :func:`basal_width`: the widest such chord in the basal third (ASE 2015 RV basal diameter), :func:`chord_at` at 0.5
  the mid diameter / atrial minor axis;
- :func:`long_chord`: the chord along the axis through the centroid (atrial length);
- :func:`lateral_annulus`: the basal lateral corner of the RV (the tricuspid lateral annulus, for TAPSE).
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage as ndi

LEVEL = 0.35                            # blood: smoothed grey below LEVEL x the fan's 80th-percentile grey
EDGE_MM = 3.0                           # a region this close to the fan's edge is cut off by it
MAX_MM2 = 4000.0                        # larger dark regions are not one chamber (far field, drop-out)
GROW_LEVEL = 0.8                        # ... then grown up to GROW_MM into pixels below GROW_LEVEL x that grey
GROW_MM = 3.0
MIN_SOLIDITY = 0.85                     # area / convex hull: chambers are nearly convex
Chord = tuple[np.ndarray, np.ndarray]   # two points (x, y) in mm


def axis_of(mask_or_pts: np.ndarray) -> np.ndarray:
    """Principal axis (unit, pointing down-screen: from the apex at the top toward the base) of points (N, 2) mm."""
    p = np.asarray(mask_or_pts, float)
    c = p - p.mean(axis=0)
    w, v = np.linalg.eigh(c.T @ c)
    a = v[:, int(np.argmax(w))]
    return a if a[1] >= 0 else -a


def _frame(poly: np.ndarray, axis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    perp = np.array([-axis[1], axis[0]])
    return np.stack([poly @ axis, poly @ perp], axis=1), perp


def _cross(uv: np.ndarray, u0: float) -> np.ndarray:
    """v of the polygon's edges crossing u = u0."""
    a, b = uv, np.roll(uv, -1, axis=0)
    hit = (a[:, 0] - u0) * (b[:, 0] - u0) <= 0
    hit &= a[:, 0] != b[:, 0]
    a, b = a[hit], b[hit]
    t = (u0 - a[:, 0]) / (b[:, 0] - a[:, 0])
    return a[:, 1] + t * (b[:, 1] - a[:, 1])


def chord_at(poly: np.ndarray, axis: np.ndarray, frac: float) -> Chord | None:
    """Chord perpendicular to ``axis`` at ``frac`` of the polygon's extent along it (mm points), None if none."""
    uv, perp = _frame(np.asarray(poly, float), axis)
    u0 = uv[:, 0].min() + frac * (uv[:, 0].max() - uv[:, 0].min())
    v = _cross(uv, u0)
    if len(v) < 2:
        return None
    return u0 * axis + v.min() * perp, u0 * axis + v.max() * perp


def basal_width(poly: np.ndarray, axis: np.ndarray) -> Chord | None:
    """Widest perpendicular chord in the basal third (fractions 0.67-0.95)."""
    best = None
    for f in np.linspace(0.67, 0.95, 15):
        ch = chord_at(poly, axis, float(f))
        if ch is not None and (best is None or np.hypot(*(ch[1] - ch[0])) > np.hypot(*(best[1] - best[0]))):
            best = ch
    return best


def long_chord(poly: np.ndarray, axis: np.ndarray) -> Chord | None:
    """Chord along ``axis`` through the polygon's area centroid."""
    p = np.asarray(poly, float)
    perp = np.array([-axis[1], axis[0]])
    cen = centroid(p)
    uv = np.stack([p @ perp, p @ axis], axis=1)     # cut across the axis at the centroid
    u0 = float(cen @ perp)
    v = _cross(uv, u0)
    if len(v) < 2:
        return None
    return u0 * perp + v.min() * axis, u0 * perp + v.max() * axis


def centroid(poly: np.ndarray) -> np.ndarray:
    p = np.asarray(poly, float)
    x, y = p[:, 0], p[:, 1]
    cr = x * np.roll(y, -1) - np.roll(x, -1) * y
    a = cr.sum() / 2
    if abs(a) < 1e-9:
        return p.mean(axis=0)
    return np.array([((x + np.roll(x, -1)) * cr).sum(), ((y + np.roll(y, -1)) * cr).sum()]) / (6 * a)


def lateral_annulus(poly: np.ndarray, axis: np.ndarray, lateral: np.ndarray) -> np.ndarray:
    """The polygon point farthest toward the base and the free wall (``lateral``: unit, away from the septum)."""
    p = np.asarray(poly, float)
    return p[int(np.argmax(p @ axis + 0.5 * (p @ lateral)))]


def chambers(frame: np.ndarray, fan: np.ndarray, sp: tuple[float, float], min_mm2: float = 150.0,
             level: float = LEVEL) -> list[tuple[np.ndarray, bool]]:
    """Enclosed dark (blood) regions of one frame inside the fan, largest first: (boolean mask, cut). A region
    within EDGE_MM of the fan's edge (a chamber cut off by the sector, or the dark far field) is left out, so
    ``cut`` is always False here (kept in the record for a caller that marks cut chambers)."""
    to_edge = ndi.distance_transform_edt(fan, sampling=sp)
    inner = to_edge > 1.0
    if inner.sum() < 500:
        return []
    sig = (1.0 / sp[0], 1.0 / sp[1])                 # 1 mm
    g = ndi.gaussian_filter(frame.astype(np.float32), sig)
    tissue = max(float(np.percentile(g[inner], 80)), 1.0)
    dark = ndi.binary_opening((g < level * tissue) & inner, iterations=2)
    lab, n = ndi.label(dark)
    if n == 0:
        return []
    idx = np.arange(1, n + 1)
    sizes = ndi.sum(np.ones_like(lab), lab, index=idx) * sp[0] * sp[1]
    near = ndi.minimum(to_edge, lab, index=idx)
    out = [(float(s), i + 1, False) for i, s in enumerate(sizes)
           if min_mm2 <= s <= MAX_MM2 and near[i] >= EDGE_MM]
    out.sort(key=lambda t: -t[0])
    keep = np.isin(lab, [k for _, k, _ in out])
    lab = np.where(keep, lab, 0)
    hi = (g < GROW_LEVEL * tissue) & inner               # grow into the blurred edge, never into another region
    for _ in range(int(round(GROW_MM / min(sp)))):
        dil = ndi.grey_dilation(lab, size=3)
        new = (lab == 0) & hi & (dil > 0)
        if not new.any():
            break
        lab[new] = dil[new]
    masks = [(ndi.binary_fill_holes(lab == k), cut) for _, k, cut in out]
    return [(m, c) for m, c in masks if solidity(m) >= MIN_SOLIDITY]


def solidity(mask: np.ndarray) -> float:
    """Area over convex-hull area (a chamber is nearly convex; a crescent of pericardial space is not)."""
    cs, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not cs:
        return 0.0
    hull = cv2.contourArea(cv2.convexHull(max(cs, key=cv2.contourArea)))
    return float(mask.sum() / hull) if hull > 0 else 0.0


def outline_mm(mask: np.ndarray, sp: tuple[float, float]) -> np.ndarray:
    """The mask's outer contour as a polygon in mm (x, y), lightly simplified (about 1 px)."""
    cs, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    c = max(cs, key=cv2.contourArea)
    c = cv2.approxPolyDP(c, 0.8, True).reshape(-1, 2).astype(float)
    return c * np.array([sp[1], sp[0]])


def pixels_mm(mask: np.ndarray, sp: tuple[float, float]) -> np.ndarray:
    r, c = np.nonzero(mask)
    return np.stack([c * sp[1], r * sp[0]], axis=1).astype(float)
