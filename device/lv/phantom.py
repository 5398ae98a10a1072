"""A beating short-axis MR-like phantom with known masks (for tests, the benchmark and demos; not for training).

Bright blood pool (cavity), dark myocardial ring whose area is conserved as it thickens in systole, a bright right-
ventricular crescent on the image's left, grey surroundings, Rician-like noise. Frame 0 is end-diastole.
"""

from __future__ import annotations

import numpy as np

from device.lv import CAVITY, MYOCARDIUM


def sax_cine(n_frames: int = 20, size: int = 256, mm_per_px: float = 1.4, r_ed_mm: float = 25.0,
             wall_ed_mm: float = 8.0, ef_area: float = 0.45, seed: int = 0,
             centre_rc: tuple[float, float] | None = None, rv: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(frames (T, H, W) float32 0..1000, truth (T, H, W) uint8 0/1/2).

    The cavity area falls by ``ef_area`` from ED (frame 0) to ES (frame ~0.35 T) and recovers by the end.
    """
    rng = np.random.default_rng(seed)
    cy, cx = centre_rc if centre_rc is not None else (size * 0.52, size * 0.55)
    yy, xx = np.mgrid[:size, :size].astype(np.float32)
    frames = np.zeros((n_frames, size, size), np.float32)
    truth = np.zeros((n_frames, size, size), np.uint8)
    a_ed = np.pi * r_ed_mm ** 2
    myo_area = np.pi * ((r_ed_mm + wall_ed_mm) ** 2 - r_ed_mm ** 2)
    body = np.hypot((yy - size / 2) / (size * 0.46), (xx - size / 2) / (size * 0.42)) < 1
    for t in range(n_frames):
        p = t / n_frames
        c = np.sin(np.pi * p / 0.7) if p < 0.7 else 0.0   # 0 ED -> 1 ES -> 0
        area = a_ed * (1 - ef_area * c)
        r_endo = np.sqrt(area / np.pi)
        r_epi = np.sqrt((area + myo_area) / np.pi)
        r = np.hypot(yy - cy, xx - cx) * mm_per_px
        cav = r < r_endo
        myo = (r >= r_endo) & (r < r_epi)
        rv_r = np.hypot(yy - cy + 4 / mm_per_px, xx - cx + (r_epi + 14) / mm_per_px) * mm_per_px
        rv_mask = (rv_r < 22) & (r >= r_epi + 2) & rv
        img = np.where(body, 260.0, 20.0)
        img = np.where(rv_mask, 780.0, img)
        img = np.where(myo, 150.0, img)
        img = np.where(cav, 820.0, img)
        img = img + rng.normal(0, 25, img.shape)
        frames[t] = np.abs(img)
        truth[t][myo] = MYOCARDIUM
        truth[t][cav] = CAVITY
    return frames, truth
