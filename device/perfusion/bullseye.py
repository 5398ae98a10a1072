"""Bullseye (polar map) picture: a labelled AHA 17-segment plot with a colour bar, drawn with OpenCV.

``render_bullseye`` returns an RGB uint8 image; ``write_bullseye_png`` writes it. Apex at the centre, base at the
rim; anterior at the top, septum on the left, lateral on the right, inferior at the bottom.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from device import DISCLAIMER_EN
from device.perfusion.geometry import CAP_RINGS, N_RINGS, N_SECTORS, RINGS_PER_THIRD

_FONT = cv2.FONT_HERSHEY_SIMPLEX


def _polar_lookup(size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per pixel of a size x size square: ring index, sector index and inside-disc mask."""
    c = (size - 1) / 2.0
    yy, xx = np.mgrid[:size, :size]
    dx, dy = xx - c, c - yy
    rho = np.hypot(dx, dy) / (size / 2.0)
    theta = np.rad2deg(np.arctan2(dy, dx)) % 360.0
    ring = np.clip((rho * N_RINGS).astype(int), 0, N_RINGS - 1)
    sector = np.clip((theta / 360.0 * N_SECTORS).astype(int), 0, N_SECTORS - 1)
    return ring, sector, rho < 1.0


def _segment_anchor(seg: int, size: int) -> tuple[int, int]:
    """Pixel (x, y) at the middle of AHA segment ``seg`` (1..17) in a size x size bullseye."""
    c = size / 2.0
    if seg == 17:
        return int(c), int(c)
    if seg <= 12:
        k = (seg - 1) % 6
        ang = 90.0 + 30.0 + 60.0 * k  # segment 1 (anterior) spans 60-120 deg, then counter-clockwise
        ring0 = CAP_RINGS + RINGS_PER_THIRD * (2 if seg <= 6 else 1)
    else:
        ang = 90.0 + 90.0 * (seg - 13)
        ring0 = CAP_RINGS
    ang = ang - 30.0 if seg <= 12 else ang
    r = (ring0 + RINGS_PER_THIRD / 2.0) / N_RINGS * c
    return int(c + r * np.cos(np.deg2rad(ang))), int(c - r * np.sin(np.deg2rad(ang)))


