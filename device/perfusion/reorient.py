"""Transaxial (or any oblique) perfusion volume -> short-axis stack, from an estimate of the LV long axis.

Steps: (1) the hottest fuzzy cluster of the whole volume gives candidate structures; the LV is the one whose
centroid is cold (a shell around a cavity); a hotter liver or gut is removed and the search repeated, touching
structures are split by erosion, and walls dimmed by a defect are taken back down to 35 % of the LV maximum;
(2) the long axis is the direction (searched over a hemisphere, then refined locally) along which the LV's
cross-sections are most like circles of one radius (a surface of revolution); (3) the apex is the narrow end, and
``reorient_to_short_axis`` turns the axis round if the slice numbering (cap, radius trend) disagrees.
The in-plane frame follows the standard display: anterior (patient -y in DICOM LPS) up, lateral (right-handed
completion, toward patient left) to the right.

All vectors are in patient LPS millimetres ``(x, y, z)``; a volume is ``(nz, ny, nx)`` and ``direction`` holds the
LPS unit vector of each index axis (rows: z, y, x).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from device.errors import InputError
from device.perfusion.segment import fcm_1d, segment_lv

DEFAULT_DIRECTION = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])  # z->S, y->P, x->L
SA_ANGLE_DEG = 25.0


@dataclass(frozen=True)
class AxisEstimate:
    """centre_lps: LV centre (3,) mm; apex_lps: unit long axis base -> apex; angle_to_slices_deg: angle between the
    long axis and the volume's slice axis (small = already short axis)."""

    centre_lps: np.ndarray
    apex_lps: np.ndarray
    angle_to_slices_deg: float


def _index_to_lps(spacing: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """3x3 matrix M with lps = M @ (iz, iy, ix) (origin at index 0)."""
    return (direction * spacing[:, None]).T


def _lv_component(vol: np.ndarray) -> np.ndarray:
    sm = ndimage.gaussian_filter(vol.astype(np.float32), 1.0)
    ref = float(np.percentile(sm, 99.9))
    if not np.isfinite(ref) or ref <= 0:
        raise InputError("the volume has no counts; load the reconstructed perfusion study, not an empty series")
    work = sm.copy()
    removed = np.zeros(sm.shape, bool)
    best = hot = None
    for _ in range(3):  # a liver or gut hotter than the heart: remove the hottest solid structure and look again
        best, hot = _find_shell(work)
        if best is not None:
            break
        lab, n = ndimage.label(hot)
        if n == 0:
            break
        sizes = ndimage.sum(hot, lab, range(1, n + 1))
        blob = ndimage.binary_dilation(lab == int(np.argmax(sizes)) + 1, iterations=2)
        work[blob] = 0.0
        removed |= blob
    if best is None:
        raise InputError("no left ventricle found (no hot shell around a cold cavity); the volume holds no heart or "
                         "is not a perfusion study")
    # Walls with a severe defect fall out of the hottest cluster; take back everything above 35 % of the LV's own
    # maximum within 3 voxels of it, but none of the other hot structures.
    lv_max = float(np.percentile(sm[best], 98))
    near = ndimage.binary_dilation(best, iterations=3)
    others = (ndimage.binary_dilation(hot & ~best, iterations=1) | removed) & ~best
    wide = near & (sm > 0.35 * lv_max) & ~others
    lab, _ = ndimage.label(wide)
    keep = np.unique(lab[best])
    return np.isin(lab, keep[keep > 0])


def _find_shell(sm: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
    """(LV shell or None, hot mask): hottest fuzzy cluster of the volume, split by erosion when structures touch."""
    ref = float(np.percentile(sm, 99.9))
    vals = sm[sm > 0.1 * ref]
    centres, edges, u = fcm_1d(vals)
    b = np.clip(np.searchsorted(edges, sm, side="right") - 1, 0, len(edges) - 2)
    hot = (u[b, -1] > 0.5) & (sm > 0.25 * ref)
    for erode in (0, 1, 2):  # touching hot neighbours (liver, gut) are split off by eroding first
        core = ndimage.binary_erosion(hot, iterations=erode) if erode else hot
        best = _coldest_shell(core, sm)
        if best is not None:
            return (ndimage.binary_dilation(best, iterations=erode) & hot if erode else best), hot
    return None, hot


def _coldest_shell(hot: np.ndarray, sm: np.ndarray) -> np.ndarray | None:
    """The largest hot component whose centroid is cold (a shell around a cavity), or None."""
    lab, n = ndimage.label(hot)
    best, best_score = None, 0.0
    sizes = ndimage.sum(hot, lab, range(1, n + 1)) if n else []
    for k in np.argsort(sizes)[::-1][:6]:
        if sizes[k] < 60:
            break
        comp = lab == k + 1
        c = np.array(ndimage.center_of_mass(comp))
        ci = tuple(np.clip(np.round(c).astype(int), 0, np.array(sm.shape) - 1))
        cold = 1.0 - sm[ci] / float(sm[comp].mean())
        score = sizes[k] * cold
        if cold > 0.3 and score > best_score:
            best, best_score = comp, score
    return best


def _fibonacci_hemisphere(n: int) -> np.ndarray:
    i = np.arange(n) + 0.5
    z = i / n  # upper hemisphere: an axis and its opposite are the same line
    phi = np.pi * (1 + 5 ** 0.5) * i
    r = np.sqrt(1 - z * z)
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], 1)


