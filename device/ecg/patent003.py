"""Patent 003 image-space screen, shared geometry (experiment; not wired into the cart).

The printout's ink map is warped into one canonical frame (1 px/mm, 3x4+1 layout: t = 0 at x = 5 px, the four row
baselines at y = 25, 63, 101, 139 px), so a rendering (known geometry) and a real photo (geometry from the reader's
layout boxes) give the same picture. In that frame:

- a beat is an *anchor* (x of its R peak, y of its row's baseline); its box is 0.3 s before to 0.5 s after the R
  peak and +-15 mm (+-1.5 mV at 10 mm/mV) around the baseline;
- the detector outputs a heat map at 1/2 resolution (2-mm cells) whose local maxima are the anchors (``decode_anchors``);
- the local branch sees the beat crops (``beat_crops``), the global branch the whole frame at 0.5 px/mm.

Pure functions: arrays in, arrays out.
"""

from __future__ import annotations

import cv2
import numpy as np

PX_MM = 1.0  # canonical resolution (the shared 2 cores allow no more)
CW, CH = 260, 164  # 260 mm x 164 mm
X_T0 = 5.0  # canonical x of t = 0 (5 mm margin)
ROW_Y = (25.0, 63.0, 101.0, 139.0)  # baselines: 25 mm + 38 mm per row
PX_S = 25.0 * PX_MM  # 25 mm/s
STRIDE = 2  # heat map cell = 2 mm
HM_H, HM_W = CH // STRIDE, CW // STRIDE
BOX_PRE_S, BOX_POST_S, BOX_HALF_MM = 0.3, 0.5, 15.0
CROP_W = int(round((BOX_PRE_S + BOX_POST_S) * PX_S))  # 20 px
CROP_H = int(round(2 * BOX_HALF_MM * PX_MM))  # 30 px
MAX_BEATS = 48
ROWS_3x4 = (("I", "aVR", "V1", "V4"), ("II", "aVL", "V2", "V5"), ("III", "aVF", "V3", "V6"))


def canonical_matrix(px_per_mm_x: float, x_t0_px: float, baselines_px: tuple[float, ...] | np.ndarray) -> np.ndarray:
    """2x3 affine from source pixels to the canonical frame: x by the calibration, y by the first and last row
    baselines (so a slightly different row spacing is absorbed)."""
    b = np.asarray(baselines_px, np.float64)
    sx = PX_MM / px_per_mm_x
    sy = (ROW_Y[-1] - ROW_Y[0]) / max(1e-6, b[-1] - b[0]) if b.size >= 2 else sx
    return np.array([[sx, 0.0, X_T0 - sx * x_t0_px], [0.0, sy, ROW_Y[0] - sy * b[0]]])


