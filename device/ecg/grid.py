"""Grid detection: the printed millimetre grid gives the scale and, followed line by line, a flattening map.

``redness`` isolates the (red/pink/orange) grid from black traces and white paper. ``grid_period`` measures the line
spacing per axis from tile autocorrelations. ``grid_mesh`` follows grid-line crossings from the centre outwards, so a
wrinkled or curled sheet maps to straight millimetres; ``flatten`` resamples the image on that mesh.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from device.errors import InputError


@dataclass(frozen=True)
class GridInfo:
    """``period_px_x/y`` spacing of the detected lines; ``period_mm`` 1 or 5 (minor or major lines);
    ``mesh`` float32 (ni, nj, 2) (x, y) crossings in rectified px, step ``mesh_step_mm`` apart; ``confirmed`` bool
    (ni, nj) crossings seen in the image (others predicted)."""

    period_px_x: float
    period_px_y: float
    period_mm: float
    mesh: np.ndarray
    confirmed: np.ndarray
    mesh_step_mm: float

    @property
    def px_per_mm_x(self) -> float:
        return self.period_px_x / self.period_mm

    @property
    def px_per_mm_y(self) -> float:
        return self.period_px_y / self.period_mm


def redness(rgb: np.ndarray) -> np.ndarray:
    """float32 (H, W) >= 0: how much redder than green/blue a pixel is (grid ink), lightly blurred."""
    r = rgb[..., 0].astype(np.int16)
    gb = np.maximum(rgb[..., 1], rgb[..., 2]).astype(np.int16)
    red = np.clip(r - gb, 0, 255).astype(np.float32)
    return cv2.GaussianBlur(red, (0, 0), 1.0)


def colourfulness(rgb: np.ndarray) -> np.ndarray:
    """float32 (H, W): saturation-like (max - min channel) map, for grids printed in any colour (blue, green...)."""
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    s = hsv[..., 1].astype(np.float32) * hsv[..., 2].astype(np.float32) / 255.0
    return cv2.GaussianBlur(s, (0, 0), 1.0)


def greyness(rgb: np.ndarray) -> np.ndarray:
    """float32 (H, W): darkness capped at a light-grey level, for grey grids (photocopies); black traces are
    capped so that they do not dominate."""
    from device.ecg.traces import darkness

    d = darkness(rgb, 0.01 * max(rgb.shape[:2]))
    return cv2.GaussianBlur(np.minimum(d, 0.35) * 255.0, (0, 0), 1.0)


GRID_MAPS = (("red", redness), ("colour", colourfulness), ("grey", greyness))


def _autocorr_period(profile: np.ndarray, lo: int, hi: int) -> tuple[float, float]:
    x = profile - profile.mean()
    n = x.size
    if n < 2 * hi or not np.any(x):
        return 0.0, 0.0
    f = np.fft.rfft(x, 2 * n)
    ac = np.fft.irfft(f * np.conj(f))[: hi + 2]
    ac = ac / (ac[0] + 1e-9)
    seg = ac[lo : hi + 1]
    # first strong local maximum (the fundamental), not the global one
    peaks = [i for i in range(1, seg.size - 1) if seg[i] >= seg[i - 1] and seg[i] >= seg[i + 1] and seg[i] > 0.2]
    if not peaks:
        return 0.0, 0.0
    best = max(seg[i] for i in peaks)
    i = next(i for i in peaks if seg[i] > 0.6 * best)
    y0, y1, y2 = seg[i - 1], seg[i], seg[i + 1]
    d = 0.5 * (y0 - y2) / (y0 - 2 * y1 + y2 + 1e-12)
    return lo + i + float(np.clip(d, -0.5, 0.5)), float(y1)


def grid_period(red: np.ndarray) -> tuple[float, float, float]:
    """(period_px_x, period_px_y, strength 0..1) from the median of 4x4 central tiles. 0 when no periodic grid."""
    h, w = red.shape
    px, py, st = [], [], []
    for ty in range(4):
        for tx in range(4):
            y0, y1 = int(h * (0.1 + 0.2 * ty)), int(h * (0.1 + 0.2 * (ty + 1)))
            x0, x1 = int(w * (0.1 + 0.2 * tx)), int(w * (0.1 + 0.2 * (tx + 1)))
            tile = red[y0:y1, x0:x1]
            hi = min(tile.shape) // 3
            a, sa = _autocorr_period(tile.mean(0), 4, hi)
            b, sb = _autocorr_period(tile.mean(1), 4, hi)
            if a and b and 0.75 < a / b < 1.33:
                px.append(a)
                py.append(b)
                st.append(min(sa, sb))
    if len(px) < 3:
        return 0.0, 0.0, 0.0
    return float(np.median(px)), float(np.median(py)), float(np.median(st))


MIN_CONFIRMED = 0.45  # share of grid crossings seen in the image for a flattening to be used at all
WARN_CONFIRMED = 0.7  # below this the reading carries a warning to check the overlay
PROM = 1.4  # a line must stand this many standard deviations above the window's mean


def _peak(profile: np.ndarray) -> tuple[float, float]:
    """Index of the maximum (sub-pixel) and its prominence over the profile median, in profile-std units."""
    i = int(profile.argmax())
    mean = float(profile.mean())
    sd = float(np.sqrt(max(float((profile * profile).mean()) - mean * mean, 0.0))) + 1e-6
    prom = (float(profile[i]) - mean) / sd
    if 0 < i < profile.size - 1:
        y0, y1, y2 = profile[i - 1], profile[i], profile[i + 1]
        d = 0.5 * (y0 - y2) / (y0 - 2 * y1 + y2 + 1e-12)
        return i + float(np.clip(d, -0.5, 0.5)), prom
    return float(i), prom


def _refine(red: np.ndarray, x: float, y: float, sx: float, sy: float) -> tuple[float, float, bool]:
    """Snap a predicted crossing (x, y) to the nearest vertical and horizontal line within +-0.4 period."""
    h, w = red.shape
    rx, ry = max(2, int(0.4 * sx)), max(2, int(0.4 * sy))
    bx, by = max(3, int(0.9 * sx)), max(3, int(0.9 * sy))
    xi, yi = int(round(x)), int(round(y))
    if xi - bx < 0 or yi - by < 0 or xi + bx >= w or yi + by >= h:
        return x, y, False
    vert = red[yi - by : yi + by, xi - rx : xi + rx + 1].sum(0)
    horz = red[yi - ry : yi + ry + 1, xi - bx : xi + bx].sum(1)
    dx, px = _peak(vert)
    dy, py = _peak(horz)
    ok = px > PROM and py > PROM
    nx = xi - rx + dx if px > PROM else x
    ny = yi - ry + dy if py > PROM else y
    return nx, ny, ok


def grid_mesh(red: np.ndarray, sx: float, sy: float, max_miss: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Follow crossings of lines spaced ``sx``/``sy`` px from the centre. Returns mesh (ni, nj, 2) and confirmed."""
    h, w = red.shape
    ni, nj = int(h / sy) + 3, int(w / sx) + 3
    ci, cj = ni // 2, nj // 2
    mesh = np.full((ni, nj, 2), np.nan, np.float32)
    conf = np.zeros((ni, nj), bool)
    # seed: the most confident crossing near the centre
    best = None
    for oy in np.linspace(-sy / 2, sy / 2, 3):
        for ox in np.linspace(-sx / 2, sx / 2, 3):
            x, y, ok = _refine(red, w / 2 + ox, h / 2 + oy, sx, sy)
            if ok:
                best = (x, y)
                break
        if best:
            break
    if best is None:
        best = (w / 2, h / 2)
    mesh[ci, cj] = best
    conf[ci, cj] = True

    def walk_row(i: int, j0: int) -> None:
        for direction in (1, -1):
            miss, j = 0, j0
            step = np.array([sx * direction, 0.0], np.float32)
            while 0 <= j + direction < nj and miss <= max_miss:
                nxt = j + direction
                pred = mesh[i, j] + step
                if not np.all(np.isnan(mesh[i, nxt])):  # predicted from the row before: average the two guesses
                    pred = 0.5 * (pred + mesh[i, nxt])
                x, y, ok = _refine(red, float(pred[0]), float(pred[1]), sx, sy)
                if not (0 <= x < w and 0 <= y < h):
                    break
                mesh[i, nxt] = (x, y)
                conf[i, nxt] = ok
                miss = 0 if ok else miss + 1
                if ok:
                    step = 0.7 * step + 0.3 * (mesh[i, nxt] - mesh[i, j])
                j = nxt

    walk_row(ci, cj)
    for direction in (1, -1):
        i = ci
        while 0 <= i + direction < ni:
            prev, nxt = i, i + direction
            js = np.where(conf[prev])[0]
            if js.size == 0:
                break
            # vertical step from the previous pair of rows where available
            vs = np.array([0.0, sy * direction], np.float32)
            row_pred = mesh[prev] + vs
            if 0 <= prev - direction < ni:
                both = conf[prev] & conf[prev - direction]
                if both.sum() > 3:
                    d = mesh[prev, both] - mesh[prev - direction, both]
                    vs = np.median(d, axis=0)
                    row_pred = mesh[prev] + vs
            mesh[nxt] = row_pred
            jc = js[np.argmin(np.abs(js - cj))]
            x, y, ok = _refine(red, float(row_pred[jc, 0]), float(row_pred[jc, 1]), sx, sy)
            if not (0 <= y < h) or not ok:
                # try a few neighbours before giving up on the row
                cands = [j for j in js if j != jc][:6]
                found = False
                for jj in cands:
                    x, y, ok = _refine(red, float(row_pred[jj, 0]), float(row_pred[jj, 1]), sx, sy)
                    if ok and 0 <= y < h:
                        jc, found = jj, True
                        break
                if not found:
                    mesh[nxt] = np.nan
                    break
            mesh[nxt, jc] = (x, y)
            conf[nxt, jc] = True
            walk_row(nxt, jc)
            i = nxt
    return mesh, conf


