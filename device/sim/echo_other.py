"""Screens that are not a 2-D view of the heart (class OTHER): no heart in the fan, probe in air, M-mode, Doppler.

Each function returns a grey image (H, W) uint8 of the imaging area, to be overlaid like any other frame.
"""

from __future__ import annotations

import cv2
import numpy as np

from device.sim.echo_render import BModeRenderer, Look
from device.sim.echo_shapes import Shape, ellipse

OTHER_KINDS = ("no_heart", "lung", "air", "mmode", "doppler", "not_ultrasound")


def no_heart(r: BModeRenderer, rng: np.random.Generator, depth_mm: float, look: Look) -> np.ndarray:
    """Liver / abdominal tissue with a few vessels and no cardiac structure."""
    shapes = [Shape(ellipse(rng.uniform(-30, 30), rng.uniform(50, 110), rng.uniform(60, 120), rng.uniform(50, 90),
                            rng.uniform(-30, 30)), "liver")]
    for _ in range(int(rng.integers(1, 6))):
        rad = rng.uniform(3, 9)
        shapes.append(Shape(ellipse(rng.uniform(-60, 60), rng.uniform(20, depth_mm * 0.9), rad,
                                    rad * rng.uniform(0.6, 1.4)), "blood"))
    if rng.random() < 0.5:  # a kidney-like or bowel-like bright rim
        shapes.append(Shape(ellipse(rng.uniform(-40, 40), rng.uniform(60, 130), 30, 15, rng.uniform(0, 180), 40,
                                    0, np.pi), "bright", closed=False, thickness_mm=3))
    refl, _ = r.rasterise(shapes, depth_mm)
    return r.render(refl, depth_mm, look)


def lung(r: BModeRenderer, rng: np.random.Generator, depth_mm: float, look: Look) -> np.ndarray:
    """Aerated lung: a bright pleural line and repeated A-lines below it, no heart."""
    pl = rng.uniform(12, 25)
    shapes = [Shape(ellipse(0, depth_mm * 1.5, 400, depth_mm * 1.5 - 300, 0), "lung")]
    refl, _ = r.rasterise(shapes, depth_mm)
    mmpp = r.geom.mm_per_px(depth_mm)
    depth = np.clip(r.r_px - r.geom.r0_px, 0, None) * mmpp
    refl = np.full_like(refl, 0.05)
    for k in range(1, 8):
        refl += (0.9 / k) * np.exp(-((depth - k * pl) / 1.2) ** 2).astype(np.float32)
    return r.render(refl, depth_mm, look)


def air(r: BModeRenderer, rng: np.random.Generator, depth_mm: float, look: Look) -> np.ndarray:
    """Probe in air: an almost black fan with reverberation bands near the face."""
    mmpp = r.geom.mm_per_px(depth_mm)
    depth = np.clip(r.r_px - r.geom.r0_px, 0, None) * mmpp
    step = rng.uniform(3, 6)
    refl = np.full(depth.shape, 0.004, np.float32)
    for k in range(1, 6):
        refl += (0.5 / k ** 1.5) * np.exp(-((depth - k * step) / 0.8) ** 2).astype(np.float32)
    return r.render(refl, depth_mm, look)


def mmode(h: int, w: int, rng: np.random.Generator, t_s: float, hr_bpm: float) -> np.ndarray:
    """An M-mode strip (depth down, time across) of moving walls across most of the screen, a small fan above."""
    img = np.zeros((h, w), np.float32)
    y0, y1 = int(0.3 * h), int(0.85 * h)
    x0, x1 = int(0.08 * w), int(0.92 * w)
    tt = t_s - (x1 - np.arange(x0, x1)) / (x1 - x0) * 4.0
    ph = (tt * hr_bpm / 60.0) % 1.0
    c = np.where(ph < 0.38, 0.5 - 0.5 * np.cos(np.pi * ph / 0.38),
                 np.where(ph < 0.6, 0.5 + 0.5 * np.cos(np.pi * (ph - 0.38) / 0.22), 0.0))
    ys = np.arange(y0, y1)[:, None]
    hgt = y1 - y0
    layers = [(0.08, 0.0, 0.7), (0.22, 0.05, 0.9), (0.3, 0.08, 0.8), (0.62, -0.1, 0.9), (0.72, -0.06, 0.8),
              (0.9, 0.0, 1.0)]
    for base, move, val in layers:
        yc = y0 + hgt * (base + rng.uniform(-0.02, 0.02) + move * c)[None, :]
        img[y0:y1, x0:x1] += val * np.exp(-((ys - yc) / (0.012 * hgt)) ** 2)
    img[y0:y1, x0:x1] *= rng.rayleigh(0.8, (hgt, x1 - x0)).astype(np.float32)
    img[y0:y1, x0:x1] += 0.05
    cv2.line(img, (x0, y0), (x1, y0), 0.5, 1)
    cx, cy = w // 2, int(0.02 * h)
    pts = np.array([[cx, cy], [cx - int(0.12 * w), int(0.26 * h)], [cx + int(0.12 * w), int(0.26 * h)]])
    cv2.fillPoly(img, [pts], 0.18)
    cv2.line(img, (cx, cy), (cx + int(0.02 * w), int(0.26 * h)), 0.8, 1)
    return np.clip(img * 200, 0, 255).astype(np.uint8)


