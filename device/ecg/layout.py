"""Layout: find the printed rows, the 1 mV calibration pulse of each row, and assign leads to boxes.

Rows are horizontal bands where trace ink spans most of the width. A row's time origin is where its trace starts
after the calibration pulse; the standard layouts split a 10-s row into 4 (3x4), 2 (6x2) or 1 (12x1, rhythm) lead
windows.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np
from scipy.ndimage import maximum_filter1d, uniform_filter1d

from device.ecg.types import DURATION_S, Calibration, Layout, LeadBox
from device.errors import InputError

ROWS_3x4 = (("I", "aVR", "V1", "V4"), ("II", "aVL", "V2", "V5"), ("III", "aVF", "V3", "V6"))
ROWS_6x2 = (("I", "V1"), ("II", "V2"), ("III", "V3"), ("aVR", "V4"), ("aVL", "V5"), ("aVF", "V6"))
ROWS_12x1 = tuple((lead,) for lead in ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"))
RHYTHM_DEFAULT = ("II", "V1", "V5")
# t = 0 of a row with a pulse: the centre of the pulse's falling edge (True; tuned on fold 1-8 renderings) or that
# edge as the 0.5-mm width search placed it + 0.2 mm (False, before 2026-12-05)
PULSE_EDGE_REFINE = False


@dataclass(frozen=True)
class Row:
    """One printed row: ``y`` px its baseline estimate, ``x0``/``x1`` px trace extent, ``pulse`` (x_a, x_b, y_top,
    y_base) px of the calibration pulse or None."""

    y: float
    x0: float
    x1: float
    pulse: tuple[float, float, float, float] | None


def find_rows(mask: np.ndarray, px_per_mm: float) -> list[float]:
    """Baseline y (px) of rows whose ink spans more than 45 % of the width, top to bottom."""
    h, w = mask.shape
    band = max(3, int(2.0 * px_per_mm))
    # a column "has ink near y" if any mask pixel within +-band rows
    col_any = maximum_filter1d(mask.astype(np.uint8), size=2 * band + 1, axis=0)
    cover = col_any[:, int(0.05 * w) : int(0.95 * w)].mean(1)
    cover = uniform_filter1d(cover, max(3, int(1.5 * px_per_mm)))
    ink = uniform_filter1d(mask.mean(1).astype(np.float64), max(3, int(1.0 * px_per_mm)))
    min_gap = int(9 * px_per_mm)
    ys: list[float] = []
    order = np.argsort(-cover)
    for y in order:
        if cover[y] < 0.45:
            break
        if all(abs(y - yy) >= min_gap for yy in ys):
            # the baseline: densest ink line close to the coverage peak
            lo, hi = max(0, y - band), min(h, y + band + 1)
            ys.append(float(lo + np.argmax(ink[lo:hi])))
    return sorted(ys)


def find_pulse(dark: np.ndarray, y: float, x_hint: float, px_per_mm: float,
               widths_mm: tuple[float, ...] = (4.0, 4.5, 5.0, 5.5, 6.0, 9.0, 9.5, 10.0, 10.5, 11.0),
               heights_mm: tuple[float, ...] = tuple(g * f for g in (5.0, 10.0, 20.0)
                                                     for f in (0.85, 0.92, 1.0, 1.08, 1.15)),
               grid_level: float = 0.0) -> tuple[float, float, float, float] | None:
    """The 1 mV calibration pulse near the left end of a row, by matching its three edges on the darkness map
    (it lasts 0.2 s: about 5 mm wide at 25 mm/s, 10 mm at 50 mm/s).

    Every edge (rise, top, fall) of a candidate rectangle must be darker than the grid lines (``grid_level``, their
    typical darkness) so that a grid square is not taken for a pulse; the best candidate wins. Returns (x_rise, x_fall, y_top, y_base) px or None."""
    h, w = dark.shape
    reach_mm = max(8.0, max(widths_mm) + 3.0)  # the hint may fall on the pulse's far edge
    xs0, xs1 = int(max(0, x_hint - reach_mm * px_per_mm)), int(min(w, x_hint + 14 * px_per_mm))
    yb0, yb1 = int(max(0, y - 4 * px_per_mm)), int(min(h, y + 4 * px_per_mm))
    if xs1 - xs0 < 10 or yb1 <= yb0:
        return None
    # strokes wander by a pixel or two: take the darkest of +-2 px across each edge
    ya, yb = int(max(0, y - 30 * px_per_mm)), int(min(h, y + 5 * px_per_mm))
    sub = dark[ya:yb]
    dv = cv2.dilate(sub, np.ones((1, 5), np.uint8))
    dh = cv2.dilate(sub, np.ones((5, 1), np.uint8))
    cy = np.vstack([np.zeros((1, w), np.float32), np.cumsum(dv, axis=0, dtype=np.float32)])  # column sums
    cx = np.hstack([np.zeros((sub.shape[0], 1), np.float32), np.cumsum(dh, axis=1, dtype=np.float32)])
    h = sub.shape[0]
    y, yb0, yb1 = y - ya, yb0 - ya, yb1 - ya
    best, best_score = None, max(0.3, grid_level + 0.12)
    ybs = np.arange(yb0, yb1)
    for wmm in widths_mm:
        pw = int(round(wmm * px_per_mm))
        xr = np.arange(xs0, max(xs0 + 1, xs1 - pw))
        if xr.size == 0:
            continue
        for hmm in heights_mm:
            ph = int(round(hmm * px_per_mm))
            yt = ybs - ph
            ok = yt >= 0
            if not ok.any():
                continue
            yb_, yt_ = ybs[ok], yt[ok]
            m = max(1, int(0.15 * ph))  # ignore the corners
            colv = (cy[yb_ - m] - cy[yt_ + m]) / max(1, ph - 2 * m)  # (ny, w)
            left, right = colv[:, xr], colv[:, xr + pw]
            # the top edge: the best of +-1 px rows (line width)
            mh = max(1, int(0.15 * pw))
            tops = []
            for dy in (-1, 0, 1):
                r = np.clip(yt_ + dy, 0, h - 1)
                tops.append((cx[r][:, xr + pw - mh] - cx[r][:, xr + mh]) / max(1, pw - 2 * mh))
            top = np.max(tops, axis=0)
            # inside the pulse should be paper (the least dark of three columns: one may lie on a grid line)
            inside = np.minimum(np.minimum(colv[:, xr + pw // 3], colv[:, xr + pw // 2]), colv[:, xr + 2 * pw // 3])
            near = 0.015 * np.abs(yb_ - y)[:, None] / px_per_mm  # the pulse sits on the row's baseline
            score = np.minimum(np.minimum(left, right), top) - 0.5 * inside - near
            k = np.unravel_index(int(np.argmax(score)), score.shape)
            if score[k] > best_score:
                best_score = float(score[k])
                best = (float(xr[k[1]]), float(xr[k[1]] + pw), float(yt_[k[0]] + ya), float(yb_[k[0]] + ya))
    return best


def edge_centre(dark: np.ndarray, x: float, y_top: float, y_base: float, px_per_mm: float) -> float:
    """Sub-pixel x of the vertical pulse edge found near ``x`` (its width search moves in 0.5-mm steps): the
    darkness-weighted centre of the darkest columns within +-0.5 mm, over the edge's middle 70 %."""
    h, w = dark.shape
    m = 0.15 * (y_base - y_top)
    ya, yb = int(max(0, y_top + m)), int(min(h, y_base - m))
    r = max(2, int(round(0.5 * px_per_mm)))
    xa, xb = int(max(0, round(x) - r)), int(min(w, round(x) + r + 1))
    if yb - ya < 3 or xb - xa < 3:
        return float(x)
    prof = dark[ya:yb, xa:xb].mean(0).astype(np.float64)
    wgt = np.clip(prof - 0.5 * prof.max(), 0.0, None)
    return float(xa + (wgt * np.arange(wgt.size)).sum() / wgt.sum()) if wgt.sum() > 0 else float(x)