def confirmed_share(conf: np.ndarray) -> float:
    """Share of crossings actually seen in the image, over the rows/columns a flattening uses."""
    rows = np.where(conf.sum(1) >= max(3, 0.25 * conf.sum(1).max()))[0]
    cols = np.where(conf.sum(0) >= max(3, 0.25 * conf.sum(0).max()))[0]
    if rows.size == 0 or cols.size == 0:
        return 0.0
    return float(conf[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].mean())


def _fill(mesh: np.ndarray, conf: np.ndarray) -> tuple[np.ndarray, slice, slice]:
    """Crop to the rows/cols with enough confirmed crossings; fill the rest by per-row then per-column linear fits."""
    rows = np.where(conf.sum(1) >= max(3, 0.25 * conf.sum(1).max()))[0]
    cols = np.where(conf.sum(0) >= max(3, 0.25 * conf.sum(0).max()))[0]
    if rows.size < 4 or cols.size < 4:
        raise InputError("no grid: too few grid lines could be followed; photograph the ECG flat, in even light",
                         step="no grid")
    rs, cs = slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)
    m = mesh[rs, cs].copy()
    c = conf[rs, cs]
    if c.mean() < MIN_CONFIRMED:
        raise InputError(f"no grid: the grid lines could be followed at only {c.mean():.0%} of their crossings "
                         "(crumpled, folded or shadowed paper, or a faint grid); flatten the printout, light it "
                         "evenly and retake", step="no grid")
    m[~c] = np.nan
    ii, jj = np.mgrid[0 : m.shape[0], 0 : m.shape[1]]
    for k in range(2):
        v = m[..., k]
        good = np.isfinite(v)
        # smooth surface fit (quadratic in i, j) as the fallback for holes
        A = np.stack([np.ones(good.sum()), ii[good], jj[good], ii[good] ** 2, jj[good] ** 2, ii[good] * jj[good]], 1)
        coef, *_ = np.linalg.lstsq(A, v[good], rcond=None)
        Af = np.stack([np.ones(v.size), ii.ravel(), jj.ravel(), ii.ravel() ** 2, jj.ravel() ** 2,
                       (ii * jj).ravel()], 1)
        surf = (Af @ coef).reshape(v.shape)
        resid = np.where(good, v - surf, 0.0).astype(np.float32)
        wgt = good.astype(np.float32)
        # spread the residuals of confirmed crossings into holes (normalised blur)
        ks = (5, 5)
        num = cv2.GaussianBlur(resid, ks, 1.2)
        den = cv2.GaussianBlur(wgt, ks, 1.2)
        filled = surf + np.where(den > 0.05, num / np.maximum(den, 1e-6), 0.0)
        m[..., k] = np.where(good, v, filled)
    return m.astype(np.float32), rs, cs