def doppler(h: int, w: int, rng: np.random.Generator, t_s: float, hr_bpm: float) -> np.ndarray:
    """A spectral Doppler display: baseline, velocity scale and one spectral envelope per beat."""
    img = np.zeros((h, w), np.float32)
    y0, y1 = int(0.35 * h), int(0.88 * h)
    base = int(y0 + (y1 - y0) * rng.uniform(0.2, 0.5))
    x0, x1 = int(0.08 * w), int(0.9 * w)
    tt = t_s - (x1 - np.arange(x0, x1)) / (x1 - x0) * 4.0
    ph = (tt * hr_bpm / 60.0) % 1.0
    e_wave = np.exp(-((ph - 0.52) / 0.05) ** 2) + 0.6 * np.exp(-((ph - 0.9) / 0.04) ** 2)
    s_wave = np.exp(-((ph - 0.18) / 0.07) ** 2)
    sign = 1 if rng.random() < 0.5 else -1
    vmax = (y1 - base) * 0.8
    env = sign * e_wave * vmax - sign * 0.5 * s_wave * (base - y0) * 0.8
    ys = np.arange(y0, y1)[:, None]
    d = (ys - base)[:, :] / np.where(np.abs(env) < 1, 1, env)[None, :]
    fill = ((d > 0) & (d < 1)).astype(np.float32) * (0.4 + 0.6 * d.clip(0, 1))
    img[y0:y1, x0:x1] = fill * rng.random(fill.shape).astype(np.float32) * 1.2
    cv2.line(img, (x0, base), (x1, base), 0.7, 1)
    for k in range(5):
        y = int(y0 + k * (y1 - y0) / 4)
        cv2.line(img, (x1 + 4, y), (x1 + 10, y), 0.8, 1)
    cx, cy = w // 2, int(0.02 * h)
    pts = np.array([[cx, cy], [cx - int(0.13 * w), int(0.3 * h)], [cx + int(0.13 * w), int(0.3 * h)]])
    cv2.fillPoly(img, [pts], 0.2)
    return np.clip(img * 200, 0, 255).astype(np.uint8)


def not_ultrasound(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A screen that is not an ultrasound image (a camera scene or a desktop): shaded blobs, boxes and text."""
    img = cv2.resize(rng.random((4, 5)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    img = 0.2 + 0.5 * img
    for _ in range(int(rng.integers(3, 9))):
        x0, y0 = int(rng.integers(0, w - 10)), int(rng.integers(0, h - 10))
        x1, y1 = x0 + int(rng.integers(10, w // 2)), y0 + int(rng.integers(10, h // 2))
        if rng.random() < 0.5:
            cv2.rectangle(img, (x0, y0), (x1, y1), float(rng.uniform(0, 1)), -1)
        else:
            cv2.ellipse(img, (((x0 + x1) / 2, (y0 + y1) / 2), (x1 - x0, y1 - y0), float(rng.uniform(0, 180))),
                        float(rng.uniform(0, 1)), -1)  # (centre, axes, angle) box form
    for _ in range(int(rng.integers(0, 6))):
        cv2.putText(img, "Lorem ipsum 123", (int(rng.integers(0, w // 2)), int(rng.integers(10, h))),
                    cv2.FONT_HERSHEY_SIMPLEX, float(rng.uniform(0.3, 1.0)), float(rng.uniform(0, 1)), 1)
    img = cv2.GaussianBlur(img, (0, 0), 1.0) + 0.03 * rng.standard_normal((h, w)).astype(np.float32)
    return np.clip(img * 255, 0, 255).astype(np.uint8)
