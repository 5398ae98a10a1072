"""Find the paper in a photo and warp it flat (perspective + rotation).

The paper is the largest bright, low-saturation region. Its corners are the extreme points of the region's convex
hull along the two diagonals, which also works when the paper is clipped by the frame or slightly curled.
"""

from __future__ import annotations

import cv2
import numpy as np

from device.ecg.types import Rectified
from device.errors import InputError

WORK_LONG_SIDE = 900  # px, for paper detection
MAX_OUT_LONG_SIDE = 2600  # px, cap on the rectified image


def paper_mask(small_rgb: np.ndarray) -> np.ndarray:
    """uint8 (h, w) 0/255 mask of paper-like pixels (bright, unsaturated) in a small RGB image."""
    hsv = cv2.cvtColor(small_rgb, cv2.COLOR_RGB2HSV)
    s = hsv[..., 1].astype(np.int16)
    v = hsv[..., 2].astype(np.int16)
    white = np.clip(v - s, 0, 255).astype(np.uint8)
    thr, _ = cv2.threshold(white, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    thr = max(thr, 90)
    m = (white >= thr).astype(np.uint8) * 255
    k = max(3, int(round(min(m.shape) * 0.012)) | 1)
    m = cv2.morphologyEx(m, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
    m = cv2.morphologyEx(m, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
    return m


def find_paper_quad(rgb: np.ndarray) -> tuple[np.ndarray, bool]:
    """Corners (tl, tr, br, bl) float32 (4, 2) in original pixels and whether a distinct paper was found.

    Raises InputError(step="no paper found") when no large bright region exists."""
    h, w = rgb.shape[:2]
    f = WORK_LONG_SIDE / max(h, w)
    small = cv2.resize(rgb, (max(1, int(w * f)), max(1, int(h * f))), interpolation=cv2.INTER_AREA)
    m = paper_mask(small)
    n, lab, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=4)
    if n <= 1:
        raise InputError("no paper found: the photo has no large light area; frame the whole printout on a dark "
                         "background and retake", step="no paper found")
    i = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    area = stats[i, cv2.CC_STAT_AREA] / float(m.size)
    if area < 0.15:
        raise InputError(f"no paper found: the largest light area covers only {area:.0%} of the photo; move closer "
                         "so the printout fills most of the frame", step="no paper found")
    pts = cv2.findNonZero((lab == i).astype(np.uint8))
    hull = cv2.convexHull(pts).reshape(-1, 2).astype(np.float64)
    sx, dx = hull.sum(1), hull[:, 0] - hull[:, 1]
    quad = np.array([hull[np.argmin(sx)], hull[np.argmax(dx)], hull[np.argmax(sx)], hull[np.argmin(dx)]])
    quad = quad / f
    hull_area = cv2.contourArea(hull.astype(np.float32)) / (f * f)
    filled = hull_area > 0.93 * h * w
    return quad.astype(np.float32), not filled


def rectify(rgb: np.ndarray) -> Rectified:
    """Warp the paper to a fronto-parallel image. ``rgb`` uint8 (H, W, 3)."""
    h, w = rgb.shape[:2]
    quad, found = find_paper_quad(rgb)
    if not found:
        quad = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], np.float32)
    tl, tr, br, bl = quad
    out_w = max(np.linalg.norm(tr - tl), np.linalg.norm(br - bl))
    out_h = max(np.linalg.norm(bl - tl), np.linalg.norm(br - tr))
    s = min(1.0, MAX_OUT_LONG_SIDE / max(out_w, out_h))
    out_w, out_h = int(round(out_w * s)), int(round(out_h * s))
    if out_w < 200 or out_h < 150:
        raise InputError("no paper found: the detected paper is too small; move closer and retake",
                         step="no paper found")
    dst = np.array([[0, 0], [out_w - 1, 0], [out_w - 1, out_h - 1], [0, out_h - 1]], np.float32)
    H = cv2.getPerspectiveTransform(quad, dst)
    warped = cv2.warpPerspective(rgb, H, (out_w, out_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return Rectified(image=warped, homography=H, paper_quad=quad, paper_found=found, scale=s)