def flatten(rgb: np.ndarray, mesh: np.ndarray, conf: np.ndarray, step_mm: float,
            px_per_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """Resample ``rgb`` so the followed grid becomes straight at ``px_per_mm``.

    Returns (flat uint8 (h, w, 3), mesh_used float32 (ni, nj, 2)). Output pixel (u, v) sits at
    (u, v) / px_per_mm mm from the first followed crossing."""
    m, _, _ = _fill(mesh, conf)
    f = step_mm * px_per_mm
    ni, nj = m.shape[:2]
    out_w, out_h = int((nj - 1) * f) + 1, int((ni - 1) * f) + 1
    jj = np.arange(out_w, dtype=np.float32) / f
    ii = np.arange(out_h, dtype=np.float32) / f
    # separable bilinear interpolation of the mesh: first along j, then along i (float32, in place)
    j0 = np.clip(np.floor(jj).astype(int), 0, nj - 2)
    wj = (jj - j0).astype(np.float32)[None, :, None]
    rowsx = m[:, j0] * (1 - wj) + m[:, j0 + 1] * wj  # (ni, out_w, 2)
    i0 = np.clip(np.floor(ii).astype(int), 0, ni - 2)
    wi = (ii - i0).astype(np.float32)[:, None, None]
    full = rowsx[i0]
    nxt = rowsx[i0 + 1]
    nxt -= full
    nxt *= wi
    full += nxt  # (out_h, out_w, 2)
    full = np.ascontiguousarray(full, dtype=np.float32)
    flat = cv2.remap(rgb, full, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return flat, m