def _revolution_score(pts: np.ndarray, dirs: np.ndarray, bin_mm: float = 6.0) -> np.ndarray:
    """Per direction: mean within-slab variance of the distance of shell points from the slab's centre.

    A surface of revolution (the LV wall) scores lowest when the direction is its axis."""
    out = np.empty(len(dirs))
    for k, u in enumerate(dirs):
        e1 = np.cross(u, [1.0, 0, 0] if abs(u[0]) < 0.9 else [0, 1.0, 0])
        e1 /= np.linalg.norm(e1)
        e2 = np.cross(u, e1)
        t = pts @ u
        q = np.stack([pts @ e1, pts @ e2], 1)
        b = np.floor((t - t.min()) / bin_mm).astype(int)
        nb = b.max() + 1
        cnt = np.bincount(b, minlength=nb).astype(np.float64)
        cx = np.bincount(b, q[:, 0], nb) / np.maximum(cnt, 1)
        cy = np.bincount(b, q[:, 1], nb) / np.maximum(cnt, 1)
        r = np.hypot(q[:, 0] - cx[b], q[:, 1] - cy[b])
        mr = np.bincount(b, r, nb) / np.maximum(cnt, 1)
        out[k] = np.sum((r - mr[b]) ** 2) / len(r)
    return out


