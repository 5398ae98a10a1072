"""Find the imaging sector inside an ultrasound machine's video frame, and its pixel size.

The fan is the large, grey, speckled region; text, the ECG trace, the depth scale and the menu bar are small, thin or
coloured and are removed by a saturation test and a morphological opening. Pixel size comes from DICOM ultrasound
regions when the frame came from DICOM, else from the dotted on-screen depth scale (one dot per centimetre).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Sector:
    """The imaging area: bbox (x0, y0, x1, y1) in pixels (x1/y1 exclusive), mask (H, W) bool, area fraction."""

    bbox: tuple[int, int, int, int]
    mask: np.ndarray
    area_frac: float


_GREY = np.array([[77 / 256, 150 / 256, 29 / 256, -0.499]], dtype=np.float32)


def to_grey(frame: np.ndarray, drop_colour: bool = True) -> np.ndarray:
    """(H, W, 3) RGB or (H, W) uint8 -> (H, W) uint8 grey; strongly coloured pixels (ECG, markers, Doppler) -> 0."""
    if frame.ndim == 2:
        return frame.astype(np.uint8, copy=False)
    f = np.ascontiguousarray(frame, dtype=np.uint8)
    grey = cv2.transform(f, _GREY).reshape(f.shape[:2])  # floor((77 R + 150 G + 29 B) / 256)
    if drop_colour:
        r, g, b = cv2.split(f)
        sat = cv2.subtract(cv2.max(cv2.max(r, g), b), cv2.min(cv2.min(r, g), b))
        grey[sat > 40] = 0
    return grey


def find_sector(frame: np.ndarray, min_area_frac: float = 0.06) -> Sector | None:
    """Locate the imaging fan in a screen (H, W, 3) RGB or (H, W) grey uint8.

    Pass the pixel-wise maximum of a few frames for a steadier result. Returns None when no region large enough is
    found (a black or non-ultrasound screen).
    """
    full = to_grey(frame)
    fh, fw = full.shape
    f = max(1.0, fw / 320.0)  # work at ~320 px wide; fan geometry does not need more
    grey = cv2.resize(full, (int(round(fw / f)), int(round(fh / f))), interpolation=cv2.INTER_AREA) if f > 1 else full
    h, w = grey.shape
    kb = max(3, int(round(min(h, w) * 0.02)) | 1)
    g = cv2.blur(grey.astype(np.float32), (kb, kb))
    floor = float(np.percentile(g, 15))  # screen background (0 on a digital source, a few grey levels on a capture)
    b: np.ndarray = (g > floor + 0.35 + 0.15 * floor).astype(np.uint8)
    k = max(3, int(round(min(h, w) * 0.025)) | 1)
    b = cv2.morphologyEx(b, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    k2 = max(3, int(round(min(h, w) * 0.04)) | 1)
    b = cv2.morphologyEx(b, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k2, k2)))
    n, lab, stats, _ = cv2.connectedComponentsWithStats(b, connectivity=8)
    if n <= 1:
        return None
    i = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    comp = (lab == i).astype(np.uint8)
    mask = _fit_fan(comp)
    if mask is None:
        contours, _ = cv2.findContours(comp, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        hull = cv2.convexHull(max(contours, key=cv2.contourArea))
        mask = np.zeros((h, w), np.uint8)
        cv2.fillPoly(mask, [hull], 1)
    area = float(mask.sum()) / (h * w)
    if area < min_area_frac:
        return None
    if f > 1:
        mask = cv2.resize(mask.astype(np.uint8), (fw, fh), interpolation=cv2.INTER_NEAREST)
    ys, xs = np.nonzero(mask)
    return Sector((int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1), mask.astype(bool), area)


def _fit_fan(comp: np.ndarray) -> np.ndarray | None:
    """A clean fan mask (H, W) uint8 from a rough region: straight edges fitted on the upper half, extrapolated.

    Far-field corners of a dark image are often lost by thresholding; the fan's straight edges recover them.
    Returns None when the region does not look like a fan (then the caller uses its convex hull).
    """
    h, w = comp.shape
    rows = np.flatnonzero(comp.any(axis=1))
    if rows.size < 20:
        return None
    top, bot = int(rows[0]), int(rows[-1])
    top_rows = comp[top:top + max(2, (bot - top) // 20)]
    cx = float(np.median(np.nonzero(top_rows)[1]))
    left, right, yy = [], [], []
    for y in range(top + int(0.1 * (bot - top)), top + int(0.6 * (bot - top))):
        r = comp[y]
        c = int(round(cx))
        if not r[c]:
            continue
        lo = c - int(np.argmin(r[c::-1])) if not r[:c + 1].all() else 0
        hi = c + int(np.argmin(r[c:])) if not r[c:].all() else w
        left.append(lo)
        right.append(hi)
        yy.append(y)
    if len(yy) < 10:
        return None
    yy_a = np.array(yy, dtype=np.float64)
    bl = np.polyfit(yy_a, np.array(left, dtype=np.float64), 1)
    br = np.polyfit(yy_a, np.array(right, dtype=np.float64), 1)
    if not (-2.0 < bl[0] < -0.2 and 0.2 < br[0] < 2.0):  # each edge 11-63 degrees from vertical
        return None
    ay = (br[1] - bl[1]) / (bl[0] - br[0])  # where the two edges meet
    ax = bl[0] * ay + bl[1]
    if ay > top + 0.1 * (bot - top) or ay < top - 0.5 * (bot - top):
        return None
    ys, xs = np.nonzero(comp)
    rad = float(np.percentile(np.hypot(xs - ax, ys - ay), 99.5))
    r0 = max(0.0, top - ay)
    yg, xg = np.mgrid[0:h, 0:w]
    rr = np.hypot(xg - ax, yg - ay)
    inside = (xg >= bl[0] * yg + bl[1]) & (xg <= br[0] * yg + br[1]) & (rr <= rad) & (rr >= r0) & (yg >= top)
    return inside.astype(np.uint8)


def depth_scale_mm_per_px(frame: np.ndarray, sector: Sector, cm_per_dot: float = 1.0) -> float | None:
    """Pixel size (mm/px) from a dotted depth scale beside the fan (one dot every `cm_per_dot` cm).

    Looks in the columns right of the fan, then left of it, for a column of >= 5 small marks with even spacing.
    Returns None when no such scale is found.
    """
    grey = to_grey(frame)
    h, w = grey.shape
    x0, y0, x1, y1 = sector.bbox
    outside = np.where(sector.mask, 0, grey)
    m = int(0.06 * w)
    for lo, hi in ((max(x0, x1 - m), w), (0, min(x1, x0 + m))):
        if hi - lo < 2:
            continue
        strip = outside[y0:y1, lo:hi]
        best = None
        for c in range(strip.shape[1] - 1):
            col = strip[:, c:c + 2].max(axis=1) > 60
            runs = _runs(col)
            if len(runs) < 6:
                continue
            centres = np.array([(a + b) / 2 for a, b in runs])
            lengths = np.array([b - a for a, b in runs])
            if np.median(lengths) > 2 + 0.008 * h:  # text or a solid line, not dots
                continue
            d = np.diff(centres)
            med = float(np.median(d))
            if med < 4:
                continue
            even = np.abs(d - med) <= max(1.5, 0.08 * med)
            if even.sum() < 5 or even.mean() < 0.6:
                continue
            spacing = float(np.mean(d[even]))
            score = int(even.sum())
            if best is None or score > best[0]:
                best = (score, spacing)
        if best is not None:
            mmpp = cm_per_dot * 10.0 / best[1]
            if 30.0 <= mmpp * (y1 - y0) <= 320.0:  # the fan must span a plausible depth
                return mmpp
    return None


def _runs(col: np.ndarray) -> list[tuple[int, int]]:
    """Start/end (exclusive) indices of True runs in a 1-D bool array."""
    d = np.diff(np.concatenate([[0], col.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
    return list(zip(starts.tolist(), ends.tolist()))


def dicom_region_mm_per_px(regions: list[dict]) -> tuple[float, tuple[int, int, int, int]] | None:
    """(mm/px, bbox) from DICOM SequenceOfUltrasoundRegions items given as dicts.

    Uses the first 2-D tissue region (RegionSpatialFormat 1) with cm units (PhysicalUnits 3) and square pixels.
    Keys: RegionSpatialFormat, PhysicalUnitsXDirection, PhysicalDeltaX, PhysicalDeltaY, RegionLocationMinX0, ...
    """
    for r in regions:
        if int(r.get("RegionSpatialFormat", 0)) != 1 or int(r.get("PhysicalUnitsXDirection", 0)) != 3:
            continue
        dx, dy = abs(float(r.get("PhysicalDeltaX", 0))), abs(float(r.get("PhysicalDeltaY", 0)))
        if not (0 < dx < 10 and 0 < dy < 10) or abs(dx - dy) > 0.05 * dx:   # NaN and inf fail too (10 cm/px)
            continue
        if any(k not in r for k in ("RegionLocationMinX0", "RegionLocationMinY0", "RegionLocationMaxX1",
                                    "RegionLocationMaxY1")):
            continue
        bbox = (int(r["RegionLocationMinX0"]), int(r["RegionLocationMinY0"]), int(r["RegionLocationMaxX1"]) + 1,
                int(r["RegionLocationMaxY1"]) + 1)
        return dx * 10.0, bbox
    return None
