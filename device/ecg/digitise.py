"""Follow one printed trace through its lead box and turn it into millivolts at 500 Hz.

Per column the trace mask gives vertical runs of ink; a Viterbi pass picks one run per column so that consecutive
runs touch (or nearly), preferring runs near the baseline when in doubt. Each chosen run gives its darkness-weighted
centre (STROKES = "centroid"); the former reading took a tall run's two ends (STROKES = "ends").
"""

from __future__ import annotations

import numpy as np

from device.ecg.types import FS_HZ, N_SAMPLES, LeadBox

# how a column's chosen tall ink run becomes a point: "centroid" (its darkness-weighted centre, a sub-pixel centre
# line) or "ends" (both of its ends, ordered by the neighbours: the reading before 2026-12-05, which zigzags between
# a QRS's up- and down-strokes when thick lines make them share columns; device/eval/ecg_stages.py measured it)
STROKES = "centroid"


def column_runs(mask: np.ndarray, x: int, y0: int, y1: int) -> list[tuple[int, int]]:
    """Vertical runs (top, bottom) inclusive of ink in column ``x`` between rows y0..y1."""
    col = mask[y0:y1, x]
    if not col.any():
        return []
    d = np.diff(np.concatenate(([0], col.view(np.int8), [0])))
    starts, ends = np.flatnonzero(d == 1), np.flatnonzero(d == -1) - 1
    return [(int(s) + y0, int(e) + y0) for s, e in zip(starts, ends)]


def box_runs(mask: np.ndarray, xa: int, xb: int, ya: int, yb: int) -> tuple[list[int], list[list[tuple[int, int]]]]:
    """All vertical ink runs of columns xa..xb (rows ya..yb): (columns with ink, runs per such column)."""
    sub = mask[ya:yb, xa : xb + 1].view(np.int8)
    pad = np.zeros((1, sub.shape[1]), np.int8)
    d = np.diff(np.vstack([pad, sub, pad]), axis=0)
    sx, sy = np.nonzero(d.T == 1)  # column-major order: sorted by column then row
    ex, ey = np.nonzero(d.T == -1)
    if sx.size == 0:
        return [], []
    splits = np.flatnonzero(np.diff(sx)) + 1
    cols = [int(c) + xa for c in sx[np.concatenate(([0], splits))]]
    starts = np.split(sy + ya, splits)
    ends = np.split(ey - 1 + ya, splits)
    cands = [list(zip(a.tolist(), b.tolist())) for a, b in zip(starts, ends)]
    return cols, cands


def track(mask: np.ndarray, box: LeadBox, px_per_mm: float, dark: np.ndarray | None = None) -> np.ndarray:
    """float32 (n, 2) (x, y) polyline of the trace inside ``box`` (x ascending; up to 2 points per column).

    ``dark`` float32 (H, W) ink darkness: a tall run much fainter than the trace (a leftover grid line, a fold's
    edge) is not taken as a stroke."""
    h, w = mask.shape
    trim = 1.0 * px_per_mm  # separator ticks sit on the box edges
    xa, xb = int(max(0, np.floor(box.x0 + trim))), int(min(w - 1, np.ceil(box.x1 - trim)))
    ya, yb = int(max(0, box.y0)), int(min(h, box.y1))
    cols, cands = box_runs(mask, xa, xb, ya, yb)
    if not cols:
        return np.zeros((0, 2), np.float32)
    base = box.baseline_y
    pull = 0.02 / px_per_mm  # cost per px away from the baseline (tie-breaker)
    gap_cost = 1.0
    # Viterbi over runs. Each column also has a "no trace here" state (the trace faded, or only other ink such as
    # a label or the next row is in this column) that keeps the previous run at a per-column cost.
    skip_cost = 1.0 * px_per_mm
    # pure Python: a column has 1-4 runs, far too few for numpy to pay off
    prev_iv = list(cands[0]) + [(base, base)]
    prev_cost = [pull * abs(0.5 * (a + b) - base) for a, b in cands[0]] + [skip_cost * 3]
    back: list[list[int]] = [[0] * len(prev_iv)]
    for k in range(1, len(cols)):
        dx = cols[k] - cols[k - 1]
        step = 2.0 * (dx - 1)
        cur = cands[k]
        new_cost, new_back = [], []
        for ca, cb in cur:
            best_c, best_i = float("inf"), 0
            for i, (pa, pb) in enumerate(prev_iv):
                g = ca - pb if ca > pb else (pa - cb if pa > cb else 0.0)
                c = prev_cost[i] + gap_cost * g
                if c < best_c:
                    best_c, best_i = c, i
            new_cost.append(best_c + step + pull * abs(0.5 * (ca + cb) - base))
            new_back.append(best_i)
        i_skip = min(range(len(prev_cost)), key=prev_cost.__getitem__)
        new_cost.append(prev_cost[i_skip] + skip_cost * dx)
        new_back.append(i_skip)
        prev_iv = list(cur) + [prev_iv[i_skip]]
        prev_cost = new_cost
        back.append(new_back)
    cost = [np.asarray(prev_cost)]
    path = [int(np.argmin(cost[-1]))]
    for k in range(len(cols) - 1, 0, -1):
        path.append(int(back[k][path[-1]]))
    path.reverse()
    keep = [k for k, ci in enumerate(path) if ci < len(cands[k])]
    cols = [cols[k] for k in keep]
    cands = [cands[k] for k in keep]
    path = [path[k] for k in keep]
    if not cols:
        return np.zeros((0, 2), np.float32)
    chosen = [cands[k][ci] for k, ci in enumerate(path)]
    lengths = np.array([b - a for a, b in chosen], float)
    # an isolated tall run (a stray grid line or a fold's edge) has no tall neighbours; a QRS stroke has
    padded = np.concatenate([np.zeros(3), lengths, np.zeros(3)])
    win = np.lib.stride_tricks.sliding_window_view(padded, 7)  # (n, 7): k-3 .. k+3
    near = np.maximum(win[:, :3].max(1), win[:, 4:].max(1))
    stray = (lengths > 2.5 * px_per_mm) & (near < 0.25 * lengths)
    if dark is not None:
        tall = np.flatnonzero(lengths > 1.5 * px_per_mm)
        short = np.flatnonzero(lengths <= 3)
        if tall.size and short.size > 20:
            ref = float(np.median([dark[int(0.5 * (chosen[k][0] + chosen[k][1])), cols[k]] for k in short]))
            for k in tall:
                a, b = chosen[k]
                if float(dark[a : b + 1, cols[k]].mean()) < 0.8 * ref:
                    stray[k] = True
    pts: list[tuple[float, float]] = []
    y_prev = base
    for k, x in enumerate(cols):
        a, b = chosen[k]
        if stray[k]:
            y = float(np.clip(y_prev, a, b))
            pts.append((x, y))
            continue
        if b - a <= 3:
            y = 0.5 * (a + b)
            pts.append((x, y))
            y_prev = y
            continue
        if STROKES == "centroid":
            y = _centroid(dark, a, b, x) if dark is not None else 0.5 * (a + b)
            pts.append((x, y))
            y_prev = y
            continue
        # a stroke: enter at the end nearest the previous point, leave at the end nearest the next run; when
        # both are at the same end the column holds a peak (up and back down): three points
        a2, b2 = a + 1.0, b - 1.0
        y_next = 0.5 * sum(chosen[k + 1]) if k + 1 < len(chosen) else y_prev
        enter_top = abs(a2 - y_prev) <= abs(b2 - y_prev)
        leave_top = abs(a2 - y_next) <= abs(b2 - y_next)
        if enter_top == leave_top:
            end, tip = (a2, b2) if enter_top else (b2, a2)
            pts += [(x - 0.33, end), (x, tip), (x + 0.33, end)]
            y_prev = end
        else:
            first, second = (a2, b2) if enter_top else (b2, a2)
            pts += [(x - 0.25, first), (x + 0.25, second)]
            y_prev = second
    return drop_flat_excursions(np.asarray(pts, np.float32), box, px_per_mm)


