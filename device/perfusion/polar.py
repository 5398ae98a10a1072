"""Classical polar map: rays from the LV centre, maximum count between endo- and epicardium, rings apex -> base.

``slice_rings`` gives one ring (N_SECTORS maxima) per LV slice; ``rings_to_polar`` resamples the rings of slices
``first..last`` onto the fixed (N_RINGS, N_SECTORS) grid of ``device.perfusion.geometry`` (apical-cap slices onto
the cap rings, the others evenly onto the remaining rings) and scales to percent of the map's maximum.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from device.perfusion.geometry import N_RINGS, N_SECTORS, sector_centres_deg
from device.perfusion.segment import LvSegmentation

RAYS_PER_SECTOR = 2
RADIAL_STEP_PX = 0.5


def _ray_grid(seg: LvSegmentation, zs: np.ndarray, r_max_px: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n_rays = N_SECTORS * RAYS_PER_SECTOR
    th = np.deg2rad((np.arange(n_rays) + 0.5) * 360.0 / n_rays)
    rad = np.arange(0.0, r_max_px, RADIAL_STEP_PX)
    c = seg.centres[zs]  # (nz, 2) row, col
    rows = c[:, 0, None, None] - np.sin(th)[None, :, None] * rad[None, None, :]  # anterior = up = smaller row
    cols = c[:, 1, None, None] + np.cos(th)[None, :, None] * rad[None, None, :]  # lateral = right
    zz = np.broadcast_to(zs[:, None, None].astype(np.float64), rows.shape)
    return zz, rows, cols


def _windows(mask_rays: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First contiguous myocardium run on each ray -> (start, end) sample indices, NaN where the ray has none."""
    any_ = mask_rays.any(-1)
    start = np.argmax(mask_rays, -1).astype(np.float64)
    after = np.cumsum(mask_rays, -1) > 0
    gap = after & ~mask_rays
    end = np.where(gap.any(-1), np.argmax(gap, -1), mask_rays.shape[-1]).astype(np.float64)
    start[~any_] = np.nan
    end[~any_] = np.nan
    return start, end


def _fill_circular(v: np.ndarray) -> np.ndarray:
    """Fill NaNs of each row by circular linear interpolation over the valid rays of that row."""
    out = v.copy()
    n = v.shape[1]
    idx = np.arange(n)
    for i in range(v.shape[0]):
        ok = np.isfinite(v[i])
        if ok.sum() >= max(3, n // 6) and not ok.all():
            xs = idx[ok]
            out[i] = np.interp(idx, np.concatenate([xs - n, xs, xs + n]), np.tile(v[i, ok], 3))
        elif ok.sum() < max(3, n // 6):
            out[i] = np.nan
    return out


def _fill_from_neighbours(v: np.ndarray) -> np.ndarray:
    """Rows still NaN take the nearest valid row (apical slices beyond the segmented apex, defect-wiped slices)."""
    ok = np.isfinite(v).all(1)
    if not ok.any():
        return v
    good = np.flatnonzero(ok)
    out = v.copy()
    for i in np.flatnonzero(~ok):
        out[i] = v[good[np.argmin(np.abs(good - i))]]
    return out


def slice_rings(stack: np.ndarray, seg: LvSegmentation) -> tuple[np.ndarray, np.ndarray]:
    """Per LV slice (first..last) and sector, the maximum count between endo- and epicardium.

    Returns (rings (n_lv, N_SECTORS) float32 counts, windows (n_lv, n_rays, 2) float32 endo/epi radii in px).
    """
    sm = ndimage.gaussian_filter(np.asarray(stack, np.float32), (0.0, 0.5, 0.5))
    zs = np.arange(seg.first, seg.last + 1)
    r_max = 0.45 * min(stack.shape[1:])
    zz, rr, cc = _ray_grid(seg, zs, r_max)
    vals = ndimage.map_coordinates(sm, [zz, rr, cc], order=1, mode="constant", cval=0.0)
    msk = ndimage.map_coordinates(seg.myo_mask.astype(np.float32), [zz, rr, cc], order=0, mode="constant") > 0.5
    start, end = _windows(msk)
    start = _fill_from_neighbours(_fill_circular(start))
    end = _fill_from_neighbours(_fill_circular(end))
    if not np.isfinite(start).all():
        start = np.zeros_like(start)
        end = np.full_like(end, vals.shape[-1])
    k = np.arange(vals.shape[-1])[None, None, :]
    margin = 1.0 / RADIAL_STEP_PX
    inside = (k >= np.floor(start - margin)[..., None]) & (k <= np.ceil(end + margin)[..., None])
    ray_max = np.where(inside, vals, 0.0).max(-1)
    rings = ray_max.reshape(len(zs), N_SECTORS, RAYS_PER_SECTOR).mean(-1)
    windows = np.stack([start, end], -1) * RADIAL_STEP_PX
    return rings.astype(np.float32), windows.astype(np.float32)


def rings_to_polar(rings: np.ndarray) -> np.ndarray:
    """(n_lv, N_SECTORS) per-slice rings (apex first) -> (N_RINGS, N_SECTORS) float32 polar map, percent of max.

    Ring centres are spread evenly over the LV length, so the apical cap (rings < CAP_RINGS) is its apical tenth.
    """
    rings = np.asarray(rings, dtype=np.float64)
    n = rings.shape[0]
    src = (np.arange(N_RINGS) + 0.5) / N_RINGS * n - 0.5
    src = np.clip(src, 0, n - 1)
    lo = np.floor(src).astype(int)
    hi = np.minimum(lo + 1, n - 1)
    f = (src - lo)[:, None]
    out = rings[lo] * (1 - f) + rings[hi] * f
    ref = np.percentile(ndimage.uniform_filter(out, 3, mode="wrap"), 99.5)
    if ref <= 0:
        return np.zeros((N_RINGS, N_SECTORS), np.float32)
    return np.clip(100.0 * out / ref, 0, 150).astype(np.float32)


def sector_angles_deg() -> np.ndarray:
    """(N_SECTORS,) centre angles, re-exported for plotting."""
    return sector_centres_deg()
