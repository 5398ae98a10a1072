"""Trace ink: a mask of the dark printed signal with the grid, shadows and coloured ink removed.

Works on the flattened image, where grid lines sit at known positions (multiples of ``grid_px``): along those
lines, only darkness that exceeds the line's own darkness (a morphological opening along the line) counts as trace.
"""

from __future__ import annotations

import cv2
import numpy as np


def darkness(rgb: np.ndarray, px_per_mm: float, v: np.ndarray | None = None) -> np.ndarray:
    """float32 (H, W) in [0, 1]: 1 - brightness / local paper brightness (paper white estimated over ~3 mm).
    ``v`` the HSV value channel when already computed."""
    if v is None:
        v = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)[..., 2]
    h, w = v.shape
    small = cv2.resize(v, (w // 4, h // 4), interpolation=cv2.INTER_AREA)
    k = max(3, int(0.75 * px_per_mm) | 1)
    bg = cv2.blur(cv2.dilate(small, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k))), (k, k))
    bg = cv2.resize(bg, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32) + 1.0
    return np.clip(1.0 - v.astype(np.float32) / bg, 0.0, 1.0)


def remove_grid(dark: np.ndarray, grid_px: float | None, px_per_mm: float) -> np.ndarray:
    """Subtract the darkness of straight grid lines lying at multiples of ``grid_px`` (None: no known grid)."""
    if not grid_px:
        return dark
    out = dark.copy()
    h, w = dark.shape
    L = max(9, int(4 * px_per_mm) | 1)
    half = max(2, int(round(0.4 * px_per_mm)))
    open_h = cv2.morphologyEx(dark, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (L, 1)))
    # vertical grid lines run the full page; a QRS stroke is rarely this long and perfectly vertical
    Lv = max(9, int(12 * px_per_mm) | 1)
    open_v = cv2.morphologyEx(dark, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (1, Lv)))
    rows = np.zeros(h, bool)
    for y in np.arange(0, h + grid_px, grid_px):
        rows[max(0, int(round(y)) - half) : int(round(y)) + half + 1] = True
    cols = np.zeros(w, bool)
    for x in np.arange(0, w + grid_px, grid_px):
        cols[max(0, int(round(x)) - half) : int(round(x)) + half + 1] = True
    out[rows] -= open_h[rows]
    out[:, cols] -= open_v[:, cols]
    return np.clip(out, 0.0, 1.0)


def trace_mask(rgb: np.ndarray, px_per_mm: float, grid_px: float | None = None,
               threshold: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(bool (H, W) mask of the black trace, float32 (H, W) darkness) of a flattened image (``grid_px`` line
    spacing, None if no grid). ``threshold`` on the grid-free darkness; default adaptive: half the darkness of the
    darkest 0.5 % of pixels, within 0.12..0.3 (faint thin traces of low-resolution scans need the lower end)."""
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    dk = darkness(rgb, px_per_mm, hsv[..., 2])
    d = remove_grid(dk, grid_px, px_per_mm)
    if threshold is None:
        threshold = float(np.clip(0.5 * np.percentile(d[::4, ::4], 99.5), 0.12, 0.3))
    return (d > threshold) & (hsv[..., 1] < 128), dk


def sharpness(rgb: np.ndarray) -> float:
    """Variance of the Laplacian of the grey image (higher = sharper)."""
    g = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(g, cv2.CV_32F).var())


def grid_darkness(dark: np.ndarray, grid_px: float | None) -> float:
    """Typical (median) darkness on the grid lines of a flattened image; 0 without a grid."""
    if not grid_px:
        return 0.0
    ys = np.round(np.arange(grid_px, dark.shape[0] - 1, grid_px)).astype(int)
    return float(np.median(dark[ys, ::3]))