def render_bullseye(polar_pct: np.ndarray, segments_pct: np.ndarray, title: str = "Stress perfusion",
                    model_tag: str = "", abnormal: np.ndarray | None = None, size: int = 360,
                    vmax: float = 100.0, note: str = "") -> np.ndarray:
    """polar_pct: (N_RINGS, N_SECTORS) percent of max; segments_pct: (17,) values printed in the segments;
    abnormal: optional (N_RINGS, N_SECTORS) bool drawn hatched (below normal limits); note: one line under the
    title (e.g. territory risks). Returns (H, W, 3) uint8 RGB."""
    ring, sector, inside = _polar_lookup(size)
    vals = np.clip(np.asarray(polar_pct, np.float64)[ring, sector] / vmax, 0, 1)
    lut = cv2.applyColorMap(np.arange(256, dtype=np.uint8)[:, None], cv2.COLORMAP_JET)[:, 0, ::-1]
    disc = lut[(vals * 255).astype(np.uint8)]
    if abnormal is not None:
        hatch = ((np.add.outer(np.arange(size), np.arange(size)) // 4) % 2 == 0)
        ab = np.asarray(abnormal, bool)[ring, sector] & hatch
        disc[ab] = (disc[ab] * 0.25).astype(np.uint8)
    disc[~inside] = 255
    pad_top, pad_side, bar_w = 72, 40, 130
    h, w = size + pad_top + 70, size + 2 * pad_side + bar_w
    img = np.full((h, w, 3), 255, np.uint8)
    img[pad_top:pad_top + size, pad_side:pad_side + size] = disc
    c = (pad_side + size // 2, pad_top + size // 2)
    black = (0, 0, 0)
    for k in (CAP_RINGS, CAP_RINGS + RINGS_PER_THIRD, CAP_RINGS + 2 * RINGS_PER_THIRD, N_RINGS):
        cv2.circle(img, c, int(round(k / N_RINGS * size / 2)), black, 1, cv2.LINE_AA)
    for ang, r0, r1 in [(a, CAP_RINGS + RINGS_PER_THIRD, N_RINGS) for a in range(0, 360, 60)] + \
                       [(a, CAP_RINGS, CAP_RINGS + RINGS_PER_THIRD) for a in (45, 135, 225, 315)]:
        t = np.deg2rad(ang)
        p0 = (int(c[0] + r0 / N_RINGS * size / 2 * np.cos(t)), int(c[1] - r0 / N_RINGS * size / 2 * np.sin(t)))
        p1 = (int(c[0] + r1 / N_RINGS * size / 2 * np.cos(t)), int(c[1] - r1 / N_RINGS * size / 2 * np.sin(t)))
        cv2.line(img, p0, p1, black, 1, cv2.LINE_AA)
    for s in range(1, 18):
        x, y = _segment_anchor(s, size)
        txt = f"{segments_pct[s - 1]:.0f}"
        (tw, th), _ = cv2.getTextSize(txt, _FONT, 0.45, 1)
        org = (pad_side + x - tw // 2, pad_top + y + th // 2)
        cv2.putText(img, txt, org, _FONT, 0.45, (255, 255, 255), 3, cv2.LINE_AA)
        cv2.putText(img, txt, org, _FONT, 0.45, black, 1, cv2.LINE_AA)
    for txt, (x, y) in {"ANT": (c[0] - 15, pad_top - 6), "INF": (c[0] - 13, pad_top + size + 18),
                        "SEPT": (2, c[1] + 5), "LAT": (pad_side + size + 4, c[1] + 5)}.items():
        cv2.putText(img, txt, (x, y), _FONT, 0.45, black, 1, cv2.LINE_AA)
    cv2.putText(img, title, (8, 22), _FONT, 0.6, black, 1, cv2.LINE_AA)
    if note:
        cv2.putText(img, note, (8, 40), _FONT, 0.42, black, 1, cv2.LINE_AA)
    # colour bar
    bx, by, bh = pad_side + size + 48, pad_top, size
    ramp = lut[np.linspace(255, 0, bh).astype(np.uint8)]
    img[by:by + bh, bx:bx + 18] = ramp[:, None, :]
    cv2.rectangle(img, (bx, by), (bx + 18, by + bh - 1), black, 1)
    for v in range(0, 101, 20):
        y = int(by + (1 - v / 100.0) * (bh - 1))
        cv2.line(img, (bx + 18, y), (bx + 23, y), black, 1)
        cv2.putText(img, f"{v * vmax / 100:.0f}%", (bx + 26, y + 4), _FONT, 0.4, black, 1, cv2.LINE_AA)
    cv2.putText(img, "% max", (bx - 6, by - 8), _FONT, 0.4, black, 1, cv2.LINE_AA)
    foot = f"Classical polar map; models: {model_tag}" if model_tag else "Classical polar map"
    cv2.putText(img, foot, (8, h - 34), _FONT, 0.4, black, 1, cv2.LINE_AA)
    cv2.putText(img, DISCLAIMER_EN, (8, h - 14), _FONT, 0.45, (180, 0, 0), 1, cv2.LINE_AA)
    return img


def render_slices(stack: np.ndarray, first: int, last: int, n: int = 8, tile: int = 96) -> np.ndarray:
    """A row of ``n`` short-axis slices evenly from apex (``first``) to base (``last``), hot colour map, each
    ``tile`` px, labelled apex/base; for showing beside the bullseye. Returns (H, W, 3) uint8 RGB."""
    zs = np.linspace(first, last, n).round().astype(int)
    ref = float(np.percentile(stack[first:last + 1], 99.9)) or 1.0
    tiles = []
    for z in zs:
        g = np.clip(stack[z] / ref * 255, 0, 255).astype(np.uint8)
        g = cv2.resize(g, (tile, tile), interpolation=cv2.INTER_LINEAR)
        tiles.append(cv2.applyColorMap(g, cv2.COLORMAP_HOT)[:, :, ::-1])
    img = np.full((tile + 22, n * (tile + 4), 3), 255, np.uint8)
    for k, t in enumerate(tiles):
        img[:tile, k * (tile + 4): k * (tile + 4) + tile] = t
    cv2.putText(img, "apex", (2, tile + 16), _FONT, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, "base", (img.shape[1] - 44, tile + 16), _FONT, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return img


def write_bullseye_png(path: Path, image_rgb: np.ndarray) -> Path:
    """Write an RGB image as PNG; returns the path."""
    path = Path(path)
    if not cv2.imwrite(str(path), cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR)):
        raise OSError(f"cannot write {path}")
    return path
