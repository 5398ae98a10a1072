"""Screen layouts of different ultrasound machines around the fan, and colour Doppler boxes over the 2-D image.

Loosely modelled on what GE, Philips, Siemens, SonoSite and Mindray screens (and older analogue machines) draw:
parameter text in columns, a header bar, grey and colour bars, depth scales (a dotted ruler beside the fan, dots
along the fan edge, or numbered ticks), an ECG trace, calipers with a measurement, orientation markers. Nothing here
copies a vendor's artwork; the point is variety, so that a model does not learn one machine's screen.
All functions draw in place on an RGB uint8 screen (H, W, 3).
"""

from __future__ import annotations

import cv2
import numpy as np

from device.sim.echo_overlay import ecg_wave
from device.sim.echo_render import SectorGeom

VENDORS = ("sonosite", "ge", "philips", "siemens", "mindray", "analogue", "plain")
_WORDS = {
    "ge": ("M5Sc", "FR 52Hz", "18.0cm", "2D", "Gn 12", "DR 66", "P Med", "HAR", "CF", "Frq 2.0", "AO 100%", "GE"),
    "philips": ("Adult Echo", "S5-1", "49Hz", "16cm", "2D", "64%", "C 50", "P Low", "HPen", "TIS0.4", "MI 1.4", "M3"),
    "siemens": ("ACUSON", "4V1c", "H3.5MHz", "160mm", "B", "DR 60", "G 0dB", "MI 1.1", "TIB 0.4", "FPS 44", "SC2"),
    "mindray": ("Mindray", "P4-2s", "Cardiac", "F H3.6", "D 16.0", "G 58", "FR 58", "DR 120", "iClear 2", "MI 1.2"),
    "analogue": ("XMIT:A", "3.5/2.7-L", "30 JAN 94", "11:24:58", "PROC 2/0/E/B/B", "GAIN 82", "COMP 60", "85BPM",
                 "16CM", "14HZ", "ID:"),
    "sonosite": ("Crd", "Gen THI", "S", "P21", "MI", "0.9", "TIS", "0.7"),
    "plain": ("",),
}
_TEXT_COLOURS = ((235, 235, 235), (200, 200, 200), (230, 220, 120), (120, 220, 230), (170, 170, 170))
_ECG_COLOURS = ((40, 220, 90), (235, 235, 235), (230, 230, 60), (90, 230, 230), (60, 200, 60))


def _text(rgb: np.ndarray, s: str, xy: tuple[int, int], scale: float, colour: tuple[int, int, int], thick: int = 1
          ) -> None:
    cv2.putText(rgb, s, xy, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thick, cv2.LINE_AA)


def draw_ecg(rgb: np.ndarray, rng: np.random.Generator, colour: tuple[int, int, int], y_frac: float,
             x0_frac: float, x1_frac: float, thick: int = 1) -> None:
    h, w = rgb.shape[:2]
    x0, x1 = int(x0_frac * w), int(x1_frac * w)
    hr = rng.uniform(50, 120)
    t = np.linspace(0, (x1 - x0) / w * rng.uniform(3, 6), x1 - x0)
    amp = rng.uniform(0.03, 0.07) * h
    ys = y_frac * h - amp * ecg_wave(t * hr / 60.0 + rng.random())
    pts = np.stack([np.arange(x0, x1), ys], axis=1).astype(np.int32).reshape(-1, 1, 2)
    cv2.polylines(rgb, [pts], False, colour, thick, cv2.LINE_AA)


def _grey_bar(rgb: np.ndarray, x: int, y0: int, y1: int, width: int, colour: bool) -> None:
    ramp = np.linspace(255, 0, max(2, y1 - y0))[:, None]
    if colour:  # a colour-flow scale: red/yellow on top, black in the middle, blue/cyan below
        t = np.linspace(1, -1, max(2, y1 - y0))[:, None]
        bar = np.concatenate([np.clip(t * 255 * 1.3, 0, 255), np.clip((np.abs(t) - 0.6) * 600, 0, 255),
                              np.clip(-t * 255 * 1.3, 0, 255)], axis=1)[:, None, :]
        rgb[y0:y1, x:x + width] = np.repeat(bar, width, axis=1).astype(np.uint8)
    else:
        rgb[y0:y1, x:x + width] = np.repeat(np.repeat(ramp, width, axis=1)[:, :, None], 3, axis=2).astype(np.uint8)


