"""Pre-processing before the LV model (patent 002): grey scaling and histogram equalisation, crop and resize.

equalise: any 2-D image (uint8, uint16, int16 or float; MRI or echo) -> uint8 (H, W) whose histogram spans 0..255.
to_input: uint8 (H, W) -> float32 (1, 1, S, S) with the normalisation of the manifest, (x / 255 - 0.5) / 0.5.
"""

from __future__ import annotations

import cv2
import numpy as np

from device.errors import InputError


def to_grey(image: np.ndarray) -> np.ndarray:
    """(H, W) or (H, W, 3|4) -> float32 (H, W). Colour frames are converted with the BT.601 luma weights."""
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[2] in (3, 4):
        a = a[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    if a.ndim != 2:
        raise InputError(f"an image must be 2-D grey or (H, W, 3) colour; got shape {a.shape}")
    return a.astype(np.float32)


def equalise(image: np.ndarray) -> np.ndarray:
    """Histogram equalisation to the full 0..255 range (patent 002), after a 0.5-99.5 percentile window.

    Raises InputError for a blank image (no grey-level spread): there is nothing to segment.
    """
    g = to_grey(image)
    lo, hi = np.percentile(g, [0.5, 99.5])
    if not np.isfinite(lo) or not np.isfinite(hi) or hi - lo < 1e-6:
        lo, hi = float(np.nanmin(g)), float(np.nanmax(g))
        if not hi > lo:
            raise InputError("the image is blank (a single grey level); there is no heart to segment")
    u8 = np.clip((g - lo) * (255.0 / (hi - lo)), 0, 255).astype(np.uint8)
    return cv2.equalizeHist(u8)


def to_input(u8: np.ndarray, size: int) -> np.ndarray:
    """Resize an equalised uint8 image to (size, size) and normalise to float32 (1, 1, size, size) in [-1, 1]."""
    r = cv2.resize(u8, (size, size), interpolation=cv2.INTER_AREA if u8.shape[0] > size else cv2.INTER_LINEAR)
    return ((r.astype(np.float32) / 255.0 - 0.5) / 0.5)[None, None]
