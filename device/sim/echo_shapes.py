"""Geometric primitives of the echo phantom, in millimetres of the probe's image plane.

Coordinates: x lateral (mm, + = screen right), y depth (mm, + = away from the probe face); the sector apex is (0, 0).
A view is a list of `Shape`s drawn in order (later shapes paint over earlier ones). Each shape carries an echo
reflectivity (0 = anechoic blood, 1 = pericardium / valve) and an optional tag (``lv_cavity``, ``lv_myo``) that the
simulator turns into ground-truth masks.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

# Echo reflectivity of each tissue class (linear amplitude before speckle and log compression).
REFLECT = {
    "blood": 0.035,
    "tissue": 0.16,
    "liver": 0.26,
    "myo": 0.32,
    "wall": 0.38,
    "thin_wall": 0.24,
    "papillary": 0.46,
    "valve": 0.95,
    "bright": 1.0,
    "lung": 0.06,
}


@dataclass(frozen=True)
class Shape:
    """One filled polygon (``closed``) or thick polyline (open) in mm.

    points: (N, 2) float64 [x_mm, y_mm]; kind: a key of REFLECT; thickness_mm: line width for open shapes;
    tag: ground-truth label or None.
    """

    points: np.ndarray
    kind: str
    closed: bool = True
    thickness_mm: float = 1.5
    tag: str | None = None

    @property
    def reflect(self) -> float:
        return REFLECT[self.kind]

    def moved(self, pts: np.ndarray) -> Shape:
        return replace(self, points=pts)


def ellipse(cx: float, cy: float, a: float, b: float, ang_deg: float = 0.0, n: int = 64,
            t0: float = 0.0, t1: float = 2 * np.pi) -> np.ndarray:
    """Points of an ellipse (semi-axes a lateral, b along depth, rotated by ang_deg clockwise on screen)."""
    t = np.linspace(t0, t1, n, endpoint=not np.isclose(t1 - t0, 2 * np.pi))
    x, y = a * np.cos(t), b * np.sin(t)
    c, s = np.cos(np.radians(ang_deg)), np.sin(np.radians(ang_deg))
    return np.stack([cx + c * x - s * y, cy + s * x + c * y], axis=1)


def bullet(cx: float, cy: float, a: float, b: float, ang_deg: float, base_frac: float = 0.78,
           n: int = 64) -> np.ndarray:
    """A ventricle seen along its long axis: an ellipse (apex up, toward the probe) cut flat at its base.

    The cut is at ``base_frac * b`` below the centre (before rotation by ang_deg).
    """
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    x, y = a * np.cos(t), np.minimum(b * np.sin(t), b * base_frac)
    c, s = np.cos(np.radians(ang_deg)), np.sin(np.radians(ang_deg))
    return np.stack([cx + c * x - s * y, cy + s * x + c * y], axis=1)


def bullet_base(cx: float, cy: float, a: float, b: float, ang_deg: float,
                base_frac: float = 0.78) -> tuple[np.ndarray, np.ndarray]:
    """The two base corners (left, right) of `bullet` with the same arguments, in mm."""
    xb = a * np.sqrt(max(1 - base_frac ** 2, 0.0))
    c, s = np.cos(np.radians(ang_deg)), np.sin(np.radians(ang_deg))
    out = []
    for x in (-xb, xb):
        y = b * base_frac
        out.append(np.array([cx + c * x - s * y, cy + s * x + c * y]))
    return out[0], out[1]


def tube(points: np.ndarray, width_mm: float) -> np.ndarray:
    """A closed polygon of constant width around a centre polyline (N, 2) in mm."""
    p = np.asarray(points, dtype=np.float64)
    d = np.gradient(p, axis=0)
    n = np.stack([-d[:, 1], d[:, 0]], axis=1)
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-9)
    left, right = p + n * width_mm / 2, p - n * width_mm / 2
    return np.concatenate([left, right[::-1]], axis=0)


def arc(cx: float, cy: float, r: float, a0_deg: float, a1_deg: float, n: int = 40) -> np.ndarray:
    """Points on a circular arc; angles in degrees, 0 = screen right, 90 = down."""
    t = np.radians(np.linspace(a0_deg, a1_deg, n))
    return np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], axis=1)


def leaflet(hinge: tuple[float, float], length_mm: float, angle_deg: float) -> np.ndarray:
    """A valve leaflet: a short line from its hinge at angle_deg (0 = screen right, 90 = down)."""
    a = np.radians(angle_deg)
    h = np.asarray(hinge, dtype=np.float64)
    tip = h + length_mm * np.array([np.cos(a), np.sin(a)])
    mid = (h + tip) / 2 + 0.12 * length_mm * np.array([np.sin(a), -np.cos(a)])
    return np.stack([h, mid, tip])


def rotate_about(pts: np.ndarray, centre: tuple[float, float], ang_deg: float) -> np.ndarray:
    """Rotate points (N, 2) about centre by ang_deg (clockwise on screen, y down)."""
    c, s = np.cos(np.radians(ang_deg)), np.sin(np.radians(ang_deg))
    q = pts - np.asarray(centre)
    return np.stack([c * q[:, 0] - s * q[:, 1], s * q[:, 0] + c * q[:, 1]], axis=1) + np.asarray(centre)


@dataclass(frozen=True)
class Warp:
    """Anatomical variability: a smooth deformation of a whole scene (mm).

    p' = centre + R(rot_deg) @ diag(scale_x, scale_y) @ (p - centre) + sum_k d_k * exp(-|p - c_k|^2 / (2 s_k^2));
    bumps: (cx, cy, dx, dy, sigma) in mm. Identity when scale 1, rot 0 and no bumps.
    """

    centre: tuple[float, float]
    scale_x: float = 1.0
    scale_y: float = 1.0
    rot_deg: float = 0.0
    bumps: tuple[tuple[float, float, float, float, float], ...] = ()

    def apply(self, pts: np.ndarray) -> np.ndarray:
        c = np.asarray(self.centre)
        q = (pts - c) * np.array([self.scale_x, self.scale_y])
        out = rotate_about(q + c, tuple(c), self.rot_deg)
        for cx, cy, dx, dy, s in self.bumps:
            w = np.exp(-((pts[:, 0] - cx) ** 2 + (pts[:, 1] - cy) ** 2) / (2 * s * s))
            out = out + w[:, None] * np.array([dx, dy])
        return out

    @staticmethod
    def random(rng: np.random.Generator, centre: tuple[float, float], strength: float = 1.0) -> "Warp":
        """Heart size +-12 %, aspect +-8 %, orientation +-7 degrees and three local bumps of up to ~7 mm."""
        k = float(rng.uniform(0.88, 1.12))
        bumps = tuple((centre[0] + float(rng.normal(0, 25)), centre[1] + float(rng.normal(0, 25)),
                       float(rng.normal(0, 3.5 * strength)), float(rng.normal(0, 3.5 * strength)),
                       float(rng.uniform(12, 28))) for _ in range(3))
        return Warp(centre, k * float(rng.uniform(0.92, 1.08)), k * float(rng.uniform(0.92, 1.08)),
                    float(rng.normal(0, 3.5 * strength)), bumps)