def _edge_dots(rgb: np.ndarray, geom: SectorGeom, rng: np.random.Generator, colour: tuple[int, int, int]) -> None:
    """Depth dots along the right (or left) edge of the fan, slightly outside it (Philips / older machines)."""
    side = 1 if rng.random() < 0.8 else -1
    ang = np.radians(geom.half_angle_deg + rng.uniform(1.5, 4.0)) * side
    ax, ay = geom.apex_xy
    n = int(rng.integers(6, 18))
    for r in np.linspace(geom.r0_px + 10, geom.radius_px, n):
        x, y = int(ax + r * np.sin(ang)), int(ay + r * np.cos(ang))
        cv2.circle(rgb, (x, y), 1 + int(rng.random() < 0.2), colour, -1)


def _ruler(rgb: np.ndarray, geom: SectorGeom, rng: np.random.Generator, colour: tuple[int, int, int]) -> None:
    """A vertical depth ruler beside the fan, dotted or with numbered ticks."""
    h, w = rgb.shape[:2]
    x0, y0, x1, y1 = geom.bbox()
    x = int(min(w - 12, x1 + rng.uniform(4, 30))) if rng.random() < 0.7 else int(max(4, x0 - rng.uniform(8, 30)))
    n = int(rng.integers(8, 22))
    numbered = rng.random() < 0.4
    for i, y in enumerate(np.linspace(y0, y1 - 1, n)):
        if numbered and i % 5 == 0:
            cv2.line(rgb, (x, int(y)), (x + 6, int(y)), colour, 1)
            _text(rgb, str(i), (x + 8, int(y) + 4), 0.3 * h / 480 + 0.1, colour)
        else:
            cv2.rectangle(rgb, (x, int(y)), (x + 1, int(y) + 1), colour, -1)


def draw_vendor_overlay(rgb: np.ndarray, geom: SectorGeom, vendor: str, rng: np.random.Generator) -> None:
    """Text, bars, depth scale, markers and ECG of a machine `vendor` (one of VENDORS), randomised, in place."""
    if vendor == "plain":
        return
    h, w = rgb.shape[:2]
    k = h / 480.0 * rng.uniform(0.8, 1.2)
    col = _TEXT_COLOURS[int(rng.integers(0, len(_TEXT_COLOURS)))]
    words = list(_WORDS[vendor])
    rng.shuffle(words)
    x0, _y0, x1, _y1 = geom.bbox()
    if vendor in ("siemens", "mindray") and rng.random() < 0.7:  # header bar
        bar_h = int(rng.uniform(0.04, 0.07) * h)
        cv2.rectangle(rgb, (0, 0), (w - 1, bar_h), tuple(int(v) for v in rng.integers(15, 70, 3)), -1)
        _text(rgb, " ".join(words[:4]), (int(0.02 * w), int(bar_h * 0.75)), 0.45 * k, col)
        words = words[4:]
    # parameter columns at the left and/or right of the fan
    n_left = int(rng.integers(2, 10))
    for i, s in enumerate(words[:n_left]):
        _text(rgb, s, (int(rng.uniform(0.005, 0.02) * w), int((0.1 + 0.055 * i) * h)), 0.42 * k, col)
    if rng.random() < 0.7:
        xr = int(min(w - 60 * k, max(x1 + 5, 0.86 * w)))
        for i, s in enumerate(words[n_left:n_left + int(rng.integers(1, 6))]):
            _text(rgb, s, (xr, int((0.06 + 0.05 * i) * h)), 0.42 * k, col)
    if rng.random() < 0.5:
        _grey_bar(rgb, int(rng.uniform(0.9, 0.96) * w), int(0.12 * h), int(rng.uniform(0.3, 0.45) * h),
                  max(3, int(0.012 * w)), colour=False)
    depth = rng.random()
    dot_col = (int(rng.integers(120, 256)),) * 3 if rng.random() < 0.6 else (60, 160, 255)
    if depth < 0.45:
        _edge_dots(rgb, geom, rng, dot_col)
    elif depth < 0.85:
        _ruler(rgb, geom, rng, dot_col)
    if rng.random() < 0.6:  # orientation marker near the apex
        ax, ay = geom.apex_xy
        mx, my = int(ax + rng.uniform(25, 70) * k), int(max(8, ay + rng.uniform(0, 40) * k))
        if rng.random() < 0.5:
            cv2.circle(rgb, (mx, my), max(3, int(8 * k)), (110, 110, 110), -1)
            _text(rgb, "P", (mx - int(4 * k), my + int(4 * k)), 0.35 * k, (230, 230, 230))
        else:
            _text(rgb, "V" if rng.random() < 0.5 else ">", (mx, my), 0.4 * k, col)
    if rng.random() < 0.25:  # calipers and a measurement
        cx, cy = int(rng.uniform(x0, x1)), int(rng.uniform(0.3, 0.7) * h)
        for dx, dy in ((0, 0), (int(rng.uniform(-60, 60)), int(rng.uniform(20, 80)))):
            _text(rgb, "+", (cx + dx - 5, cy + dy + 5), 0.6 * k, (240, 240, 240))
        _text(rgb, f"Dist {rng.uniform(1, 6):.1f} cm", (int(0.08 * w), int(0.08 * h)), 0.5 * k, col)
    if rng.random() < 0.75:
        ecg_col = _ECG_COLOURS[int(rng.integers(0, len(_ECG_COLOURS)))]
        draw_ecg(rgb, rng, ecg_col, rng.uniform(0.84, 0.95), rng.uniform(0.03, 0.15), rng.uniform(0.5, 0.9),
                 thick=1 + int(rng.random() < 0.3))
    if rng.random() < 0.5:
        _text(rgb, f"{int(rng.integers(50, 120))}bpm", (int(0.86 * w), int(0.96 * h)), 0.45 * k, col)


