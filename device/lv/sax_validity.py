"""Is there a beating left ventricle in this short-axis series? A check on the segmentation before ``lv sax`` gives
wall indices (issue 13: "is there a left ventricle in this volume?").

A short-axis cine shows the LV cavity shrink in systole: even a failing heart (EF ~20 %) changes its mid-cavity area by
well over 10 % between end-diastole and end-systole (Sunnybrook SC-HF-I-1, EF 23 %; the project's SAX phantom: 45 %).
A still image given as a cine (the same picture in every frame), or an organ that does not beat, segmented as an LV
by the model, keeps one cavity size: a brain-like slice gave one 600 mm2 "cavity" in all 6 frames and 6 "measured"
frames of wall thickness before this check.
"""

from __future__ import annotations

import numpy as np

from device.errors import InputError
from device.lv import CAVITY
from device.lv.indices import largest_component

MIN_CINE_FRAMES = 3           # a cine long enough to show one contraction
MIN_AREA_CHANGE = 0.05        # (max - min) / max of the cavity area over a cine: < 5 % does not beat


def cavity_area_change(masks: list[np.ndarray]) -> float:
    """(max - min) / max of the largest LV cavity's pixel count over the frames of one cine; NaN when a frame has no
    cavity or the cine is shorter than MIN_CINE_FRAMES."""
    if len(masks) < MIN_CINE_FRAMES:
        return float("nan")
    n = np.array([int(largest_component(m == CAVITY).sum()) for m in masks], np.float64)
    if (n <= 0).any():
        return float("nan")
    return float((n.max() - n.min()) / n.max())


def check_sax_motion(cines: list[list[np.ndarray]]) -> None:
    """Refuse a series none of whose cines (frames at one slice position) changes its LV cavity area by
    MIN_AREA_CHANGE. Single images and cines with a frame without cavity are not judged here."""
    changes = [c for c in (cavity_area_change(m) for m in cines) if np.isfinite(c)]
    if changes and max(changes) < MIN_AREA_CHANGE:
        raise InputError(f"the 'LV cavity' keeps the same size in every frame (changes {max(changes):.0%}, a beating "
                         f"heart's changes {MIN_AREA_CHANGE:.0%} or more): this is not a short-axis cine of a beating "
                         "heart; give the short-axis cine series")
