"""Polar-map geometry: ring/sector grid, AHA 17-segment masks and coronary territories.

Conventions used everywhere in ``device.perfusion``:

* A short-axis (SA) stack is ``(n_slices, rows, cols)`` with slice 0 at the apex, rows running anterior -> inferior
  and columns septal -> lateral (the standard nuclear-cardiology display, viewed from the apex).
* In-plane angle ``theta_deg`` is mathematical: 0 = lateral (3 o'clock), 90 = anterior (12), 180 = septal (9),
  270 = inferior (6). Sector ``j`` covers ``[j, j+1) * 360 / N_SECTORS`` degrees.
* A polar map is ``(N_RINGS, N_SECTORS)`` float32, ring 0 at the apex, ring ``N_RINGS-1`` at the base; rings
  ``[0, CAP_RINGS)`` are the apical cap (segment 17); the rest split evenly into apical, mid and basal thirds.
"""

from __future__ import annotations

import numpy as np

N_SECTORS = 48  # 7.5 degrees each: AHA boundaries (45 and 60 degree multiples) fall on sector edges
N_RINGS = 20
CAP_RINGS = 2
RINGS_PER_THIRD = (N_RINGS - CAP_RINGS) // 3  # 6

TERRITORIES: tuple[str, ...] = ("LAD", "LCX", "RCA")

SEGMENT_NAMES: tuple[str, ...] = (
    "basal anterior", "basal anteroseptal", "basal inferoseptal", "basal inferior", "basal inferolateral",
    "basal anterolateral", "mid anterior", "mid anteroseptal", "mid inferoseptal", "mid inferior",
    "mid inferolateral", "mid anterolateral", "apical anterior", "apical septal", "apical inferior",
    "apical lateral", "apex",
)

# AHA 2002 default assignment of the 17 segments to the three coronary territories.
SEGMENT_TERRITORY: tuple[str, ...] = (
    "LAD", "LAD", "RCA", "RCA", "LCX", "LCX",
    "LAD", "LAD", "RCA", "RCA", "LCX", "LCX",
    "LAD", "LAD", "RCA", "LCX",
    "LAD",
)


def sector_centres_deg() -> np.ndarray:
    """(N_SECTORS,) float64 centre angle of each sector in degrees."""
    return (np.arange(N_SECTORS) + 0.5) * 360.0 / N_SECTORS


def _six_segment_index(theta: np.ndarray) -> np.ndarray:
    # anterior 60-120, anteroseptal 120-180, inferoseptal 180-240, inferior 240-300, inferolateral 300-360,
    # anterolateral 0-60  ->  0..5 in AHA order (segments 1-6 / 7-12)
    order = {1: 0, 2: 1, 3: 2, 4: 3, 5: 4, 0: 5}
    k = (theta // 60).astype(int) % 6
    return np.vectorize(order.get)(k)


def _four_segment_index(theta: np.ndarray) -> np.ndarray:
    # anterior 45-135, septal 135-225, inferior 225-315, lateral 315-45 -> 0..3 (segments 13-16)
    return (((theta - 45.0) % 360.0) // 90).astype(int)


def segment_index_map() -> np.ndarray:
    """(N_RINGS, N_SECTORS) int8: the AHA segment number (1..17) of every polar-map pixel."""
    theta = sector_centres_deg()
    out = np.zeros((N_RINGS, N_SECTORS), dtype=np.int8)
    out[:CAP_RINGS] = 17
    a0, m0, b0 = CAP_RINGS, CAP_RINGS + RINGS_PER_THIRD, CAP_RINGS + 2 * RINGS_PER_THIRD
    out[a0:m0] = 13 + _four_segment_index(theta)[None, :]
    out[m0:b0] = 7 + _six_segment_index(theta)[None, :]
    out[b0:] = 1 + _six_segment_index(theta)[None, :]
    return out


def territory_masks() -> dict[str, np.ndarray]:
    """Territory name -> (N_RINGS, N_SECTORS) bool mask of its polar-map pixels (AHA default assignment)."""
    seg = segment_index_map()
    return {t: np.isin(seg, [i + 1 for i, s in enumerate(SEGMENT_TERRITORY) if s == t]) for t in TERRITORIES}


def segment_means(polar: np.ndarray) -> np.ndarray:
    """(17,) float32 mean of ``polar`` (N_RINGS, N_SECTORS) over each AHA segment, segment 1 first."""
    seg = segment_index_map()
    flat = seg.ravel()
    sums = np.bincount(flat, weights=np.asarray(polar, dtype=np.float64).ravel(), minlength=18)
    counts = np.bincount(flat, minlength=18)
    return (sums[1:] / np.maximum(counts[1:], 1)).astype(np.float32)
