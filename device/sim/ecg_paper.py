"""Printed-ECG simulator: synthetic 12-lead ECGs and real WFDB records drawn on ECG paper, plus photographic
artefacts (perspective, rotation, uneven light, shadow, blur, noise, JPEG). Used by tests, the demo and training.

The page follows the usual printout: red 1 mm / 5 mm grid, a 1 mV calibration pulse (0.2 s wide) at the start of
each row, lead labels, separator ticks between the 2.5-s columns of the 3x4 layout, and a lead II rhythm strip.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from device.ecg.types import FS_HZ, LEADS, N_SAMPLES

ROWS_3x4 = (("I", "aVR", "V1", "V4"), ("II", "aVL", "V2", "V5"), ("III", "aVF", "V3", "V6"))
ROWS_6x2 = (("I", "V1"), ("II", "V2"), ("III", "V3"), ("aVR", "V4"), ("aVL", "V5"), ("aVF", "V6"))


@dataclass(frozen=True)
class RenderedPage:
    """``image`` uint8 (H, W, 3) RGB; ``px_per_mm``; ``x0_px`` t = 0 of every row; ``baselines_px`` per row."""

    image: np.ndarray
    px_per_mm: float
    x0_px: float
    baselines_px: tuple[float, ...]


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
           layout: str = "3x4+1") -> RenderedPage:
    """Draw a printout of ``signals_mv`` (5000, 12) mV on a 280 x 215 mm page; ``layout`` "3x4+1" (3x4 and a
    rhythm strip) or "6x2" (six rows of two 5-s columns)."""
    rng = rng or np.random.default_rng(0)
    W, H = int(280 * px_per_mm), int(215 * px_per_mm)
    img = np.full((H, W, 3), 255, np.uint8)
    minor, major = (255, 200, 200), (235, 120, 120)
    for k in range(281):
        x = int(round(k * px_per_mm))
        cv2.line(img, (x, 0), (x, H - 1), major if k % 5 == 0 else minor, 2 if k % 5 == 0 else 1)
    for k in range(216):
        y = int(round(k * px_per_mm))
        cv2.line(img, (0, y), (W - 1, y), major if k % 5 == 0 else minor, 2 if k % 5 == 0 else 1)
    ink = (20, 20, 20)
    lw = max(1, int(round(0.2 * px_per_mm)))
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
    else:
        rows = [*ROWS_3x4, (rhythm_lead,)]
        baselines = [float(int((60 + 38 * r) * px_per_mm)) for r in range(4)]
    for r, leads in enumerate(rows):
        yb = baselines[r]
        pulse = np.array([[x_pulse - 2 * px_per_mm, yb], [x_pulse, yb], [x_pulse, yb - px_mv],
                          [x_pulse + 0.2 * px_s, yb - px_mv], [x_pulse + 0.2 * px_s, yb]], np.float64)
        cv2.polylines(img, [np.round(pulse).astype(np.int32).reshape(-1, 1, 2)], False, ink, lw, cv2.LINE_AA)
        seg = N_SAMPLES // len(leads)
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
            cv2.putText(img, lead, (int(xs[0] + 1 * px_per_mm), int(yb + 6 * px_per_mm)), cv2.FONT_HERSHEY_SIMPLEX,
                        0.045 * px_per_mm, ink, 1, cv2.LINE_AA)
            if k > 0:
                cv2.line(img, (int(xs[0]), int(yb - 3 * px_per_mm)), (int(xs[0]), int(yb + 3 * px_per_mm)), ink, lw)
    return RenderedPage(img, px_per_mm, x0, tuple(baselines))


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