def estimate_long_axis(vol: np.ndarray, spacing_mm: tuple[float, float, float],
                       direction: np.ndarray | None = None) -> AxisEstimate:
    """Estimate the LV centre and long axis (a line; the apex side is settled when slices are numbered) of a
    volume, in LPS mm (see module docstring)."""
    vol = np.asarray(vol, np.float32)
    d = DEFAULT_DIRECTION if direction is None else np.asarray(direction, np.float64)
    m = _index_to_lps(np.asarray(spacing_mm, np.float64), d)
    comp = _lv_component(vol)
    pts = np.argwhere(comp).astype(np.float64) @ m.T
    if len(pts) > 6000:
        pts = pts[np.random.default_rng(0).choice(len(pts), 6000, replace=False)]
    c = pts.mean(0)
    pts = pts - c
    dirs = _fibonacci_hemisphere(600)
    scores = _revolution_score(pts, dirs)
    starts: list[np.ndarray] = []
    for k in np.argsort(scores):  # the best direction (kept as a list: more starts did not help)
        if all(abs(dirs[k] @ s0) < np.cos(np.radians(25)) for s0 in starts):
            starts.append(dirs[k])
        if len(starts) == 1:
            break
    rng = np.random.default_rng(1)
    cands = []
    for best in starts:
        for spread in (0.08, 0.03):
            cand = best + rng.normal(0, spread, (60, 3))
            cand = np.vstack([best, cand / np.linalg.norm(cand, axis=1, keepdims=True)])
            best = cand[int(np.argmin(_revolution_score(pts, cand)))]
        cands.append(best / np.linalg.norm(best))
    axis = cands[0]
    # the apex side: the LV centroid lies toward the wide base, so the apex is the far end from it along the axis
    t = pts @ axis
    if np.median(t) - t.min() > t.max() - np.median(t):
        axis = -axis
    slice_dir = d[0] / np.linalg.norm(d[0])
    angle = float(np.degrees(np.arccos(np.clip(abs(axis @ slice_dir), 0, 1))))
    return AxisEstimate(c, axis, angle)


def sa_frame(apex_lps: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lateral, anterior, apex) unit vectors in LPS for a long axis; anterior is patient anterior (-y) projected."""
    w = apex_lps / np.linalg.norm(apex_lps)
    ant = np.array([0.0, -1.0, 0.0]) - (np.array([0.0, -1.0, 0.0]) @ w) * w
    if np.linalg.norm(ant) < 1e-3:  # axis along anterior-posterior: use superior as "up"
        ant = np.array([0.0, 0.0, 1.0]) - w[2] * w
    ant /= np.linalg.norm(ant)
    return np.cross(ant, w), ant, w


def resample_short_axis(vol: np.ndarray, m: np.ndarray, centre: np.ndarray, apex: np.ndarray, n: int,
                        step_mm: float) -> np.ndarray:
    """(n, n, n) float32 SA stack centred on ``centre``: slice 0 toward the apex, rows anterior -> inferior,
    columns septal -> lateral; linear interpolation; m maps index -> LPS."""
    lat, ant, w = sa_frame(apex)
    g = (np.arange(n) - (n - 1) / 2.0) * step_mm
    kk, rr, cc = np.meshgrid(g, g, g, indexing="ij")
    lps = centre + (-kk)[..., None] * w + (-rr)[..., None] * ant + cc[..., None] * lat
    idx = np.linalg.solve(m, lps.reshape(-1, 3).T)
    out = ndimage.map_coordinates(vol, idx, order=1, mode="constant", cval=0.0)
    return out.reshape(n, n, n).astype(np.float32)


def reorient_to_short_axis(vol: np.ndarray, spacing_mm: tuple[float, float, float],
                           direction: np.ndarray | None = None, n: int = 64) -> tuple[np.ndarray, float, AxisEstimate]:
    """Short-axis stack (n, n, n) float32 with isotropic voxels (the finest input spacing), apex first."""
    d = DEFAULT_DIRECTION if direction is None else np.asarray(direction, np.float64)
    est = estimate_long_axis(vol, spacing_mm, d)
    m = _index_to_lps(np.asarray(spacing_mm, np.float64), d)
    step = float(min(spacing_mm))
    sa = resample_short_axis(np.asarray(vol, np.float32), m, est.centre_lps, est.apex_lps, n, step)
    try:
        _, seg = segment_lv(sa)
    except InputError:
        raise InputError("the volume could not be re-oriented to short axis: no LV ring appears across the "
                         "estimated long axis; give a short-axis series or check the study") from None
    if seg.flipped:  # the apex lies the other way: turn the axis round so the in-plane frame stays standard
        est = AxisEstimate(est.centre_lps, -est.apex_lps, est.angle_to_slices_deg)
        sa = resample_short_axis(np.asarray(vol, np.float32), m, est.centre_lps, est.apex_lps, n, step)
    return sa, step, est
