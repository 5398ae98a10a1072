"""Probe pose relative to the ideal position of a view: how it distorts the image, its quality and its correction.

Five offsets (all 0 at the standard view): rotate_deg (about the probe axis), tilt_deg (fan out of plane),
rock_deg (fan in plane, + = heart pushed toward the marker side, screen right), slide_mm (+ = probe too basal, the LV
looks foreshortened) and depth_rel (+ = imaging depth too large). Quality is a Gaussian of the offsets scaled by their
tolerance; the ideal correction is the move that undoes the largest scaled offset ("hold" when quality is good).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from device.sim.echo_shapes import Shape, rotate_about
from device.sim.echo_views import Scene

AXES = ("rotate_deg", "tilt_deg", "rock_deg", "slide_mm", "depth_rel")
TOLERANCE = {"rotate_deg": 12.0, "tilt_deg": 10.0, "rock_deg": 8.0, "slide_mm": 8.0, "depth_rel": 0.18}
GUIDANCE = ("hold", "rotate_cw", "rotate_ccw", "tilt_up", "tilt_down", "rock_toward_marker", "rock_away_marker",
            "slide_apex", "slide_base", "depth_more", "depth_less")
# the correction for a positive / negative offset on each axis
_FIX = {"rotate_deg": ("rotate_ccw", "rotate_cw"), "tilt_deg": ("tilt_down", "tilt_up"),
        "rock_deg": ("rock_toward_marker", "rock_away_marker"), "slide_mm": ("slide_apex", "slide_base"),
        "depth_rel": ("depth_less", "depth_more")}
HOLD_QUALITY = 0.7


@dataclass(frozen=True)
class Pose:
    rotate_deg: float = 0.0
    tilt_deg: float = 0.0
    rock_deg: float = 0.0
    slide_mm: float = 0.0
    depth_rel: float = 0.0

    def scaled(self) -> np.ndarray:
        """Offsets divided by their tolerance, shape (5,)."""
        return np.array([getattr(self, a) / TOLERANCE[a] for a in AXES])

    def as_dict(self) -> dict[str, float]:
        return {a: float(getattr(self, a)) for a in AXES}


def quality(pose: Pose) -> float:
    """Image quality in [0, 1]: 1 at the standard view, 0.61 with one offset at its tolerance."""
    return float(np.exp(-0.5 * np.sum(pose.scaled() ** 2)))


def correction(pose: Pose) -> str:
    """The probe move (a GUIDANCE label) that best improves the image."""
    if quality(pose) >= HOLD_QUALITY:
        return "hold"
    s = pose.scaled()
    i = int(np.argmax(np.abs(s)))
    pos, neg = _FIX[AXES[i]]
    return pos if s[i] > 0 else neg


@dataclass(frozen=True)
class PosedScene:
    shapes: tuple[Shape, ...]
    depth_mm: float
    haze_near: float
    haze_far: float


def apply_pose(sc: Scene, pose: Pose) -> PosedScene:
    """Distort a view's scene as the probe offsets would: what the fan shows at this pose."""
    c = np.asarray(sc.centre_mm)
    u = np.asarray(sc.long_axis, dtype=np.float64)
    u = u / np.linalg.norm(u)
    v = np.array([-u[1], u[0]])
    k_rot = 0.022 * pose.rotate_deg
    k_tilt = 0.012 * pose.tilt_deg
    fore = 1 - 0.014 * pose.slide_mm
    out = []
    for sh in sc.shapes:
        q = sh.points - c
        a_u, a_v = q @ u, q @ v
        a_v = a_v * (1 + k_rot * np.sign(a_v))  # rotation: one side widens, the other narrows
        a_u = a_u * (1 + k_tilt) * fore  # tilt and slide stretch / foreshorten along the long axis
        p = c + np.outer(a_u, u) + np.outer(a_v, v) + 0.7 * pose.slide_mm * u
        p = rotate_about(p, (0.0, 0.0), -pose.rock_deg)
        out.append(sh.moved(p))
    t = pose.tilt_deg / TOLERANCE["tilt_deg"]
    r = abs(pose.rotate_deg) / TOLERANCE["rotate_deg"]
    haze_near = float(np.clip(0.35 * max(t, 0) + 0.12 * r, 0, 0.9))
    haze_far = float(np.clip(0.35 * max(-t, 0) + 0.12 * r, 0, 0.9))
    return PosedScene(tuple(out), sc.ideal_depth_mm * (1 + pose.depth_rel), haze_near, haze_far)


def random_pose(rng: np.random.Generator, spread: float = 1.0) -> Pose:
    """A pose with each scaled offset ~ N(0, spread), one axis sometimes dominant (for training)."""
    s = rng.normal(0, spread * 0.6, len(AXES))
    if rng.random() < 0.6:
        s[int(rng.integers(0, len(AXES)))] += rng.choice([-1, 1]) * rng.uniform(1.0, 2.6) * spread
    if rng.random() < 0.2:
        s *= 0.25
    return Pose(**{a: float(s[i] * TOLERANCE[a]) for i, a in enumerate(AXES)})
