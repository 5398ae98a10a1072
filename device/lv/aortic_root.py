"""PLAX aortic-root diameter from the image, M-mode style (the segmentation model does not learn the aortic root).

In the parasternal long axis the aortic root lies on the transducer side of the left atrium: on a line from the
atrium toward the transducer one crosses the atrium's anterior wall (= the root's posterior wall), the dark root
lumen, then the root's anterior wall (continuous with the septum). That is the classic aortic-root / LA M-mode
line. This module samples the end-diastolic grey image along several such lines (perpendicular to the LV long axis,
spread along it around the atrium's centroid), finds on each the dark lumen between two brighter walls, places the
blood-tissue edges at half-maximum between the lumen level and each wall's peak (inner edge to inner edge), and
corrects the chord for the tilt of the root (a line through the lumen midpoints of all lines).

It needs the segmentation only for the atrium (anchor), the LV long axis, and the grey levels of blood (cavity and
atrium) and tissue (myocardium) that set the dark threshold. When any of that is missing or the lumen is not
found consistently, the result is None with the reason: the diameter is never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from device.lv import CAVITY, LEFT_ATRIUM, MYOCARDIUM
from device.lv.indices import largest_component

LINE_OFFSETS_MM = np.arange(-6.0, 6.01, 1.5)   # positions of the sampling lines along the LV axis
STEP_MM = 0.1
MAX_REACH_MM = 70.0          # how far toward the transducer the lumen is searched, from the atrium's edge
LUMEN_MM = (10.0, 50.0)      # plausible adult aortic-root lumen (sinuses), inner edges
MIN_CONTRAST = 8.0           # grey levels between blood and myocardium needed to tell lumen from wall
MIN_LINES = 3                # lines that must agree
WALL_SEARCH_MM = 6.0         # each wall's brightest point is searched this far from the lumen
MAX_GAP_MM = 25.0            # the lumen starts at most this far from the atrium's edge


@dataclass(frozen=True)
class AorticRootCaliper:
    """Diameter (mm) with its caliper end points in pixels (x, y), or None with the reason it was not measured."""

    diameter_mm: float | None
    caliper: tuple[tuple[float, float], tuple[float, float]] | None
    lines_used: int
    reason: str


def _none(reason: str, lines: int = 0) -> AorticRootCaliper:
    return AorticRootCaliper(None, None, lines, reason)


def _sample(img: np.ndarray, p0_mm: np.ndarray, d: np.ndarray, n: int, spacing) -> np.ndarray:
    """Bilinear samples of img at p0 + k * STEP_MM * d (mm), k = 0..n-1; NaN outside the image."""
    pts = p0_mm[None, :] + (np.arange(n) * STEP_MM)[:, None] * d[None, :]
    mx = (pts[:, 0] / spacing[1]).astype(np.float32).reshape(1, -1)
    my = (pts[:, 1] / spacing[0]).astype(np.float32).reshape(1, -1)
    out = cv2.remap(img, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=np.nan)
    return out.ravel().astype(float)


def _peak(prof: np.ndarray, a: int, b: int) -> float | None:
    """Sub-sample position of the maximum of prof[a:b] (parabolic refinement), None when the range is empty."""
    a, b = max(a, 0), min(b, len(prof))
    seg = prof[a:b]
    if seg.size == 0 or not np.isfinite(seg).any():
        return None
    i = int(np.nanargmax(seg))
    if 0 < i < seg.size - 1 and np.isfinite(seg[i - 1]) and np.isfinite(seg[i + 1]):
        den = seg[i - 1] - 2 * seg[i] + seg[i + 1]
        if den < 0:
            return a + i + 0.5 * (seg[i - 1] - seg[i + 1]) / den
    return float(a + i)


def _lumen_on_line(prof: np.ndarray, thr: float) -> tuple[float, float, int, int] | None:
    """Wall peaks and lumen of the aortic root on one profile that starts at the atrium's edge.

    Returns (posterior wall peak, anterior wall peak, lumen start, lumen end) in sample positions, or None. The lumen
    is the first dark run (<= thr) of plausible length with brighter tissue (> thr) on both sides; each wall's peak is
    searched within WALL_SEARCH_MM of the lumen."""
    ok = np.isfinite(prof)
    dark = ok & (prof <= thr)
    edges = np.diff(np.concatenate([[0], dark.astype(np.int8), [0]]))
    starts, ends = np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0]
    reach = int(WALL_SEARCH_MM / STEP_MM)
    for a, b in zip(starts, ends):
        if a == 0 or b >= len(prof) or not ok[b]:
            continue                              # no wall seen before it, or it runs out of the image
        if not (LUMEN_MM[0] <= (b - a) * STEP_MM <= LUMEN_MM[1]):
            continue
        if a * STEP_MM > MAX_GAP_MM:
            return None                           # too far from the atrium to be the root
        p0, p1 = _peak(prof, a - reach, a), _peak(prof, b, b + reach)
        if p0 is None or p1 is None:
            return None
        return p0, p1, int(a), int(b)
    return None


def aortic_root_from_image(image: np.ndarray, mask: np.ndarray, spacing: tuple[float, float],
                           origin_mm: np.ndarray, perp: np.ndarray, axis: np.ndarray) -> AorticRootCaliper:
    """Aortic-root diameter on a PLAX end-diastolic frame.

    image: (H, W) grey (uint8 or float); mask: (H, W) labels of the same frame (see device.lv); spacing: (row, col)
    mm per pixel; origin_mm, perp, axis: the LV measurement line of :func:`device.lv.plax.lv_line` (mm, x-y order;
    ``perp`` points away from the transducer). Returns the diameter (mm) and caliper, or None with the reason.
    """
    img = np.asarray(image, dtype=np.float32)
    if img.ndim == 3:
        img = img.mean(axis=2).astype(np.float32)
    mask = np.asarray(mask)
    if img.shape != mask.shape:
        return _none("the frame and its segmentation differ in size")
    la = largest_component(mask == LEFT_ATRIUM)
    if la.sum() < 20:
        return _none("the left atrium is not segmented on the end-diastolic frame, so the aortic root cannot be "
                     "located; place the caliper by hand")
    blood = img[(mask == CAVITY) | la]
    tissue = img[mask == MYOCARDIUM]
    if blood.size < 20 or tissue.size < 20:
        return _none("no LV blood or myocardium to set the grey levels; place the caliper by hand")
    b, t = float(np.median(blood)), float(np.median(tissue))
    if t - b < MIN_CONTRAST:
        return _none(f"blood and tissue differ by {t - b:.0f} grey levels only; place the caliper by hand")
    thr = b + 0.5 * (t - b)
    sigma_px = max(0.5, 0.5 / min(spacing))          # ~0.5 mm of smoothing against speckle
    smooth = cv2.GaussianBlur(img, (0, 0), sigma_px)
    ys, xs = np.nonzero(la)
    la_c = np.array([xs.mean() * spacing[1], ys.mean() * spacing[0]])
    up = -np.asarray(perp, float)
    ax = np.asarray(axis, float)
    # start each line at the atrium's edge nearest the transducer on that line
    found = []
    for s in LINE_OFFSETS_MM:
        base = la_c + s * ax
        n_in = int(60.0 / STEP_MM)
        inside = _sample(la.astype(np.float32), base, up, n_in, spacing) > 0.5
        if not inside[0]:
            continue
        k_edge = int(np.argmin(inside)) if not inside.all() else n_in
        start = base + k_edge * STEP_MM * up
        prof = _sample(smooth, start, up, int(MAX_REACH_MM / STEP_MM), spacing)
        lum = _lumen_on_line(prof, thr)
        if lum is None:
            continue
        e0, e1 = (start + e * STEP_MM * up for e in lum[:2])
        cav = _sample((mask == CAVITY).astype(np.float32), start + lum[2] * STEP_MM * up, up, lum[3] - lum[2],
                      spacing)
        if np.nanmean(cav > 0.5) > 0.2:              # that dark run is the LV outflow tract / cavity, not the root
            continue
        found.append((s, float((e0 - la_c) @ up), float((e1 - la_c) @ up)))
    if len(found) < MIN_LINES:
        return _none(f"the aortic-root lumen was found on {len(found)} of {len(LINE_OFFSETS_MM)} lines "
                     f"(at least {MIN_LINES} needed); place the caliper by hand", len(found))
    arr = np.asarray(found)
    s_, t0, t1 = arr[:, 0], arr[:, 1], arr[:, 2]
    widths, mids = t1 - t0, (t0 + t1) / 2
    keep = np.abs(widths - np.median(widths)) <= max(3.0, 0.15 * np.median(widths))
    if keep.sum() < MIN_LINES:
        return _none("the aortic-root width differs too much between neighbouring lines; place the caliper by hand",
                     int(keep.sum()))
    s_, widths, mids = s_[keep], widths[keep], mids[keep]
    k = float(np.polyfit(s_, mids, 1)[0]) if np.ptp(s_) > 0 else 0.0   # tilt of the lumen against the LV axis
    diameter = float(np.median(widths)) / float(np.hypot(1.0, k))
    i = int(np.argmin(np.abs(widths - np.median(widths))))
    centre = la_c + s_[i] * ax + mids[i] * up
    normal = (up - k * ax) / np.hypot(1.0, k)
    p0, p1 = centre - normal * diameter / 2, centre + normal * diameter / 2
    px = tuple((float(p[0] / spacing[1]), float(p[1] / spacing[0])) for p in (p0, p1))
    return AorticRootCaliper(diameter, px, int(keep.sum()), "")
