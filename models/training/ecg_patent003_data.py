"""Renderings for the patent-003 image-space experiment (``models/training/ecg_patent003.py``).

Every record of ``ecg-records-ptbxl`` (the ``ecg_signal`` splits: PTB-XL strat_fold 1-8 + 44 Challenge records
train, fold 9 validation, fold 10 test; patients disjoint) is printed by the project's renderer
(``device.sim.ecg_paper.render``, 3x4+1, 25 mm/s, 10 mm/mV, 3.5 or 4 px/mm), damaged as a phone photo that the reader
has already rectified (colour cast, uneven light and a shadow band, a fold line, blur, sensor noise, JPEG; a residual
rotation/scale/shift of the page), turned into the ink map the cart computes (``device.ecg.traces.darkness``) and
warped to the canonical frame (``device.ecg.patent003``). The beat anchors come from the R peaks of the record's
own signal (lead II, ``device.ecg.measure.detect_beats``), moved by the same residual warp, so every beat box is known.
Cached per split under var/cache/ecg_patent003/.
"""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np

from device.ecg import patent003 as P
from device.ecg.measure import detect_beats
from device.ecg.traces import darkness
from device.paths import REPO_ROOT
from device.sim.ecg_paper import render

CACHE = REPO_ROOT / "var" / "cache" / "ecg_patent003"


def to_500hz(x100: np.ndarray) -> np.ndarray:
    """(1000, 12) at 100 Hz -> (5000, 12) at 500 Hz (linear interpolation)."""
    t0, t1 = np.arange(x100.shape[0]) / 100.0, np.arange(5000) / 500.0
    return np.stack([np.interp(t1, t0, x100[:, j]) for j in range(x100.shape[1])], 1).astype(np.float32)


def r_peaks_s(sig500: np.ndarray) -> np.ndarray:
    for j in (1, 0, 6, 10):  # II, I, V1, V5
        x = sig500[:, j]
        if np.isfinite(x).all() and np.ptp(x) > 0.05:
            pk = detect_beats(x, 500.0)
            if pk.size:
                return pk / 500.0
    return np.zeros(0)


def photo_damage(img: np.ndarray, rng: np.random.Generator, px_per_mm: float) -> np.ndarray:
    """What a rectified phone photo still shows, on the HSV value channel the ink map is computed from (uint8
    (H, W)): colour cast, light gradient + shadow band, a fold, blur, sensor noise, JPEG."""
    h, w = img.shape[:2]
    cast = rng.uniform(0.8, 1.05, 3)
    ch = [cv2.multiply(img[..., k], float(cast[k]), dtype=cv2.CV_32F) for k in range(3)]
    v = cv2.max(cv2.max(ch[0], ch[1]), ch[2])
    hs, ws = max(2, h // 8), max(2, w // 8)
    yy, xx = np.mgrid[0:hs, 0:ws].astype(np.float32)
    gx, gy = rng.uniform(-1, 1, 2)
    light = 1.0 - rng.uniform(0.05, 0.3) * (0.5 + 0.5 * (gx * (xx / ws - 0.5) + gy * (yy / hs - 0.5)))
    a, b = rng.uniform(-1, 1, 2)
    light *= 1.0 - rng.uniform(0, 0.25) * ((a * (xx / ws - 0.5) + b * (yy / hs - 0.5)) > rng.uniform(-0.3, 0.3))
    if rng.random() < 0.4:  # a fold: a thin darker line across the sheet
        p0 = (int(rng.uniform(0, ws)), 0) if rng.random() < 0.5 else (0, int(rng.uniform(0, hs)))
        p1 = (int(rng.uniform(0, ws)), hs) if p0[1] == 0 else (ws, int(rng.uniform(0, hs)))
        cv2.line(light, p0, p1, 0.8 * float(light.mean()), 1)
    light = cv2.resize(cv2.GaussianBlur(light, (0, 0), 1.0), (w, h), interpolation=cv2.INTER_LINEAR)
    v = cv2.GaussianBlur(v * light, (0, 0), rng.uniform(0.3, 1.3))
    noise = np.empty(v.shape, np.float32)
    cv2.setRNGSeed(int(rng.integers(1 << 30)))
    cv2.randn(noise, 0.0, float(rng.uniform(1, 6)))
    v = np.clip(v + noise, 0, 255).astype(np.uint8)
    ok, enc = cv2.imencode(".jpg", v, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(55, 95))])
    return cv2.imdecode(enc, cv2.IMREAD_UNCHANGED)