def colour_doppler_box(rgb: np.ndarray, geom: SectorGeom, rng: np.random.Generator) -> None:
    """A colour-flow region of interest over part of the fan, in place: red/blue (and aliasing yellow/cyan) where
    the 2-D image is dark (blood), speckled mosaic in turbulent jets, an outlined box and a colour scale."""
    h, w = rgb.shape[:2]
    ax, ay = geom.apex_xy
    ha = geom.half_angle_deg
    a0 = rng.uniform(-ha, ha * 0.3)
    a1 = min(ha, a0 + rng.uniform(0.3, 1.0) * ha)
    span = geom.radius_px - geom.r0_px
    r0 = geom.r0_px + rng.uniform(0.05, 0.5) * span
    r1 = min(geom.radius_px, r0 + rng.uniform(0.25, 0.6) * span)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    rr = np.hypot(xx - ax, yy - ay)
    th = np.degrees(np.arctan2(xx - ax, yy - ay))
    box = (th >= a0) & (th <= a1) & (rr >= r0) & (rr <= r1)
    grey = rgb[..., 0].astype(np.float32)
    small = (max(2, h // int(rng.integers(6, 24))), max(2, w // int(rng.integers(6, 24))))
    vel = cv2.resize(rng.standard_normal(small).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    turb = cv2.resize(rng.standard_normal((h // 2 + 1, w // 2 + 1)).astype(np.float32), (w, h),
                      interpolation=cv2.INTER_NEAREST) * rng.uniform(0.0, 2.0)
    blood = grey < rng.uniform(25, 60)
    flow = box & (blood | (rng.random((h, w)) < rng.uniform(0.0, 0.25)))
    v = np.clip(vel + turb, -2.5, 2.5)
    red = np.clip(v * 200, 0, 255)
    blue = np.clip(-v * 200, 0, 255)
    alias = np.clip((np.abs(v) - 1.6) * 300, 0, 255)
    colour = np.stack([red, alias * (v > 0) + alias * 0.6 * (v < 0), blue + alias * (v < 0) * 0.5], axis=2)
    rgb[flow] = np.clip(colour[flow], 0, 255).astype(np.uint8)
    edge = (box.astype(np.uint8) - cv2.erode(box.astype(np.uint8), np.ones((3, 3), np.uint8))).astype(bool)
    rgb[edge] = (120, 200, 240) if rng.random() < 0.5 else (220, 220, 220)
    _grey_bar(rgb, int(rng.uniform(0.9, 0.97) * w), int(0.06 * h), int(0.3 * h), max(3, int(0.015 * w)), colour=True)
