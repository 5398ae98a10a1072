"""Is there a left ventricle in this volume? Checks on the segmented hot shell before any polar map is made.

``segment_lv`` finds the hottest ring-shaped structure; a brain (cortex around cold ventricles) and a kidney (cortex
around the medulla) are ring-shaped too. A left ventricle is a bullet-shaped shell of a known size: outer radius
12-45 mm (adult LV outer diameter ~45-60 mm, up to ~85 mm when dilated), 30-130 mm from apex to base, as long as
0.6-2.5 diameters, 25-450 mL of myocardium. Measured on the simulator's random studies (seeds 100-139, half
re-oriented from transaxial; 39 segmented): radius 14-33 mm, length 38-93 mm, length/diameter 0.82-2.10, 37-196 mL;
brain-like volumes: radius 58-70 mm, 490-740 mL; kidney-like: length/diameter 3.0-3.2 (device/sim/ood_volumes.py).

Counts must be counts: a volume with large negative values is CT (Hounsfield units) or a difference image.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from device.errors import InputError
from device.perfusion.segment import LvSegmentation

RADIUS_MM = (12.0, 45.0)
LENGTH_MM = (30.0, 130.0)
ASPECT = (0.6, 2.5)  # apex-to-base length / outer diameter
MYO_ML = (25.0, 450.0)
MIN_NEG_SHARE = -0.1  # the lowest value may dip below zero (OSEM) by at most 10 % of the maximum
MAX_VOXELS = 256 ** 3  # a 256^3 reconstruction (PET) is the largest study the cart analyses
MIN_SIDE = 8

WHAT_TO_DO = "load the stress (or rest) myocardial perfusion SPECT/PET study of the heart"


@dataclass(frozen=True)
class LvShape:
    """What the check measured: median outer radius (mm), apex-to-base length (mm), length / diameter, and
    myocardial volume (mL)."""

    radius_mm: float
    length_mm: float
    aspect: float
    myo_ml: float


def check_volume(vol: np.ndarray, source: str) -> None:
    """Refuse volumes too large to analyse or whose values are not counts (CT numbers, difference images)."""
    n = int(np.prod(vol.shape, dtype=np.int64))
    if n > MAX_VOXELS:
        raise InputError(f"{source}: {'x'.join(map(str, vol.shape))} voxels is larger than any perfusion study "
                         f"(at most {MAX_VOXELS:,} voxels, e.g. 256^3); {WHAT_TO_DO}")
    lo, hi = float(np.min(vol)), float(np.max(vol))
    if lo < 0 and lo < MIN_NEG_SHARE * max(hi, 0.0):
        raise InputError(f"{source}: values go down to {lo:.4g} against a maximum of {hi:.4g}, which are not "
                         f"counts (a CT in Hounsfield units or a difference image?); {WHAT_TO_DO}")


def lv_shape(seg: LvSegmentation, voxel_mm: tuple[float, float, float]) -> LvShape:
    """Measure the segmented shell of an apex-first short-axis stack with voxel size (dz, dy, dx) mm."""
    dz, dy, dx = voxel_mm
    radii = []
    for z in range(seg.first, seg.last + 1):
        pts = np.argwhere(seg.myo_mask[z])
        if len(pts) >= 5:
            hull = cv2.convexHull(pts[:, ::-1].astype(np.float32))
            radii.append(float(np.sqrt(cv2.contourArea(hull) / np.pi) * np.sqrt(dy * dx)))
    radius = float(np.median(radii)) if radii else 0.0
    length = float((seg.last - seg.first + 1) * dz)
    aspect = length / (2 * radius) if radius > 0 else float("inf")
    return LvShape(radius, length, aspect, float(seg.myo_mask.sum() * dz * dy * dx / 1000.0))


def check_lv(seg: LvSegmentation, voxel_mm: tuple[float, float, float]) -> LvShape:
    """The segmented shell must have the size and shape of a left ventricle; InputError naming what is off."""
    s = lv_shape(seg, voxel_mm)
    problems = []
    if not RADIUS_MM[0] <= s.radius_mm <= RADIUS_MM[1]:
        problems.append(f"its radius is {s.radius_mm:.0f} mm (a left ventricle: {RADIUS_MM[0]:.0f}-"
                        f"{RADIUS_MM[1]:.0f} mm)")
    if not LENGTH_MM[0] <= s.length_mm <= LENGTH_MM[1]:
        problems.append(f"it is {s.length_mm:.0f} mm long (apex to base: {LENGTH_MM[0]:.0f}-{LENGTH_MM[1]:.0f} mm)")
    if not ASPECT[0] <= s.aspect <= ASPECT[1]:
        problems.append(f"it is {s.aspect:.1f} times as long as it is wide ({ASPECT[0]:g}-{ASPECT[1]:g})")
    if not MYO_ML[0] <= s.myo_ml <= MYO_ML[1]:
        problems.append(f"its wall holds {s.myo_ml:.0f} mL ({MYO_ML[0]:.0f}-{MYO_ML[1]:.0f} mL)")
    if problems:
        raise InputError("no left ventricle found: the hottest ring-shaped structure is not a heart ("
                         + "; ".join(problems) + f"); the study may be of another organ. {WHAT_TO_DO[0].upper()}"
                         + WHAT_TO_DO[1:])
    return s