def row_extent(mask: np.ndarray, y: float, px_per_mm: float) -> tuple[float, float]:
    """x range (px) where the row near ``y`` has ink on most columns (longest run, small gaps bridged)."""
    h, w = mask.shape
    band = int(3 * px_per_mm)
    cols = mask[int(max(0, y - band)) : int(min(h, y + band))].any(0).astype(np.uint8)
    cols = maximum_filter1d(cols, size=int(3 * px_per_mm) | 1)
    best, cur, start = (0, 0), 0, 0
    for x, c in enumerate(cols):
        if c:
            if cur == 0:
                start = x
            cur += 1
            if cur > best[1] - best[0]:
                best = (start, x + 1)
        else:
            cur = 0
    return float(best[0] + 1.5 * px_per_mm), float(best[1] - 1.5 * px_per_mm)


def detect_rows(mask: np.ndarray, dark: np.ndarray, px_per_mm: float, grid_level: float = 0.0) -> list[Row]:
    """Rows with their extent and calibration pulse (``dark`` the darkness map, grid not removed)."""
    rows = []
    for y in find_rows(mask, px_per_mm):
        x0, x1 = row_extent(mask, y, px_per_mm)
        if x1 - x0 < 50 * px_per_mm:  # a text line or stray marks: a printed lead row runs on for 2.5 s or more
            continue
        pulse = find_pulse(dark, y, x0, px_per_mm, grid_level=grid_level)
        if pulse is not None:
            x0 = pulse[1] + 0.2 * px_per_mm
            if PULSE_EDGE_REFINE:
                x0 = edge_centre(dark, pulse[1], pulse[2], pulse[3], px_per_mm)
            y = pulse[3]
        rows.append(Row(y=y, x0=x0, x1=x1, pulse=pulse))
    return rows


