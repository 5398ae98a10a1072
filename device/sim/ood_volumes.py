"""Out-of-domain count volumes for the perfusion validity gate: brain-like, kidney-like, liver-like and noise.

None holds a left ventricle; each must be refused by ``device.perfusion.validity``. They are crude on purpose (hot
shells and blobs of the right size, blurred to SPECT resolution, Poisson noise), the kinds of study a technologist
could load into the perfusion screen by mistake (a brain SPECT/PET, a renal DMSA scan, a liver or bone study)
or a broken reconstruction (noise).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def _grid(shape: int, voxel_mm: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    c = (np.arange(shape) + 0.5 - shape / 2) * voxel_mm
    return np.meshgrid(c, c, c, indexing="ij")


def _finish(act: np.ndarray, voxel_mm: float, rng: np.random.Generator, fwhm_mm: float = 10.0,
            peak_counts: float = 400.0) -> np.ndarray:
    act = ndimage.gaussian_filter(act.astype(np.float64), fwhm_mm / 2.3548 / voxel_mm)
    act = act / max(float(act.max()), 1e-9) * peak_counts
    return rng.poisson(act).astype(np.float32)


def brain(rng: np.random.Generator, shape: int = 64, voxel_mm: float = 3.2) -> np.ndarray:
    """A head: hot cortex (a 6-mm shell under the surface of a 140 x 170 x 130 mm ellipsoid), warm white matter,
    cold ventricles and two hot deep nuclei."""
    z, y, x = _grid(shape, voxel_mm)
    s = rng.uniform(0.9, 1.1)
    r = np.sqrt((z / (65 * s)) ** 2 + (y / (85 * s)) ** 2 + (x / (70 * s)) ** 2)
    act = np.where(r < 1.0, 0.3, 0.0) + np.where((r < 1.0) & (r > 0.9), 0.7, 0.0)
    vent = np.sqrt((z / 15) ** 2 + (y / 30) ** 2 + (np.abs(x) - 8) ** 2 / 6 ** 2) < 1.0
    act[vent] = 0.05
    for sx in (-22, 22):
        act[np.sqrt(z ** 2 + (y - 5) ** 2 + (x - sx) ** 2) < 10] = 1.0
    return _finish(act, voxel_mm, rng, fwhm_mm=9.0)


def kidneys(rng: np.random.Generator, shape: int = 64, voxel_mm: float = 3.2) -> np.ndarray:
    """Two kidneys (renal DMSA): hot cortex shells of 110 x 55 x 45 mm beans either side of the spine, cold
    medulla and pelvis."""
    z, y, x = _grid(shape, voxel_mm)
    act = np.zeros(z.shape)
    for side in (-1, 1):
        xc = side * rng.uniform(55, 65)
        r = np.sqrt((z / 55) ** 2 + (y / 22) ** 2 + ((x - xc) / 27) ** 2)
        act[(r < 1.0) & (r > 0.62)] = 1.0
        act[r <= 0.62] = 0.15
        hilum = (np.abs(z) < 15) & (side * (x - xc) < -10) & (np.abs(y) < 10)
        act[hilum] = 0.0
    return _finish(act, voxel_mm, rng, fwhm_mm=10.0)


def liver(rng: np.random.Generator, shape: int = 64, voxel_mm: float = 3.2) -> np.ndarray:
    """A solid hot organ (liver/spleen colloid scan): a 160 x 110 x 140 mm ellipsoid, no cavity."""
    z, y, x = _grid(shape, voxel_mm)
    r = np.sqrt((z / 70) ** 2 + (y / 55) ** 2 + ((x + 20) / 80) ** 2)
    return _finish((r < 1.0).astype(np.float64), voxel_mm, rng, fwhm_mm=12.0)


def noise(rng: np.random.Generator, shape: int = 64) -> np.ndarray:
    """Uniform random counts (a failed reconstruction)."""
    return rng.uniform(0, 1000, (shape,) * 3).astype(np.float32)


def blank_with_speck(shape: int = 64) -> np.ndarray:
    """All zero but one hot voxel."""
    v = np.zeros((shape,) * 3, np.float32)
    v[shape // 2, shape // 2, shape // 2] = 100.0
    return v


VOLUMES = {
    "brain": lambda rng: brain(rng),
    "kidneys": lambda rng: kidneys(rng),
    "liver": lambda rng: liver(rng),
    "noise": lambda rng: noise(rng),
    "one hot voxel": lambda rng: blank_with_speck(),
}
