"""Printed-ECG simulator: synthetic 12-lead ECGs and real WFDB records drawn on ECG paper, plus photographic
artefacts (perspective, rotation, uneven light, shadow, blur, noise, JPEG). Used by tests, the demo and training.

The page follows the usual printout: red 1 mm / 5 mm grid, a 1 mV calibration pulse (0.2 s wide) at the start of
each row, lead labels, separator ticks between the 2.5-s columns of the 3x4 layout, and a lead II rhythm strip.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from device.ecg.types import FS_HZ, LEADS, N_SAMPLES

ROWS_3x4 = (("I", "aVR", "V1", "V4"), ("II", "aVL", "V2", "V5"), ("III", "aVF", "V3", "V6"))
ROWS_6x2 = (("I", "V1"), ("II", "V2"), ("III", "V3"), ("aVR", "V4"), ("aVL", "V5"), ("aVF", "V6"))
ROWS_12x1 = tuple((lead,) for lead in LEADS)
# (minor, major) grid line colours: the default red, and what other printers and papers use
GRID_COLOURS = {"red": ((255, 200, 200), (235, 120, 120)), "pink": ((250, 215, 225), (240, 150, 175)),
                "orange": ((255, 215, 180), (240, 160, 100)), "green": ((200, 235, 200), (120, 190, 120)),
                "blue": ((205, 220, 245), (130, 160, 220)), "grey": ((215, 215, 215), (160, 160, 160))}


@dataclass(frozen=True)
class RenderedPage:
    """``image`` uint8 (H, W, 3) RGB; ``px_per_mm``; ``x0_px`` t = 0 of every row; ``baselines_px`` per row."""

    image: np.ndarray
    px_per_mm: float
    x0_px: float
    baselines_px: tuple[float, ...]
    # with ``truth=True`` only: the lead boxes as the reader would draw them (device.ecg.types.LeadBox, this page's
    # pixels), the signal as printed (5000, 12) mV (NaN where a lead was not printed) and a uint8 (H, W) mask of the
    # trace ink alone (no pulses, labels, ticks or grid)
    boxes: tuple = ()
    printed_mv: np.ndarray | None = None
    trace_ink: np.ndarray | None = field(default=None, repr=False)


def _limb_from_i_ii(i: np.ndarray, ii: np.ndarray) -> dict[str, np.ndarray]:
    return {"I": i, "II": ii, "III": ii - i, "aVR": -(i + ii) / 2, "aVL": i - ii / 2, "aVF": ii - i / 2}


def synthetic_ecg(rng: np.random.Generator, *, hr_bpm: float | None = None, kind: str = "normal") -> np.ndarray:
    """float32 (5000, 12) mV at 500 Hz. ``kind``: "normal", "afib", "wide_qrs", "st_elevation", "t_inversion",
    "lvh", "brady", "tachy"."""
    hr = hr_bpm or {"brady": 45.0, "tachy": 125.0}.get(kind, float(rng.uniform(55, 95)))
    t = np.arange(N_SAMPLES) / FS_HZ
    rr = 60.0 / hr
    beats = []
    tb = float(rng.uniform(0.1, 0.5))
    while tb < 10.3:
        beats.append(tb)
        tb += rr * (rng.uniform(0.6, 1.4) if kind == "afib" else rng.uniform(0.97, 1.03))
    qrs_w = 0.032 if kind == "wide_qrs" else 0.016
    # per-lead amplitudes (P, Q, R, S, T) in mV for the two limb generators and the six chest leads
    base = {"I": (0.08, -0.05, 0.7, -0.1, 0.2), "II": (0.12, -0.05, 1.0, -0.15, 0.3),
            "V1": (0.06, 0.0, 0.25, -0.9, -0.05), "V2": (0.06, 0.0, 0.5, -1.2, 0.4), "V3": (0.06, 0.0, 0.8, -0.8, 0.4),
            "V4": (0.07, -0.05, 1.2, -0.4, 0.35), "V5": (0.07, -0.07, 1.1, -0.2, 0.3), "V6": (0.07, -0.06, 0.9, -0.1, 0.25)}
    out: dict[str, np.ndarray] = {}
    for lead, (pa, qa, ra, sa, ta) in base.items():
        f = rng.uniform(0.8, 1.2)
        if kind == "lvh" and lead in ("V5", "V6"):
            ra *= 2.6
        if kind == "lvh" and lead == "V1":
            sa *= 2.2
        if kind == "t_inversion" and lead in ("I", "II", "V4", "V5", "V6"):
            ta = -abs(ta) - 0.1
        x = np.zeros_like(t)
        for b in beats:
            if kind != "afib":
                x += pa * np.exp(-((t - b + 0.16) / 0.025) ** 2)
            x += qa * np.exp(-((t - b + 0.025) / (qrs_w * 0.8)) ** 2)
            x += ra * f * np.exp(-((t - b) / qrs_w) ** 2)
            x += sa * np.exp(-((t - b - 0.03) / (qrs_w * 1.1)) ** 2)
            x += ta * np.exp(-((t - b - 0.3) / 0.06) ** 2)
            if kind == "st_elevation" and lead in ("V2", "V3", "V4", "II"):
                x += 0.3 * np.exp(-((t - b - 0.15) / 0.08) ** 4)
        if kind == "afib":
            x += 0.05 * np.sin(2 * np.pi * rng.uniform(5, 7) * t + rng.uniform(0, 6))
        x += 0.05 * np.sin(2 * np.pi * 0.25 * t + rng.uniform(0, 6))  # baseline wander
        out[lead] = x + rng.normal(0, 0.008, t.size)
    out.update(_limb_from_i_ii(out["I"], out["II"]))
    return np.stack([out[k] for k in LEADS], 1).astype(np.float32)


def record_signals(hea_path: str | Path, start_s: float = 0.0) -> np.ndarray:
    """A WFDB record as float32 (5000, 12) mV at 500 Hz (10 s from ``start_s``); leads matched by name
    (case-insensitive), limb leads derived from I and II when missing, NaN when underivable."""
    from device.ecg.wfdb import read_record

    rec = read_record(hea_path)
    names = {n.strip().lower(): j for j, n in enumerate(rec.lead_names)}
    i0 = int(start_s * rec.fs_hz)
    n_src = int(10.0 * rec.fs_hz)
    t_src = np.arange(n_src) / rec.fs_hz
    t_dst = np.arange(N_SAMPLES) / FS_HZ
    cols: dict[str, np.ndarray] = {}
    for lead in LEADS:
        j = names.get(lead.lower())
        if j is None:
            continue
        x = rec.signals_mv[i0 : i0 + n_src, j]
        if x.size < n_src:
            x = np.concatenate([x, np.full(n_src - x.size, np.nan)])
        cols[lead] = np.interp(t_dst, t_src, x)
    if "I" in cols and "II" in cols:
        for k, v in _limb_from_i_ii(cols["I"], cols["II"]).items():
            cols.setdefault(k, v)
    return np.stack([cols.get(k, np.full(N_SAMPLES, np.nan)) for k in LEADS], 1).astype(np.float32)


def render(signals_mv: np.ndarray, *, px_per_mm: float = 10.0, gain_mm_mv: float = 10.0, speed_mm_s: float = 25.0,
           rng: np.random.Generator | None = None, rhythm_lead: str = "II", header: str = "CardioCart sim",
           layout: str = "3x4+1", grid: str = "red", ink_mm: float | None = None, row_mm: float | None = None,
           truth: bool = False) -> RenderedPage:
    """Draw a printout of ``signals_mv`` (5000, 12) mV on a 280 x 215 mm page; ``layout`` "3x4+1" (3x4 and a
    rhythm strip), "3x4+3" (rhythm strips II, V1, V5), "6x2" (six rows of two columns) or "12x1".

    ``grid`` a GRID_COLOURS name; ``ink_mm`` trace width (default 0.2 mm); ``row_mm`` printed row length (default
    none: every row holds the whole 10 s, as before; 250 mm is a real printer's, 5 s at 50 mm/s); ``truth`` fills
    the page's boxes, printed signal and trace-ink mask. The defaults draw the same pixels as before."""
    rng = rng or np.random.default_rng(0)
    W, H = int(280 * px_per_mm), int(215 * px_per_mm)
    img = np.full((H, W, 3), 255, np.uint8)
    minor, major = GRID_COLOURS[grid]
    for k in range(281):
        x = int(round(k * px_per_mm))
        cv2.line(img, (x, 0), (x, H - 1), major if k % 5 == 0 else minor, 2 if k % 5 == 0 else 1)
    for k in range(216):
        y = int(round(k * px_per_mm))
        cv2.line(img, (0, y), (W - 1, y), major if k % 5 == 0 else minor, 2 if k % 5 == 0 else 1)
    ink = (20, 20, 20)
    lw = max(1, int(round((0.2 if ink_mm is None else ink_mm) * px_per_mm)))
    cv2.putText(img, header, (int(10 * px_per_mm), int(10 * px_per_mm)), cv2.FONT_HERSHEY_SIMPLEX,
                0.05 * px_per_mm, ink, 1, cv2.LINE_AA)
    cv2.putText(img, f"{speed_mm_s:g}mm/s  {gain_mm_mv:g}mm/mV", (int(30 * px_per_mm), int(208 * px_per_mm)),
                cv2.FONT_HERSHEY_SIMPLEX, 0.05 * px_per_mm, ink, 1, cv2.LINE_AA)
    px_s = speed_mm_s * px_per_mm
    px_mv = gain_mm_mv * px_per_mm
    x_pulse = 12.0 * px_per_mm
    x0 = x_pulse + 0.2 * px_s
    if layout == "6x2":
        rows = list(ROWS_6x2)
        baselines = [float(int((35 + 29 * r) * px_per_mm)) for r in range(6)]
    elif layout == "12x1":
        rows = list(ROWS_12x1)
        baselines = [float(int((22 + 15.5 * r) * px_per_mm)) for r in range(12)]
    elif layout == "3x4+3":
        rows = [*ROWS_3x4, ("II",), ("V1",), ("V5",)]
        baselines = [float(int((32 + 29 * r) * px_per_mm)) for r in range(6)]
    elif layout == "3x4+1":
        rows = [*ROWS_3x4, (rhythm_lead,)]
        baselines = [float(int((60 + 38 * r) * px_per_mm)) for r in range(4)]
    else:
        raise ValueError(f"unknown layout {layout!r}")
    n_row = N_SAMPLES if row_mm is None else min(N_SAMPLES, int(round(row_mm / speed_mm_s * FS_HZ)))
    spacing = float(np.median(np.diff(baselines)))
    boxes, printed = [], np.full((N_SAMPLES, len(LEADS)), np.nan, np.float32)
    ink_mask = np.zeros((H, W), np.uint8) if truth else None
    for r, leads in enumerate(rows):
        yb = baselines[r]
        pulse = np.array([[x_pulse - 2 * px_per_mm, yb], [x_pulse, yb], [x_pulse, yb - px_mv],
                          [x_pulse + 0.2 * px_s, yb - px_mv], [x_pulse + 0.2 * px_s, yb]], np.float64)
        cv2.polylines(img, [np.round(pulse).astype(np.int32).reshape(-1, 1, 2)], False, ink, lw, cv2.LINE_AA)
        seg = n_row // len(leads)
        for k, lead in enumerate(leads):
            j = LEADS.index(lead)
            i0, i1 = k * seg, (k + 1) * seg
            y = signals_mv[i0:i1, j].astype(np.float64)
            if not np.isfinite(y).any():
                continue
            y = np.nan_to_num(y, nan=float(np.nanmean(y)))
            xs = x0 + np.arange(i0, i1) / FS_HZ * px_s
            ys = yb - y * px_mv
            pts = np.round(np.stack([xs, ys], 1) * 4).astype(np.int32).reshape(-1, 1, 2)
            cv2.polylines(img, [pts], False, ink, lw, cv2.LINE_AA, shift=2)
            if truth:
                from device.ecg.types import LeadBox

                cv2.polylines(ink_mask, [pts], False, 255, lw, cv2.LINE_AA, shift=2)
                boxes.append(LeadBox(lead=lead, x0=float(xs[0]), x1=float(x0 + i1 / FS_HZ * px_s),
                                     y0=yb - 0.75 * spacing, y1=yb + 0.75 * spacing, baseline_y=yb,
                                     t0_s=i0 / FS_HZ, t1_s=i1 / FS_HZ, row=r))
                fill = ~np.isfinite(printed[i0:i1, j])
                printed[i0:i1, j][fill] = y[fill]
            cv2.putText(img, lead, (int(xs[0] + 1 * px_per_mm), int(yb + 6 * px_per_mm)), cv2.FONT_HERSHEY_SIMPLEX,
                        0.045 * px_per_mm, ink, 1, cv2.LINE_AA)
            if k > 0:
                cv2.line(img, (int(xs[0]), int(yb - 3 * px_per_mm)), (int(xs[0]), int(yb + 3 * px_per_mm)), ink, lw)
    if not truth:
        return RenderedPage(img, px_per_mm, x0, tuple(baselines))
    return RenderedPage(img, px_per_mm, x0, tuple(baselines), tuple(boxes), printed, ink_mask)


def photograph(page: np.ndarray, rng: np.random.Generator, *, strength: float = 1.0) -> np.ndarray:
    """Simulate a phone photo of ``page`` uint8 (H, W, 3): the sheet on a wooden-brown table, perspective and
    rotation, a lighting gradient with a soft shadow, slight blur, sensor noise and JPEG compression."""
    h, w = page.shape[:2]
    pad = int(0.12 * max(h, w))
    H, W = h + 2 * pad, w + 2 * pad
    bg = np.zeros((H, W, 3), np.uint8)
    bg[:] = (rng.integers(90, 140), rng.integers(60, 90), rng.integers(30, 60))
    bg = cv2.add(bg, rng.normal(0, 6, bg.shape).astype(np.int8).astype(np.uint8) // 4)
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    j = 0.04 * strength * min(h, w)
    dst = np.float32([[pad, pad], [pad + w, pad], [pad + w, pad + h], [pad, pad + h]]) + rng.uniform(-j, j, (4, 2)).astype(np.float32)
    ang = np.radians(rng.uniform(-6, 6) * strength)
    c = np.float32([W / 2, H / 2])
    R = np.float32([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    dst = (dst - c) @ R.T + c
    M = cv2.getPerspectiveTransform(src, dst.astype(np.float32))
    out = cv2.warpPerspective(page, M, (W, H), borderMode=cv2.BORDER_TRANSPARENT, dst=bg.copy())
    # the light field is smooth: build it at 1/8 resolution, then resize
    hs, ws = max(2, H // 8), max(2, W // 8)
    yy, xx = np.mgrid[0:hs, 0:ws].astype(np.float32)
    gx, gy = rng.uniform(-1, 1, 2)
    light = 1.0 - 0.18 * strength * (0.5 + 0.5 * (gx * (xx / ws - 0.5) + gy * (yy / hs - 0.5)))
    # a soft diagonal shadow band
    a, b = rng.uniform(-1, 1, 2)
    d = (a * (xx / ws - 0.5) + b * (yy / hs - 0.5))
    light *= 1.0 - 0.15 * strength * (d > rng.uniform(-0.2, 0.2))
    light = cv2.resize(cv2.GaussianBlur(light, (0, 0), 25 / 8), (W, H), interpolation=cv2.INTER_LINEAR)
    out = np.clip(out.astype(np.float32) * light[..., None] + rng.normal(0, 3 * strength, out.shape), 0, 255)
    out = cv2.GaussianBlur(out.astype(np.uint8), (0, 0), 0.3 + 0.5 * strength * rng.uniform())
    ok, enc = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(75, 95))])
    return cv2.imdecode(enc, cv2.IMREAD_UNCHANGED)


@dataclass(frozen=True)
class PhotoDamage:
    """What one software photograph does to a page, drawn once (photo_damage) so that the same damage can be applied
    with the camera geometry (apply_damage(geometry=True)) or in the page's own pixels (geometry=False: the stage
    error budget's oracle rectification)."""

    corners: np.ndarray  # (4, 2) corner jitter as a share of the short side
    angle_deg: float
    curl: float  # page-curl bow, share of the page height, + bows the middle down
    fold: tuple[float, float, float]  # (position 0-1 across, slope, crease depth 0-1); depth 0: no fold
    cast: tuple[float, float, float]  # RGB gains (a colour cast: tungsten light, a blue screen, old paper)
    light: tuple[float, float, float]  # gradient (gx, gy) and its depth
    shadow: tuple[float, float, float, float]  # direction (a, b), threshold, depth
    blur_px: float  # Gaussian sigma at the page's resolution
    noise: float
    jpeg: int
    table_rgb: tuple[int, int, int]


def photo_damage(rng: np.random.Generator, strength: float = 1.0) -> PhotoDamage:
    """Draw a harder phone photo than ``photograph`` (curl, folds, colour casts, stronger blur and JPEG)."""
    s = strength
    fold = (float(rng.uniform(0.25, 0.75)), float(rng.uniform(-0.1, 0.1)),
            float(rng.uniform(0.1, 0.35) * s) if rng.uniform() < 0.4 else 0.0)
    return PhotoDamage(
        corners=rng.uniform(-0.05 * s, 0.05 * s, (4, 2)), angle_deg=float(rng.uniform(-7, 7) * s),
        curl=float(rng.uniform(-0.015, 0.015) * s), fold=fold,
        cast=tuple(float(g) for g in 1.0 + rng.uniform(-0.12, 0.06, 3) * s),
        light=(float(rng.uniform(-1, 1)), float(rng.uniform(-1, 1)), float(rng.uniform(0.05, 0.3) * s)),
        shadow=(float(rng.uniform(-1, 1)), float(rng.uniform(-1, 1)), float(rng.uniform(-0.3, 0.3)),
                float(rng.uniform(0.0, 0.3) * s)),
        blur_px=float(0.3 + rng.uniform(0, 1.4) * s), noise=float(rng.uniform(1, 5) * s),
        jpeg=int(rng.integers(int(95 - 40 * min(s, 1.0)), 96)),
        table_rgb=(int(rng.integers(60, 160)), int(rng.integers(50, 120)), int(rng.integers(30, 90))))


def _light_field(h: int, w: int, d: PhotoDamage) -> np.ndarray:
    hs, ws = max(2, h // 8), max(2, w // 8)
    yy, xx = np.mgrid[0:hs, 0:ws].astype(np.float32)
    u, v = xx / ws - 0.5, yy / hs - 0.5
    gx, gy, depth = d.light
    light = 1.0 - depth * (0.5 + 0.5 * (gx * u + gy * v))
    a, b, thr, sdepth = d.shadow
    light *= 1.0 - sdepth * ((a * u + b * v) > thr)
    pos, slope, crease = d.fold
    if crease > 0:  # a fold: a dark crease line and one side a little darker (it faces away from the light)
        dist = u + 0.5 - pos - slope * v
        light *= 1.0 - crease * np.exp(-(dist * ws / 1.5) ** 2) - 0.3 * crease * (dist > 0)
    light = cv2.GaussianBlur(light, (0, 0), 1.5)
    return cv2.resize(light, (w, h), interpolation=cv2.INTER_LINEAR)


def apply_damage(page: np.ndarray, d: PhotoDamage, rng: np.random.Generator, *, geometry: bool = True) -> np.ndarray:
    """The photo of ``page`` uint8 (H, W, 3) RGB under damage ``d``. ``geometry=False`` keeps the page's pixels in
    place (no table, perspective, rotation or curl): the same light, cast, blur, noise and JPEG only."""
    h, w = page.shape[:2]
    lit = page.astype(np.float32) * _light_field(h, w, d)[..., None] * np.float32(d.cast)
    out = np.clip(lit, 0, 255).astype(np.uint8)
    if geometry:
        if d.curl:  # the sheet bows: rows sag by up to curl * h in the middle, less towards the edges
            yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
            bow = d.curl * h * (1.0 - (2.0 * xx / w - 1.0) ** 2) * (0.5 + 0.5 * yy / h)
            out = cv2.remap(out, xx, yy - bow, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        pad = int(0.12 * max(h, w))
        H, W = h + 2 * pad, w + 2 * pad
        bg = np.empty((H, W, 3), np.uint8)
        bg[:] = d.table_rgb
        src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
        dst = np.float32([[pad, pad], [pad + w, pad], [pad + w, pad + h], [pad, pad + h]])
        dst = dst + (d.corners * min(h, w)).astype(np.float32)
        ang = np.radians(d.angle_deg)
        c = np.float32([W / 2, H / 2])
        R = np.float32([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
        M = cv2.getPerspectiveTransform(src, ((dst - c) @ R.T + c).astype(np.float32))
        out = cv2.warpPerspective(out, M, (W, H), borderMode=cv2.BORDER_TRANSPARENT, dst=bg)
    out = np.clip(out.astype(np.float32) + rng.normal(0, d.noise, out.shape).astype(np.float32), 0, 255)
    out = cv2.GaussianBlur(out.astype(np.uint8), (0, 0), d.blur_px)
    ok, enc = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, d.jpeg])
    return cv2.imdecode(enc, cv2.IMREAD_UNCHANGED)
