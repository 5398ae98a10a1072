"""Is this photo a whole, readable, colour ECG page? Checks that refuse before anything is measured.

Each names what is wrong and what to do (InputError ``step``: "greyscale", "too small", "incomplete"); the
orientation (which way up) is ``orientation.py``'s.
"""

from __future__ import annotations

import numpy as np

from device.ecg import layout
from device.ecg.types import DURATION_S, Calibration
from device.errors import InputError

# The grid must be resolved: 3 px per mm on the rectified photo (76 dpi; a whole page ~1000 px across). The
# committed 1600-px phone photo (tests/fixtures/ecg) has 3.7 px/mm and reads at SNR > 2 dB.
# Paper2Pulse photos: 7.8-9.3 px/mm (n=30); downscaled 4x: 2.0-2.4 px/mm (n=10), SNR 1-2 dB below the original.
MIN_PHOTO_PX_PER_MM = 3.0
# A greyscale photo or scan (R = G = B): the trace cannot be told from the grid by colour, and the reader then misses
# QRS complexes (Paper2Pulse photos turned grey: SNR 0.5-4.2 dB against 3.6-5.8 dB in colour, axis wrong in 4/6).
# 99th percentile of max-min over the channels: greyscale JPEGs 0-5, colour photos of red-grid paper 11-208.
MAX_GREY_CHROMA = 6.0
MIN_ROW_SHARE = 0.8  # the longest row of a whole page holds ~10 s; a photo cut in half holds 5
GOOD_PX_PER_MM = 6.0  # below this the quality score falls (square root of the ratio)


def check_resolution(px_per_mm: float) -> None:
    """Refuse a photo whose grid is resolved at under MIN_PHOTO_PX_PER_MM."""
    if px_per_mm < MIN_PHOTO_PX_PER_MM:
        raise InputError(f"too low resolution: the ECG grid is only {px_per_mm:.1f} px per mm in this image (at "
                         f"least {MIN_PHOTO_PX_PER_MM:g} needed, about 1000 px across the page or a 75 dpi scan); "
                         "move closer, or scan at 200 dpi or more", step="too small")


def resolution_factor(px_per_mm: float) -> float:
    """Quality factor: 1 from GOOD_PX_PER_MM up, falling as the square root below."""
    return float(min(1.0, px_per_mm / GOOD_PX_PER_MM) ** 0.5)


def check_colour(image: np.ndarray) -> None:
    """Refuse a greyscale image (every pixel R = G = B, give or take JPEG noise)."""
    s = image[::4, ::4].astype(np.int16)
    chroma = float(np.percentile(s.max(axis=2) - s.min(axis=2), 99))
    if chroma <= MAX_GREY_CHROMA:
        raise InputError("greyscale image: the trace cannot be told from the grid without colour, and a greyscale "
                         "read misses QRS complexes; photograph or scan the printout in colour", step="greyscale")


def check_complete(rows: list[layout.Row], cal: Calibration) -> None:
    """Refuse a page cut short: its longest printed row must hold most of a standard row (10 s at 25 mm/s)."""
    full_s = min(DURATION_S, 250.0 / cal.speed_mm_s)
    longest = max((r.x1 - r.x0) / cal.px_per_s for r in rows) if rows else 0.0
    if longest < MIN_ROW_SHARE * full_s:
        raise InputError(f"incomplete page: the longest printed row holds {longest:.1f} s where a whole row holds "
                         f"{full_s:g} s, so part of the printout is missing from the photo; photograph the whole "
                         "page", step="incomplete")
