"""Find a spectral Doppler panel's velocity axis, read its tick labels and its time marks (pure: array in, dict out).

The axis is a long vertical line with short ticks on one side; the labels beside the ticks are read by a template
digit reader (glyphs of OpenCV's Hershey fonts and of Pillow's bundled sans-serif TrueType font, matched by
correlation after aspect-preserving resize), so it reads screens drawn in those fonts (the simulator's four layouts)
and is not a general OCR of vendor fonts. Velocity per pixel comes
from a least-squares line through the (tick row, label value) pairs; the unit from the label values (a scale labelled
below 10 is m/s). Time: marks every 0.1 s (longer every 0.5 s) along the panel, the simulator's convention.
"""

from __future__ import annotations

import cv2
import numpy as np

_FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_PLAIN, cv2.FONT_HERSHEY_DUPLEX)
_T = 20


def _norm(g: np.ndarray) -> np.ndarray:
    h, w = g.shape
    s = max(h, w)
    pad = np.zeros((s, s), np.float32)
    pad[(s - h) // 2:(s - h) // 2 + h, (s - w) // 2:(s - w) // 2 + w] = g
    v = cv2.resize(pad, (_T, _T), interpolation=cv2.INTER_AREA).ravel()
    v = v - v.mean()
    return v / (np.linalg.norm(v) + 1e-9)


def _templates() -> list[tuple[str, np.ndarray, float]]:
    out = []
    for f in _FONTS:
        for d in "0123456789":
            img = np.zeros((80, 60), np.uint8)
            cv2.putText(img, d, (10, 60), f, 1.6 if f != cv2.FONT_HERSHEY_PLAIN else 3.2, 255, 2, cv2.LINE_AA)
            ys, xs = np.nonzero(img > 100)
            g = img[ys.min():ys.max() + 1, xs.min():xs.max() + 1].astype(np.float32) / 255
            out.append((d, _norm(g), g.shape[1] / g.shape[0]))
    from PIL import Image, ImageDraw, ImageFont      # Pillow's bundled sans-serif TrueType font (Aileron)

    font = ImageFont.load_default(size=64)
    for d in "0123456789":
        im = Image.new("L", (80, 100))
        ImageDraw.Draw(im).text((10, 80), d, font=font, fill=255, anchor="ls")
        a = np.asarray(im)
        ys, xs = np.nonzero(a > 100)
        g = a[ys.min():ys.max() + 1, xs.min():xs.max() + 1].astype(np.float32) / 255
        out.append((d, _norm(g), g.shape[1] / g.shape[0]))
    return out


_TPL = _templates()


def read_number(bw: np.ndarray) -> float | None:
    """The number printed in a binary crop (one text line), or None."""
    n, lab, st, _ = cv2.connectedComponentsWithStats(bw.astype(np.uint8), connectivity=8)
    comps = sorted((st[i] for i in range(1, n) if st[i][4] >= 2), key=lambda s: s[0])
    if not comps:
        return None
    hline = max(s[3] for s in comps)
    s = ""
    for x, y, w, h, _a in comps:
        if h <= 0.35 * hline and w >= 1.5 * h:
            s += "-"
        elif h <= 0.3 * hline and w <= 0.4 * hline:
            s += "."
        elif h >= 0.6 * hline:
            g = bw[y:y + h, x:x + w].astype(np.float32)
            v, asp = _norm(g), w / h
            best = max(_TPL, key=lambda t: float(v @ t[1]) - 0.5 * abs(np.log((asp + 0.05) / (t[2] + 0.05))))
            s += best[0]
    try:
        return float(s)
    except ValueError:
        return None


def find_axis(grey: np.ndarray) -> tuple[int, int, int, int] | None:
    """(column, top row, bottom row, side +1/-1 of the ticks) of the velocity axis, or None."""
    h, w = grey.shape
    br = grey > 120
    best = None
    for c in range(3, w - 12):
        col = br[:, c]
        if col.sum() < 0.25 * h:
            continue
        d = np.diff(np.concatenate([[0], col.astype(np.int8), [0]]))
        starts, ends = np.nonzero(d == 1)[0], np.nonzero(d == -1)[0]
        k = int(np.argmax(ends - starts))
        r0, r1 = int(starts[k]), int(ends[k])
        if r1 - r0 < 0.25 * h:
            continue
        for side in (1, -1):
            near = br[r0:r1, c + side * 3]
            beside = br[r0:r1, c + side * 1]
            dark = 1 - near.mean()
            ticks = br[r0:r1, c + side * 1] & br[r0:r1, c + side * 4]
            nt = int((np.diff(np.concatenate([[0], ticks.astype(np.int8)])) == 1).sum())
            if dark > 0.85 and 3 <= nt <= 30 and beside.mean() < 0.3:
                score = (r1 - r0) * dark
                if best is None or score > best[0]:
                    best = (score, (c, r0, r1, side))
    return best[1] if best else None


def read_scale(grey: np.ndarray, axis: tuple[int, int, int, int]) -> dict | None:
    """Velocity calibration: rows of ticks, their labels, cm/s per row, the baseline row; None when unreadable."""
    c, r0, r1, side = axis
    br = grey > 120
    ticks = br[r0:r1, c + side * 1] & br[r0:r1, c + side * 4]
    d = np.diff(np.concatenate([[0], ticks.astype(np.int8), [0]]))
    rows = [r0 + (a + b - 1) / 2 for a, b in zip(np.nonzero(d == 1)[0], np.nonzero(d == -1)[0])]
    x_a, x_b = (c + 8, c + 70) if side > 0 else (c - 70, c - 7)
    x_a, x_b = max(0, x_a), min(grey.shape[1], x_b)
    pairs = []
    for y in rows:
        ya, yb = int(y) - 9, int(y) + 10
        if ya < 0 or yb > grey.shape[0]:
            continue
        v = read_number(grey[ya:yb, x_a:x_b] > 100)
        if v is not None:
            pairs.append((y, v))
    if len(pairs) < 2:
        return None
    y, v = np.array(pairs).T
    while True:  # drop misread labels one at a time (worst residual first) while 3 or more remain
        a, b = np.polyfit(y, v, 1)
        res = np.abs(a * y + b - v)
        if res.max() <= 0.2 * abs(a) * np.median(np.diff(np.sort(y))) or len(y) <= 2:
            break
        keep = res < res.max()
        y, v = y[keep], v[keep]
    if a >= 0 or len(y) < 2 or res.max() > 0.2 * abs(a) * np.median(np.diff(np.sort(y))):
        return None
    pairs = list(zip(y, v))
    word = grey[max(0, r0 - 24):max(1, r0 - 2), x_a - 6 * side if side > 0 else x_a:x_b + 10] > 100
    n = cv2.connectedComponentsWithStats(word.astype(np.uint8), connectivity=8)[0] - 1
    # the labels decide (no cm/s scale is labelled below 10, no m/s scale above it); the unit word's glyph count
    # ("m/s" 3, "cm/s" 4) is kept for the record: fonts that split "/" or join "cm" misled it
    unit = "m/s" if np.max(np.abs(v)) < 10 else "cm/s"
    f = 100.0 if unit == "m/s" else 1.0
    return {"cm_s_per_row": float(a * f), "baseline_row": float(-b / a), "top_row": r0, "bottom_row": r1 - 1,
            "v_top_cm_s": float((a * r0 + b) * f), "v_bot_cm_s": float((a * (r1 - 1) + b) * f), "unit": unit,
            "labels": [(float(p), float(q)) for p, q in pairs], "unit_glyphs": int(n)}


def read_time(grey: np.ndarray, x0: int, x1: int, r0: int, r1: int) -> dict | None:
    """px per second from the time marks just above or below the panel (0.1 s apart, a long one every 0.5 s)."""
    br = grey > 120
    for band in ((r0 - 12, r0 - 2), (r1 + 1, r1 + 12)):
        a, b = max(0, band[0]), min(grey.shape[0], band[1])
        if b <= a:
            continue
        cnt = br[a:b, x0:x1].sum(axis=0)
        xs = np.nonzero(cnt >= 2)[0]
        if len(xs) < 6:
            continue
        groups = np.split(xs, np.nonzero(np.diff(xs) > 2)[0] + 1)
        pos = np.array([g.mean() for g in groups]) + x0
        ln = np.array([cnt[g].max() for g in groups])
        if len(pos) < 6:
            continue
        sp = float(np.median(np.diff(pos)))
        if sp < 4 or np.mean(np.abs(np.diff(pos) - sp) < 2) < 0.8:
            continue
        major = pos[ln >= ln.max() - 1]
        if len(major) >= 2 and abs(np.median(np.diff(major)) / sp - 5) > 0.3:
            continue
        k = np.concatenate([[0], np.cumsum(np.round(np.diff(pos) / sp))])
        return {"px_per_s": float(np.polyfit(k, pos, 1)[0]) / 0.1, "marks": len(pos)}
    return None