def assign_layout(rows: list[Row], px_per_mm_x: float, speed_mm_s: float,
                  rhythm_leads: tuple[str, ...] | None = None, three_by_four: bool = False) -> Layout:
    """Boxes for the standard layouts, chosen by the number of rows (and the row length).

    4 rows -> 3x4 + 1 rhythm strip (II); 6 rows -> 3x4 + 3 rhythm strips (II, V1, V5) when ``three_by_four``
    (separator ticks at 2.5 and 7.5 s were seen), else 6x2; 3 rows -> 3x4; 12 rows -> 12x1. Raises InputError(step="no traces") when no layout fits."""
    n = len(rows)
    if n == 0:
        raise InputError("no traces: no printed ECG rows were found; check the photo shows the traces sharply",
                         step="no traces")
    px_per_s = px_per_mm_x * speed_mm_s
    full_s = min(DURATION_S, 250.0 / speed_mm_s)  # a standard 250-mm row holds 10 s at 25 mm/s, 5 s at 50
    if n in (4, 5) or n == 3:
        grid_rows = ROWS_3x4
        name = "3x4" if n == 3 else f"3x4+{n - 3}"
    elif n == 6 and three_by_four:
        grid_rows, name = ROWS_3x4, "3x4+3"
    elif n == 6:
        grid_rows, name = ROWS_6x2, "6x2"
    elif n >= 12:
        grid_rows, name = ROWS_12x1, "12x1"
    elif n in (7, 8):
        grid_rows, name = ROWS_3x4, f"3x4+{n - 3}"
    else:
        raise InputError(f"no traces: found {n} printed rows, which matches no standard layout (3x4, 6x2, 12x1); "
                         "use the correction tool to place the lead boxes", step="no traces")
    rhythm = rhythm_leads or RHYTHM_DEFAULT
    boxes: list[LeadBox] = []
    spacing = float(np.median(np.diff([r.y for r in rows]))) if n > 1 else 30 * px_per_mm_x
    for i, row in enumerate(rows[: max(len(grid_rows), n)]):
        leads = grid_rows[i] if i < len(grid_rows) else (rhythm[(i - len(grid_rows)) % len(rhythm)],)
        if name == "12x1":
            leads = grid_rows[i] if i < 12 else ()
        seg_s = full_s / len(leads) if leads else full_s
        # short rows (e.g. 5-s rows of 6x2 at 50 mm/s) keep their printed length
        row_s = min(full_s, (row.x1 - row.x0) / px_per_s + 0.3)
        if name == "6x2" and row_s < 0.8 * full_s:
            seg_s = row_s / len(leads)
        for k, lead in enumerate(leads):
            t0, t1 = k * seg_s, (k + 1) * seg_s
            boxes.append(LeadBox(lead=lead, x0=row.x0 + t0 * px_per_s, x1=row.x0 + t1 * px_per_s,
                                 y0=row.y - 0.75 * spacing, y1=row.y + 0.75 * spacing, baseline_y=row.y,
                                 t0_s=t0, t1_s=t1, row=i))
    return Layout(name=name, boxes=tuple(boxes))


