"""Pictures that are not echo at all (class OTHER for training; the cart must not name a view on them): an MRI-like
short-axis slice, a photo of ECG paper, a blank or menu screen, a camera-like scene. Each returns RGB (H, W, 3) uint8.

Simulated, never taken from ../shared/data: the real MRI slices and ECG photos there are used only to *measure*
what the view model does with non-echo input.
"""

from __future__ import annotations

import cv2
import numpy as np

from device.sim.echo_other import not_ultrasound
from device.sim.echo_overlay import ecg_wave

NON_ECHO_KINDS = ("mri", "ecg_photo", "blank", "camera")


def _smooth(rng: np.random.Generator, h: int, w: int, cells: int = 6) -> np.ndarray:
    return cv2.resize(rng.random((cells, cells)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)


def mri_slice(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A cine-MR-like short-axis slice: grey body ellipse, bright blood pools, darker myocardium ring, noise."""
    s = min(h, w)
    img = np.zeros((h, w), np.float32)
    cx, cy = w / 2 + rng.uniform(-0.1, 0.1) * w, h / 2 + rng.uniform(-0.1, 0.1) * h
    cv2.ellipse(img, ((cx, cy), (rng.uniform(0.7, 0.95) * s, rng.uniform(0.5, 0.8) * s), rng.uniform(-20, 20)),
                float(rng.uniform(0.25, 0.45)), -1)
    img += 0.15 * _smooth(rng, h, w) * (img > 0)
    lx, ly = cx + rng.uniform(-0.1, 0.1) * s, cy + rng.uniform(-0.1, 0.1) * s
    r = rng.uniform(0.06, 0.12) * s
    cv2.circle(img, (int(lx), int(ly)), int(r * 1.5), 0.12, -1)              # myocardium
    cv2.circle(img, (int(lx), int(ly)), int(r), float(rng.uniform(0.7, 1.0)), -1)   # LV blood pool
    cv2.ellipse(img, ((lx - 1.8 * r, ly - 0.3 * r), (2.2 * r, 1.4 * r), 30), float(rng.uniform(0.6, 0.9)), -1)
    for _ in range(int(rng.integers(2, 6))):                                  # other organs, fat, vessels
        cv2.circle(img, (int(cx + rng.uniform(-0.35, 0.35) * s), int(cy + rng.uniform(-0.25, 0.25) * s)),
                   int(rng.uniform(0.02, 0.07) * s), float(rng.uniform(0.1, 1.0)), -1)
    img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.8, 2.0))
    img += np.abs(rng.normal(0, rng.uniform(0.01, 0.05), (h, w))).astype(np.float32)
    grey = np.clip(img * 255, 0, 255).astype(np.uint8)
    return np.repeat(grey[:, :, None], 3, axis=2)


def ecg_photo(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A photographed ECG printout: pink or white paper, red grid, black traces, uneven light, slight perspective."""
    paper = np.array([255, rng.uniform(215, 250), rng.uniform(215, 250)], np.float32)
    img = np.ones((h, w, 3), np.float32) * paper
    grid = (200, 80 + int(rng.integers(0, 80)), 80 + int(rng.integers(0, 80)))
    step = int(rng.uniform(5, 12))
    for x in range(0, w, step):
        cv2.line(img, (x, 0), (x, h - 1), grid, 2 if (x // step) % 5 == 0 else 1)
    for y in range(0, h, step):
        cv2.line(img, (0, y), (w - 1, y), grid, 2 if (y // step) % 5 == 0 else 1)
    rows = int(rng.integers(3, 7))
    for i in range(rows):
        y0 = (i + 0.6) * h / (rows + 0.3)
        xs = np.arange(w)
        t = xs / w * rng.uniform(2.5, 5)
        ys = y0 - rng.uniform(0.2, 0.5) * h / rows * ecg_wave(t * rng.uniform(0.8, 1.5) + rng.random())
        pts = np.stack([xs, ys], 1).astype(np.int32).reshape(-1, 1, 2)
        cv2.polylines(img, [pts], False, (20, 20, 20), 1 + int(rng.random() < 0.5), cv2.LINE_AA)
    light = 0.55 + 0.5 * _smooth(rng, h, w, 3)[:, :, None]
    img = img * light
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    dst = src + rng.uniform(-0.08, 0.08, (4, 2)).astype(np.float32) * np.float32([w, h])
    img = cv2.warpPerspective(img, cv2.getPerspectiveTransform(src, dst), (w, h),
                              borderValue=tuple(float(v) for v in rng.uniform(20, 120, 3)))
    return np.clip(img + rng.normal(0, 4, img.shape), 0, 255).astype(np.uint8)


def blank_screen(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A blank, frozen or menu screen: a flat colour, maybe a few boxes and lines of text."""
    img = np.ones((h, w, 3), np.float32) * rng.integers(0, 90, 3).astype(np.float32)
    if rng.random() < 0.6:
        for i in range(int(rng.integers(1, 8))):
            cv2.putText(img, "Patient  Study  Settings"[: int(rng.integers(5, 24))],
                        (int(rng.uniform(0.05, 0.5) * w), int((0.1 + 0.1 * i) * h)), cv2.FONT_HERSHEY_SIMPLEX,
                        0.5 * h / 480, (220, 220, 220), 1, cv2.LINE_AA)
    if rng.random() < 0.4:
        x0, y0 = int(rng.uniform(0, 0.5) * w), int(rng.uniform(0, 0.5) * h)
        cv2.rectangle(img, (x0, y0), (x0 + int(0.4 * w), y0 + int(0.3 * h)),
                      tuple(float(v) for v in rng.integers(0, 120, 3)), -1)
    return np.clip(img + rng.normal(0, 2, img.shape), 0, 255).astype(np.uint8)


def camera_scene(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A camera-like picture (colour blobs, boxes, text) in colour."""
    grey = not_ultrasound(h, w, rng).astype(np.float32)
    tint = _smooth(rng, h, w, 4)[:, :, None] * rng.uniform(0.3, 1.0, 3).astype(np.float32)
    img = grey[:, :, None] * (0.5 + tint)
    return np.clip(img, 0, 255).astype(np.uint8)


def non_echo(kind: str, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    return {"mri": mri_slice, "ecg_photo": ecg_photo, "blank": blank_screen, "camera": camera_scene}[kind](h, w, rng)