def residual_warp(rng: np.random.Generator) -> np.ndarray:
    """3x3 canonical-frame jitter: rotation +-1 degree, scale +-3 %, shift +-2 mm (what rectification leaves)."""
    a = np.radians(rng.uniform(-1, 1))
    s = rng.uniform(0.97, 1.03)
    c = np.array([P.CW / 2, P.CH / 2])
    r = s * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    t = c - r @ c + rng.uniform(-2, 2, 2) * P.PX_MM
    return np.array([[r[0, 0], r[0, 1], t[0]], [r[1, 0], r[1, 1], t[1]], [0, 0, 1]])


def make_example(x100: np.ndarray, rng: np.random.Generator, damage: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(canonical uint8 (CH, CW), anchors float32 (n, 3)) for one record."""
    sig = to_500hz(x100)
    ppm = float(rng.choice([3.5, 4.0]))
    page = render(sig, px_per_mm=ppm, rng=rng, layout="3x4+1", header=f"PTB-XL {int(rng.integers(1, 99999))}")
    v = (photo_damage(page.image, rng, ppm) if damage
         else cv2.cvtColor(page.image, cv2.COLOR_RGB2HSV)[..., 2])
    m = P.canonical_matrix(ppm, page.x0_px, page.baselines_px)
    j = residual_warp(rng) if damage else np.eye(3)
    m = (j @ np.vstack([m, [0, 0, 1]]))[:2]
    canon = P.to_canonical(darkness(page.image, ppm, v=v), m)
    a = P.anchors_from_r_peaks(r_peaks_s(sig))
    if len(a):
        xy = np.c_[a[:, :2], np.ones(len(a))] @ j[:2].T
        a = np.c_[xy, a[:, 2:]].astype(np.float32)
    return canon, a


def build(x: np.ndarray, name: str, seed: int, copies: int = 1, budget_s: float = 1e9) -> dict[str, np.ndarray]:
    """Render ``copies`` damaged printouts of every record in ``x`` (N, 1000, 12); cached as
    var/cache/ecg_patent003/<name>.npz (index of the record, canonical images, anchors flattened with offsets)."""
    f = CACHE / f"{name}.npz"
    if f.exists():
        z = np.load(f)
        return {k: z[k] for k in z.files}
    rng = np.random.default_rng(seed)
    imgs, idx, anc, off = [], [], [], [0]
    t0 = time.time()
    for c in range(copies):
        for i in range(len(x)):
            canon, a = make_example(x[i], rng)
            imgs.append(canon)
            idx.append(i)
            anc.append(a)
            off.append(off[-1] + len(a))
            if time.time() - t0 > budget_s:
                break
        if time.time() - t0 > budget_s:
            break
    out = {"img": np.stack(imgs), "idx": np.array(idx), "anchors": np.concatenate(anc).astype(np.float32),
           "off": np.array(off)}
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(f, **out)
    print(f"[ecg_patent003] rendered {name}: {len(imgs)} printouts in {time.time() - t0:.0f} s", flush=True)
    return out


def anchors_of(data: dict[str, np.ndarray], k: int) -> np.ndarray:
    return data["anchors"][data["off"][k] : data["off"][k + 1]]


def load_split_arrays(root: Path):
    from models.training.ecg_signal_data import load, splits

    d = load(root / "ecg-records-ptbxl")
    return d, splits(d)
