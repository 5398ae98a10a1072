"""Contour and caliper edits -> recomputed numbers (a sonographer drags points on the frame).

Short axis: the endocardial and epicardial contours become a mask again and the 11 indices are recomputed.
Apical: an :class:`~device.lv.volumes.ApicalTrace` with moved points goes back into apical_volumes.
PLAX: :func:`device.lv.plax.edit_caliper` replaces one caliper and recomputes every value.
"""

from __future__ import annotations

import cv2
import numpy as np

from device.errors import InputError
from device.lv import CAVITY, MYOCARDIUM
from device.lv.indices import SaxIndices, SaxOrientation, largest_component, sax_indices
from device.lv.volumes import ApicalTrace


def _polygon(mask: np.ndarray, n_points: int) -> tuple[tuple[float, float], ...]:
    cs, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not cs:
        return ()
    c = max(cs, key=cv2.contourArea).reshape(-1, 2).astype(float)
    idx = np.linspace(0, len(c), n_points, endpoint=False).astype(int)
    return tuple((float(x), float(y)) for x, y in c[idx])


def sax_contours(mask: np.ndarray, n_points: int = 32):
    """(endo, epi) polygons of (x, y) pixel points for dragging; epi is () when there is no myocardium."""
    cav = largest_component(mask == CAVITY)
    epi = largest_component(cav | (mask == MYOCARDIUM)) if (mask == MYOCARDIUM).any() else np.zeros_like(cav)
    return _polygon(cav, n_points), _polygon(epi, n_points)


def mask_from_contours(shape: tuple[int, int], endo_xy, epi_xy) -> np.ndarray:
    """(H, W) uint8 mask from an endocardial and an epicardial polygon ((N, 2) x, y pixels; N >= 3 each)."""
    endo = np.asarray(endo_xy, dtype=float).reshape(-1, 2)
    epi = np.asarray(epi_xy, dtype=float).reshape(-1, 2)
    if len(endo) < 3 or len(epi) < 3:
        raise InputError("a contour needs at least 3 points; undo the last edit")
    m = np.zeros(shape, np.uint8)
    cv2.fillPoly(m, [np.round(epi * 16).astype(np.int32).reshape(-1, 1, 2)], MYOCARDIUM, shift=4)
    cv2.fillPoly(m, [np.round(endo * 16).astype(np.int32).reshape(-1, 1, 2)], CAVITY, shift=4)
    return m


def recompute_sax(shape: tuple[int, int], endo_xy, epi_xy, mm_per_px,
                  orientation: SaxOrientation = SaxOrientation()) -> tuple[np.ndarray, SaxIndices]:  # noqa: B008 (frozen)
    """The edited mask and its recomputed indices."""
    m = mask_from_contours(shape, endo_xy, epi_xy)
    return m, sax_indices(m, mm_per_px, orientation)


def simplify_trace(trace: ApicalTrace, n_points: int = 24) -> ApicalTrace:
    """The same trace with n_points evenly spaced contour points (handles for dragging)."""
    c = np.asarray(trace.contour_xy, dtype=float)
    idx = np.linspace(0, len(c), n_points, endpoint=False).astype(int)
    return trace.moved(contour_xy=c[idx])
