"""Myocardium on a short-axis stack: fuzzy c-means on counts per slice (patent 000), the LV chosen among the hot
structures by its ring shape, slices numbered apex -> base, LV centre per slice.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage

from device.errors import InputError

FCM_CLUSTERS = 3
MIN_RING_SLICES = 3


@dataclass(frozen=True)
class LvSegmentation:
    """Result on an apex-first stack of n slices (rows, cols).

    myo_mask: (n, rows, cols) bool myocardium of the LV; first/last: apex and base slice indices (inclusive) of the
    LV; centres: (n, 2) float64 LV centre (row, col) per slice (fitted line, valid for first..last); cavity: (n,) bool
    slice shows an LV cavity; cap_slices: number of apical slices from ``first`` without a cavity; myo_max: robust
    maximum myocardial count; flipped: the input's slice order was base -> apex and has been reversed.
    """

    myo_mask: np.ndarray
    first: int
    last: int
    centres: np.ndarray
    cavity: np.ndarray
    cap_slices: int
    myo_max: float
    flipped: bool


def fcm_1d(values: np.ndarray, n_clusters: int = FCM_CLUSTERS, m: float = 2.0, iters: int = 60,
           bins: int = 96) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fuzzy c-means on scalar values via their histogram. Returns (centres sorted ascending (c,), bin edges,
    memberships (bins, c)) so a value's membership is looked up from its bin."""
    v = np.asarray(values, dtype=np.float64).ravel()
    hist, edges = np.histogram(v, bins=bins)
    x = 0.5 * (edges[:-1] + edges[1:])
    w = hist.astype(np.float64)
    centres = np.quantile(v, np.linspace(0.5, 0.995, n_clusters))
    u = np.full((bins, n_clusters), 1.0 / n_clusters)
    for _ in range(iters):
        d = np.abs(x[:, None] - centres[None, :]) + 1e-9
        inv = d ** (-2.0 / (m - 1))
        u = inv / inv.sum(1, keepdims=True)
        um = (u ** m) * w[:, None]
        new = (um * x[:, None]).sum(0) / np.maximum(um.sum(0), 1e-12)
        if np.allclose(new, centres, atol=1e-4 * (x[-1] - x[0] + 1e-9)):
            centres = new
            break
        centres = new
    order = np.argsort(centres)
    return centres[order], edges, u[:, order]


def slice_myocardium(sl: np.ndarray, floor: float) -> np.ndarray:
    """(rows, cols) bool: pixels whose membership of the hottest fuzzy cluster exceeds 0.5 (and above ``floor``)."""
    vals = sl[sl > 0]
    if vals.size < 16 or vals.max() < floor:
        return np.zeros(sl.shape, bool)
    centres, edges, u = fcm_1d(vals)
    if centres[-1] < floor:
        return np.zeros(sl.shape, bool)
    b = np.clip(np.searchsorted(edges, sl, side="right") - 1, 0, len(edges) - 2)
    return (u[b, -1] > 0.5) & (sl >= floor)


def _ring_info(mask2d: np.ndarray, sl: np.ndarray) -> tuple[bool, float, float, float]:
    """(has_cavity, centre row, centre col, outer radius px) of one slice's myocardium.

    The centre is a least-squares circle fitted to the myocardium pixels, so a ring opened by a defect (a "C")
    still has the right centre; a cavity is a cold centre (< 65 % of the mean myocardial count) inside a circle of
    radius >= 2.5 px. The outer radius is that of the mask's convex hull (also robust to open rings).
    """
    pts = np.argwhere(mask2d).astype(np.float64)
    if len(pts) < 5:
        return False, np.nan, np.nan, 0.0
    hull = cv2.convexHull(pts[:, ::-1].astype(np.float32))
    r_out = float(np.sqrt(max(cv2.contourArea(hull), 1.0) / np.pi))
    y, x = pts[:, 0], pts[:, 1]
    a = np.stack([y, x, np.ones_like(y)], 1)
    try:
        sol, *_ = np.linalg.lstsq(a, y * y + x * x, rcond=None)
    except np.linalg.LinAlgError:
        sol = None
    cy0, cx0 = float(y.mean()), float(x.mean())
    if sol is not None:
        cy, cx = sol[0] / 2, sol[1] / 2
        r2 = sol[2] + cy * cy + cx * cx
        if r2 > 0 and np.hypot(cy - cy0, cx - cx0) < r_out:
            r = float(np.sqrt(r2))
            iy, ix = int(round(cy)), int(round(cx))
            inside = 0 <= iy < sl.shape[0] and 0 <= ix < sl.shape[1]
            centre = sl[max(iy - 1, 0): iy + 2, max(ix - 1, 0): ix + 2] if inside else sl[:0, :0]
            if inside and r >= 2.5 and centre.size and centre.mean() < 0.65 * sl[mask2d].mean() \
                    and not mask2d[iy, ix]:
                return True, float(cy), float(cx), r_out
    return False, cy0, cx0, r_out


