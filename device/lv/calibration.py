"""Pixel calibration: every measurement in mm needs it, and none is made without it."""

from __future__ import annotations

import math

from device.errors import InputError


def require_spacing(mm_per_px: float | tuple[float, float] | None, what: str = "this measurement") -> tuple[float, float]:
    """Return (row_mm, col_mm) per pixel, or refuse with a reason.

    ``mm_per_px`` is one isotropic spacing or (row spacing, column spacing) in mm, as DICOM PixelSpacing gives it.
    Raises InputError when it is missing, not finite, not positive or implausible (> 20 mm per pixel).
    """
    if mm_per_px is None:
        raise InputError(f"{what} needs a pixel calibration (mm per pixel) and the image has none; "
                         "use a DICOM with PixelSpacing or ultrasound regions, or enter the calibration")
    if isinstance(mm_per_px, (int, float)):
        pair = (float(mm_per_px), float(mm_per_px))
    else:
        try:
            row_mm, col_mm = (float(v) for v in mm_per_px)
        except (TypeError, ValueError):
            raise InputError(f"{what}: the pixel calibration {mm_per_px!r} is not a number or a (row, column) pair "
                             "in mm; fix the calibration") from None
        pair = (row_mm, col_mm)
    if not all(math.isfinite(v) and 0.0 < v <= 20.0 for v in pair):
        raise InputError(f"{what}: the pixel calibration {pair} mm/pixel is not usable (must be > 0 and <= 20); "
                         "check PixelSpacing or re-enter the calibration")
    return pair