def to_canonical(ink: np.ndarray, m: np.ndarray) -> np.ndarray:
    """uint8 (CH, CW) canonical ink map (0 paper .. 255 black) from a float ink map in [0, 1]."""
    small = ink
    scale = float(np.sqrt(abs(np.linalg.det(m[:, :2]))))
    if scale < 0.7:  # area-average first (to 2x the target) so thin traces do not alias away
        f = 2 * scale
        small = cv2.resize(ink, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
        m = m @ np.array([[1 / f, 0, 0], [0, 1 / f, 0], [0, 0, 1]])
    out = cv2.warpAffine(small.astype(np.float32), m.astype(np.float64), (CW, CH), flags=cv2.INTER_LINEAR,
                         borderValue=0.0)
    return np.clip(out * 255.0, 0, 255).astype(np.uint8)


def anchors_from_r_peaks(r_peaks_s: np.ndarray) -> np.ndarray:
    """float32 (n, 3) canonical (x, y, row) of every printed beat of a 3x4+1 printout: rows 0-2 print 2.5-s columns,
    row 3 the 10-s rhythm strip. A beat whose box would leave its column is dropped."""
    out = []
    for t in np.asarray(r_peaks_s, float):
        for r in range(4):
            if r < 3:
                c0 = np.floor(t / 2.5) * 2.5
                if t - BOX_PRE_S < c0 or t + BOX_POST_S > c0 + 2.5:
                    continue
            elif t - BOX_PRE_S < 0 or t + BOX_POST_S > 10.0:
                continue
            out.append((X_T0 + t * PX_S, ROW_Y[r], r))
    return np.array(out, np.float32).reshape(-1, 3)


def heatmap_target(anchors: np.ndarray, sigma_cells: float = 1.0) -> np.ndarray:
    """float32 (HM_H, HM_W): a Gaussian peak (max 1) at every anchor."""
    yy, xx = np.mgrid[0:HM_H, 0:HM_W].astype(np.float32)
    hm = np.zeros((HM_H, HM_W), np.float32)
    for x, y, _ in anchors:
        g = np.exp(-(((xx - x / STRIDE) ** 2) + ((yy - y / STRIDE) ** 2)) / (2 * sigma_cells ** 2))
        np.maximum(hm, g, out=hm)
    return hm


def decode_anchors(hm: np.ndarray, threshold: float = 0.3) -> np.ndarray:
    """float32 (n, 3) (x, y, score) canonical anchors: heat-map local maxima (3x3 cells) above ``threshold``,
    refined by the weighted centre of their 3x3 neighbourhood; at least 0.25 s apart within a row band (10 mm)."""
    hm = hm.astype(np.float32)
    peak = (hm == cv2.dilate(hm, np.ones((3, 3), np.uint8))) & (hm >= threshold)
    ys, xs = np.nonzero(peak)
    order = np.argsort(-hm[ys, xs])
    kept: list[tuple[float, float, float]] = []
    for i in order:
        y, x = int(ys[i]), int(xs[i])
        y0, y1, x0, x1 = max(0, y - 1), min(HM_H, y + 2), max(0, x - 1), min(HM_W, x + 2)
        w = hm[y0:y1, x0:x1]
        gy, gx = np.mgrid[y0:y1, x0:x1]
        cx, cy = float((w * gx).sum() / w.sum()), float((w * gy).sum() / w.sum())
        px, py = cx * STRIDE, cy * STRIDE
        if any(abs(px - a) < 0.25 * PX_S and abs(py - b) < 10 * PX_MM for a, b, _ in kept):
            continue
        kept.append((px, py, float(hm[y, x])))
    return np.array(kept, np.float32).reshape(-1, 3)


def match(pred: np.ndarray, truth: np.ndarray, tol_x: float = 0.06 * PX_S, tol_y: float = 4.0 * PX_MM) -> tuple[int, int, int]:
    """(true positives, false positives, false negatives): greedy one-to-one matching within ``tol_x`` px (60 ms)
    and ``tol_y`` px (4 mm)."""
    truth = np.asarray(truth, np.float32).reshape(-1, 3)
    used = np.zeros(len(truth), bool)
    tp = 0
    for x, y, *_ in pred:
        ok = (~used) & (np.abs(truth[:, 0] - x) <= tol_x) & (np.abs(truth[:, 1] - y) <= tol_y)
        if ok.any():
            j = int(np.argmin(np.where(ok, np.abs(truth[:, 0] - x), np.inf)))
            used[j] = True
            tp += 1
    return tp, len(pred) - tp, int((~used).sum())


def beat_crops(canon: np.ndarray, anchors: np.ndarray, rng: np.random.Generator | None = None,
               n_max: int = MAX_BEATS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(crops float32 (MAX_BEATS, CROP_H, CROP_W) in [0, 1], positions float32 (MAX_BEATS, 2) (x/CW, y/CH), mask
    float32 (MAX_BEATS,)). Boxes per the module doc; with more than ``n_max`` anchors an even subsample (random with
    ``rng``, which also jitters each box by up to +-1 px)."""
    a = np.asarray(anchors, np.float32).reshape(-1, anchors.shape[1] if anchors.ndim == 2 else 3)
    if len(a) > n_max:
        idx = (np.sort(rng.choice(len(a), n_max, replace=False)) if rng is not None
               else np.linspace(0, len(a) - 1, n_max).round().astype(int))
        a = a[idx]
    pad = np.pad(canon, ((CROP_H, CROP_H), (CROP_W, CROP_W)))
    crops = np.zeros((n_max, CROP_H, CROP_W), np.float32)
    pos = np.zeros((n_max, 2), np.float32)
    mask = np.zeros(n_max, np.float32)
    for i, (x, y, *_) in enumerate(a):
        if rng is not None:
            x, y = x + rng.uniform(-1, 1), y + rng.uniform(-1, 1)
        x0 = int(round(x - BOX_PRE_S * PX_S)) + CROP_W
        y0 = int(round(y - CROP_H / 2)) + CROP_H
        crops[i] = pad[y0 : y0 + CROP_H, x0 : x0 + CROP_W] / 255.0
        pos[i] = (x / CW, y / CH)
        mask[i] = 1.0
    return crops, pos, mask


def global_view(canon: np.ndarray) -> np.ndarray:
    """float32 (CH // 2, CW // 2) in [0, 1]: the whole canonical frame at 0.5 px/mm (area average)."""
    return cv2.resize(canon.astype(np.float32) / 255.0, (CW // 2, CH // 2), interpolation=cv2.INTER_AREA)
