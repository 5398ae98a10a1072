"""Is there an ultrasound image at all? Black screens, frozen video and non-ultrasound pictures.

Pure functions on small grey thumbnails; the live loop keeps the previous thumbnail.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from device.echo.screen import to_grey


@dataclass(frozen=True)
class SignalCheck:
    """black: the screen is (nearly) uniformly dark; frozen: identical to the previous thumbnail;
    mean / std: grey statistics of the thumbnail (0..255); diff: mean absolute change from the previous one."""

    black: bool
    frozen: bool
    mean: float
    std: float
    diff: float


def thumbnail(frame: np.ndarray, width: int = 80) -> np.ndarray:
    """(h, width) uint8 grey thumbnail of an RGB or grey frame."""
    g = to_grey(frame, drop_colour=False)
    h = max(1, int(round(g.shape[0] * width / g.shape[1])))
    return cv2.resize(g, (width, h), interpolation=cv2.INTER_AREA)


def check_signal(thumb: np.ndarray, prev: np.ndarray | None, black_std: float = 2.0,
                 frozen_diff: float = 0.05) -> SignalCheck:
    """Classify one thumbnail against the previous one (same shape), or None for the first frame."""
    t = thumb.astype(np.float32)
    mean, std = float(t.mean()), float(t.std())
    diff = float(np.abs(t - prev.astype(np.float32)).mean()) if prev is not None and prev.shape == t.shape \
        else float("inf")
    return SignalCheck(black=std < black_std and mean < 40, frozen=diff < frozen_diff, mean=mean, std=std, diff=diff)
