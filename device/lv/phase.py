"""Cardiac phase from a cavity-area curve (patent 002): polynomial fit, ED at its maximum, ES at its minimum.

Frames in (ED, ES] are systole and frames in (ES, ED] are diastole, counted cyclically over the sequence, so the
labels form at most two contiguous runs and never flicker 0-1-0-1 the way a per-frame classifier can.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.polynomial import Polynomial

from device.errors import InputError

DEFAULT_DEGREE = 11  # patent 002: degree 11 for M = 20 frames over one beat


@dataclass(frozen=True)
class CardiacPhase:
    """ED/ES frames and a systole/diastole label per frame of one sequence."""

    ed_frame: int
    es_frame: int
    labels: tuple[str, ...]            # "systole" or "diastole", one per frame
    fitted_area_mm2: tuple[float, ...]  # the fitted curve at each frame
    degree: int                         # the polynomial degree actually used (<= n_frames - 1)


def phase_from_areas(areas_mm2, degree: int = DEFAULT_DEGREE) -> CardiacPhase:
    """Fit a polynomial to the per-frame cavity areas and label each frame.

    areas_mm2: 1-D sequence (M frames covering about one beat) of cavity areas in mm2 (any consistent unit works).
    degree: polynomial degree (from config); reduced to M - 1 when the sequence is shorter.
    Raises InputError for fewer than 3 frames, non-finite areas, or a flat curve (no beat to time).
    """
    a = np.asarray(areas_mm2, dtype=float).reshape(-1)
    if a.size < 3:
        raise InputError(f"phase needs at least 3 frames over a beat; got {a.size}")
    if not np.all(np.isfinite(a)):
        raise InputError("phase: some frames have no cavity area (empty segmentation); correct those frames first")
    if int(degree) < 1:
        raise InputError(f"phase: the polynomial degree must be at least 1; got {degree}")
    if float(a.max() - a.min()) <= 1e-6 * max(1.0, float(abs(a).max())):
        raise InputError("phase: the cavity area does not change over the frames; this is not a beating LV sequence")
    deg = min(int(degree), a.size - 1)
    x = np.arange(a.size, dtype=float)
    fitted = Polynomial.fit(x, a, deg)(x)
    ed, es = int(np.argmax(fitted)), int(np.argmin(fitted))
    labels = []
    for i in range(a.size):
        since_ed = (i - ed) % a.size
        to_es = (es - ed) % a.size
        labels.append("systole" if 0 < since_ed <= to_es else "diastole")
    return CardiacPhase(ed_frame=ed, es_frame=es, labels=tuple(labels),
                        fitted_area_mm2=tuple(float(v) for v in fitted), degree=deg)