def segment_lv(counts: np.ndarray) -> tuple[np.ndarray, LvSegmentation]:
    """Find the LV myocardium in a short-axis stack (n, rows, cols) of non-negative counts.

    Returns the stack re-ordered apex first (float32) and its segmentation. Raises InputError when no ring-shaped
    myocardium (an LV) is present.
    """
    vol = np.asarray(counts, dtype=np.float32)
    sm = ndimage.gaussian_filter(vol, 0.7)
    ref = float(np.percentile(sm, 99.9))
    if not np.isfinite(ref) or ref <= 0:
        raise InputError("the volume has no counts; load the reconstructed perfusion study, not an empty series")
    floor = 0.25 * ref
    mask = np.stack([slice_myocardium(s, floor) for s in sm])
    lab, n = ndimage.label(mask)
    if n == 0:
        raise InputError("no myocardium found (no hot structure); check that this is a cardiac perfusion study")
    sizes = ndimage.sum(mask, lab, range(1, n + 1))
    best, best_score, best_info = 0, 0.0, None
    for k in np.argsort(sizes)[::-1][:6]:
        if sizes[k] < 60:
            break
        comp = lab == k + 1
        zs = np.flatnonzero(comp.any(axis=(1, 2)))
        info = {z: _ring_info(comp[z], sm[z]) for z in zs}
        rings = sum(1 for z in zs if info[z][0])
        score = rings * float(sm[comp].mean())
        if rings >= MIN_RING_SLICES and score > best_score:
            best, best_score, best_info = k + 1, score, info
    if best_info is None:
        raise InputError("no left ventricle found: no ring-shaped myocardium on 3 or more slices; the series may "
                         "not be a short-axis perfusion study (try --orientation transaxial) or holds no heart")
    comp = lab == best
    zs = np.array(sorted(best_info))
    cav = np.array([best_info[z][0] for z in zs])
    rad = np.array([best_info[z][3] for z in zs])
    # Apex end: the radius grows toward the base; the apical cap (no cavity) confirms it.
    slope = np.polyfit(zs, rad, 1)[0] if len(zs) > 2 else 0.0
    cap_lo = int(np.argmax(cav)) if cav.any() else 0
    cap_hi = int(np.argmax(cav[::-1])) if cav.any() else 0
    flipped = cap_hi > cap_lo or (cap_hi == cap_lo and slope < 0)
    if flipped:
        vol, sm, comp = vol[::-1].copy(), sm[::-1].copy(), comp[::-1].copy()
        nz = vol.shape[0]
        zs = (nz - 1 - zs)[::-1]
        cav = cav[::-1]
        best_info = {nz - 1 - z: v for z, v in best_info.items()}
    first, last = int(zs[0]), int(zs[-1])
    myo_max = float(np.percentile(sm[comp], 98))
    first = _extend_apex(sm, comp, best_info, first, myo_max)
    centres = _centre_line(best_info, first, last, vol.shape[0])
    cavity = np.zeros(vol.shape[0], bool)
    for z, v in best_info.items():
        cavity[z] = v[0]
    cap = 0
    while first + cap <= last and not cavity[first + cap]:
        cap += 1
    return vol, LvSegmentation(comp, first, last, centres, cavity, cap, myo_max, bool(flipped))


def _centre_line(info: dict, first: int, last: int, nz: int) -> np.ndarray:
    """Least-squares line through the cavity centres (all slices' centroids if too few cavities)."""
    pts = [(z, v[1], v[2]) for z, v in info.items() if v[0]]
    if len(pts) < 2:
        pts = [(z, v[1], v[2]) for z, v in info.items() if np.isfinite(v[1])]
    p = np.asarray(pts, dtype=np.float64)
    z = np.arange(nz, dtype=np.float64)
    if len(p) >= 2 and np.ptp(p[:, 0]) > 0:
        fr = np.polyfit(p[:, 0], p[:, 1], 1)
        fc = np.polyfit(p[:, 0], p[:, 2], 1)
        return np.stack([np.polyval(fr, z), np.polyval(fc, z)], 1)
    return np.tile(p[:, 1:].mean(0), (nz, 1))


def _extend_apex(sm: np.ndarray, comp: np.ndarray, info: dict, first: int, myo_max: float) -> int:
    """Walk apically past the segmented apex while a hot spot (>= 50 % of myocardial max) sits on the LV centre
    line: a severe apical defect removes the apex from the hottest fuzzy cluster but not from the heart."""
    v = info[first]
    if not np.isfinite(v[1]):
        return first
    rr, cc = np.ogrid[: sm.shape[1], : sm.shape[2]]
    disc = (rr - v[1]) ** 2 + (cc - v[2]) ** 2 <= max(v[3], 3.0) ** 2
    z = first
    while z - 1 >= 0 and sm[z - 1][disc].max() >= 0.5 * myo_max and first - (z - 1) <= 4:
        z -= 1
    return z