def tick_origin(mask: np.ndarray, rows: list[Row], x0: float, px_per_s: float, px_per_mm: float,
                seg_s: float = 2.5, n_rows: int = 3, ks: tuple[int, ...] = (1, 2, 3)) -> tuple[float, int]:
    """Refine t = 0 from the separator ticks between lead columns (3x4 layout: at 2.5, 5 and 7.5 s).

    A tick is a straight vertical bar through the baseline; its column is the one within +-2 mm of the expected
    position whose ink covers most of baseline +-2 mm (with neighbours). Returns (x0, number of ticks used); x0 is
    the median of tick_x - k * seg_s * px_per_s, or the given x0 when fewer than 3 ticks were found. ``ks`` which
    separators to look at (k * seg_s)."""
    h, w = mask.shape
    est = []
    half = int(2 * px_per_mm)
    for row in rows[:n_rows]:
        y = int(row.y)
        if y - half < 0 or y + half >= h:
            continue
        band = mask[y - half : y + half + 1]
        cover = band.mean(0)
        cover3 = np.maximum(np.maximum(cover, np.roll(cover, 1)), np.roll(cover, -1))
        for k in ks:
            xe = x0 + k * seg_s * px_per_s
            a, b = int(xe - half), int(xe + half) + 1
            if a < 0 or b >= w:
                continue
            c = cover3[a:b]
            i = int(np.argmax(c))
            if c[i] >= 0.85:
                # centre of the bar: mean of the columns with high coverage around the peak
                cols = np.flatnonzero(cover[a:b] >= 0.7 * cover[a + i])
                cols = cols[np.abs(cols - i) <= 3]
                est.append(a + float(cols.mean()) - k * seg_s * px_per_s)
    if len(est) < 3:
        return x0, len(est)
    med = float(np.median(est))
    return (med, len(est)) if abs(med - x0) < 3 * px_per_mm else (x0, 0)


def erase_labels(mask: np.ndarray, lay: Layout, px_per_mm: float) -> np.ndarray:
    """A copy of ``mask`` without the printed lead labels: ink components lying wholly in the label zone (the first
    10 mm of a box, 0.5-8 mm below its baseline) are removed so the tracker cannot follow them."""
    out = mask.copy()
    h, w = mask.shape
    for b in lay.boxes:
        x0, x1 = int(max(0, b.x0 - 2 * px_per_mm)), int(min(w, b.x0 + 12 * px_per_mm))
        y0, y1 = int(max(0, b.baseline_y)), int(min(h, b.baseline_y + 9 * px_per_mm))
        if x1 <= x0 or y1 <= y0:
            continue
        sub = out[y0:y1, x0:x1].astype(np.uint8)
        n, lab, st, _ = cv2.connectedComponentsWithStats(sub, connectivity=8)
        zx0, zx1 = 2 * px_per_mm - 1, 12 * px_per_mm - 10 * px_per_mm * 0 + 1
        for i in range(1, n):
            x, y, ww, hh, _ = st[i]
            inside = x >= 1 and x + ww <= sub.shape[1] - 1 and y >= 0.5 * px_per_mm and y + hh <= sub.shape[0] - 1
            if inside and hh <= 6 * px_per_mm and ww <= 10 * px_per_mm and zx0 <= x + ww and x <= zx1:
                out[y0:y1, x0:x1][lab == i] = False
    return out


def quarter_label(flat: np.ndarray, rows: list[Row], cal: Calibration) -> bool:
    """True when OCR reads "aVR" a quarter of the way along the first row (a 3x4 block, not 6x2)."""
    from device.ecg import ocr

    if not rows or not ocr.available():
        return False
    r, p = rows[0], cal.px_per_mm_x
    x = r.x0 + 2.5 * cal.px_per_s
    return ocr.read_label(flat, (int(x - 8 * p), int(r.y + 0.5 * p), int(x + 14 * p), int(r.y + 9 * p))) == "aVR"


def name_rhythm_strips(flat: np.ndarray, lay: Layout, px_per_mm: float) -> Layout:
    """With two or more rhythm strips, read their printed labels (OCR); keep the defaults where unreadable."""
    from device.ecg import ocr

    full = [b for b in lay.boxes if b.t1_s - b.t0_s > 5.0]
    if len(full) < 2 or not ocr.available():
        return lay
    boxes, used = list(lay.boxes), False
    for k, b in enumerate(boxes):
        if b.t1_s - b.t0_s <= 5.0:
            continue
        name = ocr.read_label(flat, (int(b.x0 - 8 * px_per_mm), int(b.baseline_y + 0.5 * px_per_mm),
                                     int(b.x0 + 14 * px_per_mm), int(b.baseline_y + 9 * px_per_mm)))
        if name:
            boxes[k] = replace(b, lead=name)
            used = True
    return Layout(lay.name, tuple(boxes), "ocr" if used else lay.label_source)
