"""What an ultrasound machine draws around the fan: text, orientation marker, depth scale, ECG trace, menu bar.

Modelled on the SonoSite cine in ../shared/data (640x480): preset text top-left, MI/TIS top-right, a dotted depth
scale (one dot per cm, a longer tick every 5 cm) right of the fan with the depth in cm under it, a green orientation
dot, and a soft-key bar at the bottom. `OverlayStyle.random` varies all of it so that a model does not learn one screen.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from device.sim.echo_render import SectorGeom

PRESETS = ("Crd", "Card", "Echo", "Adult", "Cardiac")


@dataclass(frozen=True)
class OverlayStyle:
    text: bool = True
    ecg: bool = True
    depth_scale: bool = True
    menu_bar: bool = True
    marker: bool = True
    scale_x_frac: float = 597 / 640
    text_grey: int = 225
    ecg_colour: tuple[int, int, int] = (40, 220, 90)  # RGB
    preset: str = "Crd"
    font_scale: float = 1.0

    @staticmethod
    def random(rng: np.random.Generator) -> OverlayStyle:
        return OverlayStyle(text=rng.random() < 0.9, ecg=rng.random() < 0.7, depth_scale=rng.random() < 0.9,
                            menu_bar=rng.random() < 0.6, marker=rng.random() < 0.85,
                            scale_x_frac=float(rng.uniform(0.90, 0.935)), text_grey=int(rng.integers(170, 250)),
                            ecg_colour=((40, 220, 90), (230, 230, 60), (90, 230, 230))[int(rng.integers(0, 3))],
                            preset=PRESETS[int(rng.integers(0, len(PRESETS)))],
                            font_scale=float(rng.uniform(0.8, 1.15)))


def ecg_wave(phase: np.ndarray) -> np.ndarray:
    """A PQRST complex as a function of cardiac phase in [0, 1) (R at 0); amplitude in arbitrary units (R = 1)."""
    p = np.mod(phase + 0.5, 1.0) - 0.5  # R at 0, range [-0.5, 0.5)
    return (np.exp(-(p / 0.012) ** 2) - 0.18 * np.exp(-((p - 0.03) / 0.012) ** 2)
            - 0.1 * np.exp(-((p + 0.025) / 0.01) ** 2) + 0.12 * np.exp(-((p + 0.17) / 0.03) ** 2)
            + 0.25 * np.exp(-((p - 0.3) / 0.05) ** 2))


def draw_overlay(rgb: np.ndarray, geom: SectorGeom, style: OverlayStyle, depth_mm: float, t_s: float,
                 hr_bpm: float, view_hint: str = "") -> None:
    """Draw the machine overlays in place on an RGB uint8 image (H, W, 3)."""
    h, w = rgb.shape[:2]
    k = h / 480.0 * style.font_scale
    g = (style.text_grey,) * 3
    font = cv2.FONT_HERSHEY_SIMPLEX
    if style.text:
        cv2.putText(rgb, f"{view_hint or 'PLA'}", (int(28 * k), int(20 * k)), font, 0.5 * k, g, 1, cv2.LINE_AA)
        cv2.rectangle(rgb, (int(6 * k), int(6 * k)), (int(20 * k), int(20 * k)), (90, 120, 200), -1)
        cv2.putText(rgb, "Gen  THI", (int(6 * k), int(40 * k)), font, 0.5 * k, g, 1, cv2.LINE_AA)
        cv2.putText(rgb, "S", (int(6 * k), int(58 * k)), font, 0.5 * k, g, 1, cv2.LINE_AA)
        x = min(int(style.scale_x_frac * w) + int(8 * h / 480), w - int(40 * k))
        for i, s in enumerate((style.preset, "P21", "", "MI", "0.9", "TIS", "0.7")):
            if s:
                cv2.putText(rgb, s, (x, int((40 + 18 * i) * k)), font, 0.5 * k, g, 1, cv2.LINE_AA)
    if style.marker:
        ax, ay = geom.apex_xy
        cv2.circle(rgb, (int(ax + 40 * h / 480), int(ay + 7 * h / 480)), max(2, int(5 * h / 480)), (60, 170, 110), -1)
    if style.depth_scale:
        sx = int(style.scale_x_frac * w)
        mmpp = geom.mm_per_px(depth_mm)
        y0 = geom.apex_xy[1] + geom.r0_px
        n_cm = int(depth_mm // 10)
        for i in range(n_cm + 1):
            y = int(round(y0 + i * 10 / mmpp))
            if i % 5 == 0:
                cv2.rectangle(rgb, (sx - 1, y - 1), (sx + 1, y + 2), (110, 110, 110), -1)
            else:
                cv2.rectangle(rgb, (sx - 1, y), (sx, y + 1), (108, 108, 108), -1)
        cv2.putText(rgb, f"{depth_mm / 10:.0f}", (sx - int(20 * k), int(y0 + depth_mm / mmpp + 8 * k)), font,
                    0.5 * k, g, 1, cv2.LINE_AA)
    if style.menu_bar:
        y0 = h - int(26 * h / 480)
        cv2.rectangle(rgb, (int(76 * w / 640), y0), (int(566 * w / 640), h - 2), (28, 36, 52), -1)
        labels = ("Gen", "0", "Sector", "MB Off", "THI On", "Page 1/3")
        for i, s in enumerate(labels):
            x = int((80 + 81 * i) * w / 640)
            cv2.line(rgb, (x + 78, y0), (x + 78, h - 2), (70, 80, 100), 1)
            cv2.putText(rgb, s, (x + 22, h - int(8 * h / 480)), font, 0.42 * k, (200, 200, 200), 1, cv2.LINE_AA)
    if style.ecg:
        _draw_ecg(rgb, t_s, hr_bpm, style.ecg_colour)


def _draw_ecg(rgb: np.ndarray, t_s: float, hr_bpm: float, colour: tuple[int, int, int]) -> None:
    """A sweeping ECG trace across the lower part of the screen, synchronised with the simulated heart."""
    h, w = rgb.shape[:2]
    x0, x1 = int(0.14 * w), int(0.86 * w)
    base = int(0.86 * h)
    amp = 0.045 * h
    sweep_s = 3.0
    xs = np.arange(x0, x1)
    # time shown at each column: a sweep that overwrites the oldest trace, with a gap at the cursor
    frac = (xs - x0) / (x1 - x0)
    cursor = (t_s % sweep_s) / sweep_s
    t_col = t_s - ((cursor - frac) % 1.0) * sweep_s
    ys = base - amp * ecg_wave(t_col * hr_bpm / 60.0)
    keep = ((cursor - frac) % 1.0) > 0.02
    pts = np.stack([xs, ys], axis=1).astype(np.int32)
    for seg in np.split(np.arange(len(xs)), np.flatnonzero(~keep)):
        seg = seg[keep[seg]] if len(seg) else seg
        if len(seg) > 1:
            cv2.polylines(rgb, [pts[seg].reshape(-1, 1, 2)], False, colour, 1, cv2.LINE_AA)
