"""An independent SPECT phantom family used only by tests (never by training): a truncated-cone LV with a
spherical-cap apex, a linearly tapering wall, anisotropic Gaussian blur and no extra-cardiac organs except a body
background. Short-axis stack (nz apex -> base, rows anterior -> inferior, columns septal -> lateral), counts float32."""

import numpy as np
from scipy import ndimage


def cone_study(r_base_mm=26.0, r_apex_mm=12.0, length_mm=75.0, wall_base_mm=11.0, wall_apex_mm=7.0,
               fwhm_xy_mm=11.0, fwhm_z_mm=15.0, peak_counts=120.0, voxel_mm=3.2, shape=64, seed=0,
               septal_rel=1.0, inferior_rel=1.0, offset_mm=(0.0, 0.0, 0.0), base_first=False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    z, y, x = ((np.indices((shape,) * 3) + 0.5 - shape / 2) * voxel_mm
               - np.asarray(offset_mm, float)[:, None, None, None])
    s = z + length_mm / 2                      # 0 at the apex cap's base, length at the valve plane
    t = np.clip(s / length_mm, 0, 1)
    r_endo = r_apex_mm + (r_base_mm - r_apex_mm) * t
    wall = wall_apex_mm + (wall_base_mm - wall_apex_mm) * t
    r = np.hypot(x, y)
    body_cyl = (s >= 0) & (s <= length_mm)
    myo = body_cyl & (r >= r_endo) & (r < r_endo + wall)
    d_apex = np.sqrt(x ** 2 + y ** 2 + s ** 2)  # cap: a spherical shell below s = 0
    cap = (s < 0) & (d_apex >= r_apex_mm) & (d_apex < r_apex_mm + wall_apex_mm)
    cavity = (body_cyl & (r < r_endo)) | ((s < 0) & (d_apex < r_apex_mm))
    # normal regional variation: septum (columns < 0) and inferior wall (rows > 0) relative to the lateral wall
    rel = 1.0 + (septal_rel - 1.0) * np.clip(-x / np.maximum(r, 1e-6), 0, 1) \
        + (inferior_rel - 1.0) * np.clip(y / np.maximum(r, 1e-6), 0, 1)
    act = 0.05 * (np.hypot(x, y) < 0.45 * shape * voxel_mm) + 0.1 * cavity + rel * (myo | cap)
    sig = np.array([fwhm_z_mm, fwhm_xy_mm, fwhm_xy_mm]) / 2.3548 / voxel_mm
    vol = ndimage.gaussian_filter(act.astype(np.float64), sig)
    out = rng.poisson(np.clip(vol, 0, None) * peak_counts).astype(np.float32)
    return out[::-1].copy() if base_first else out