def _centroid(dark: np.ndarray, a: int, b: int, x: int) -> float:
    w = dark[a : b + 1, x].astype(np.float64)
    tot = float(w.sum())
    return float((w * np.arange(a, b + 1)).sum() / tot) if tot > 0 else 0.5 * (a + b)


def drop_flat_excursions(poly: np.ndarray, box: LeadBox, px_per_mm: float, dev_mm: float = 6.0,
                         min_s: float = 0.15) -> np.ndarray:
    """Remove stretches where the path sits far (> ``dev_mm``) from the trace's running median (1 s) for longer
    than ``min_s``: a paper edge, a shadow line or a neighbouring row, not an ECG (QRS complexes are shorter)."""
    if poly.shape[0] < 10:
        return poly
    from scipy.ndimage import median_filter

    px_per_s = (box.x1 - box.x0) / max(1e-6, box.t1_s - box.t0_s)
    x0 = int(np.floor(poly[0, 0]))
    xs = np.arange(x0, int(np.ceil(poly[-1, 0])) + 1)
    yi = np.interp(xs, poly[:, 0], poly[:, 1])
    med = median_filter(yi, size=max(3, int(px_per_s) | 1), mode="nearest")
    far = np.abs(yi - med) > dev_mm * px_per_mm
    if not far.any():
        return poly
    d = np.diff(np.concatenate(([0], far.view(np.int8), [0])))
    bad = np.zeros(xs.size, bool)
    for a, b in zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)):
        if b - a > min_s * px_per_s:
            bad[a:b] = True
    if not bad.any():
        return poly
    keep = ~bad[np.clip(np.round(poly[:, 0]).astype(int) - x0, 0, xs.size - 1)]
    return poly[keep]


def to_samples(poly: np.ndarray, box: LeadBox, x_origin: float, px_per_s: float, px_per_mv: float,
               n_samples: int = N_SAMPLES, fs_hz: int = FS_HZ) -> np.ndarray:
    """float32 (n_samples,) mV on the shared axis: NaN outside the box's window or where the trace is missing.

    ``x_origin`` px is t = 0 of the box's row; voltage = (baseline_y - y) / px_per_mv."""
    out = np.full(n_samples, np.nan, np.float32)
    if poly.shape[0] < 2:
        return out
    t = (poly[:, 0] - x_origin) / px_per_s
    v = (box.baseline_y - poly[:, 1]) / px_per_mv
    i0, i1 = int(round(box.t0_s * fs_hz)), min(n_samples, int(round(box.t1_s * fs_hz)))
    ts = np.arange(i0, i1) / fs_hz
    vals = np.interp(ts, t, v)
    # leave gaps (> 40 ms without ink) empty rather than invent a straight line
    idx = np.searchsorted(t, ts)
    idx = np.clip(idx, 1, t.size - 1)
    gap = (t[idx] - t[idx - 1]) > 0.04
    outside = (ts < t[0] - 0.02) | (ts > t[-1] + 0.02)
    vals[gap] = np.nan
    # the box edges (trimmed to skip separator ticks) take the nearest traced value, up to 80 ms
    edge = outside & ((ts >= t[0] - 0.08) & (ts <= t[-1] + 0.08))
    vals[outside & ~edge] = np.nan
    out[i0:i1] = vals
    return out
