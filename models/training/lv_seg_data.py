"""Training samples for the LV segmentation model: augmented Sunnybrook MR crops, simulator echo frames, and
K-means-balanced folds (patent 002: descriptor = grey-level histogram + the 11 indices; each cluster is split
evenly across the folds).

The MR crops mimic the runtime: equalise the whole slice, crop ``crop_mm`` around the LV (with jitter in centre,
scale and rotation) or take the whole slice (the runtime's localisation pass), resize to S x S.
"""

from __future__ import annotations

import cv2
import numpy as np
from sklearn.cluster import KMeans

from device.errors import InputError
from device.lv.indices import sax_indices
from device.lv.preprocess import equalise
from device.lv.sunnybrook import UNKNOWN_NOT_CAVITY, LabelledSlice


class MriSampler:
    def __init__(self, slices: list[LabelledSlice], size: int, crop_mm: float, full_frac: float = 0.25):
        self.slices = slices
        self.size = size
        self.crop_mm = crop_mm
        self.full_frac = full_frac
        self.eq = [equalise(s.image) for s in slices]
        self.centres = []
        for s in slices:
            r, c = np.nonzero(s.label == 1)
            self.centres.append((float(c.mean()), float(r.mean())))

    def sample(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        k = int(rng.integers(len(self.slices)))
        s, img = self.slices[k], self.eq[k]
        h, w = img.shape
        ang = rng.uniform(-180, 180)
        if rng.random() < self.full_frac:
            centre = (w / 2 + rng.normal(0, 6), h / 2 + rng.normal(0, 6))
            span = max(h, w) * rng.uniform(0.9, 1.1)
        else:
            cx, cy = self.centres[k]
            centre = (cx + rng.normal(0, 10), cy + rng.normal(0, 10))
            span = self.crop_mm / s.spacing_rc[0] * rng.uniform(0.8, 1.25)
        scale = self.size / span
        m = cv2.getRotationMatrix2D(centre, ang, scale)
        m[:, 2] += np.array([self.size / 2, self.size / 2]) - np.array(centre)
        x = cv2.warpAffine(img, m, (self.size, self.size), flags=cv2.INTER_LINEAR, borderValue=0)
        y = cv2.warpAffine(s.label, m, (self.size, self.size), flags=cv2.INTER_NEAREST, borderValue=0)
        if rng.random() < 0.5:
            x, y = x[:, ::-1], y[:, ::-1]
        g = rng.uniform(0.7, 1.4)
        x = np.clip(255.0 * (x / 255.0) ** g + rng.normal(0, rng.uniform(0, 8), x.shape), 0, 255).astype(np.uint8)
        return x, np.ascontiguousarray(y)


def sim_sample(xs: np.ndarray, ys: np.ndarray, rng: np.random.Generator,
               rare: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One simulator frame; with probability 0.3 one of the ``rare`` indices (frames showing the aortic root)."""
    if rare is not None and len(rare) and rng.random() < 0.3:
        k = int(rare[rng.integers(len(rare))])
    else:
        k = int(rng.integers(len(xs)))
    x, y = xs[k], ys[k]
    if rng.random() < 0.3:
        x, y = x[:, ::-1], y[:, ::-1]
    g = rng.uniform(0.75, 1.3)
    x = np.clip(255.0 * (x / 255.0) ** g, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(x), np.ascontiguousarray(y)


def batches(rng: np.random.Generator, batch: int, mri: MriSampler | None, sim: tuple[np.ndarray, np.ndarray] | None,
            mri_frac: float):
    """Endless iterator of (x (B, S, S) uint8, y (B, S, S) uint8) mixing MR crops and simulator frames."""
    rare = np.nonzero((sim[1] == 4).any(axis=(1, 2)))[0] if sim is not None else None
    while True:
        xs, ys = [], []
        for _ in range(batch):
            use_mri = mri is not None and (sim is None or rng.random() < mri_frac)
            x, y = mri.sample(rng) if use_mri else sim_sample(sim[0], sim[1], rng, rare)  # type: ignore[union-attr,index]
            xs.append(x)
            ys.append(y)
        yield np.stack(xs), np.stack(ys)


def descriptor(s: LabelledSlice, bins: int = 32) -> np.ndarray:
    """Grey-level histogram of the equalised slice (within 60 mm of the LV) + the 11 expert indices (NaN if absent)."""
    eq = equalise(s.image)
    r, c = np.nonzero(s.label == 1)
    cy, cx = r.mean(), c.mean()
    yy, xx = np.mgrid[: eq.shape[0], : eq.shape[1]]
    near = np.hypot((yy - cy) * s.spacing_rc[0], (xx - cx) * s.spacing_rc[1]) < 60
    hist = np.histogram(eq[near], bins=bins, range=(0, 256), density=True)[0] * 256 / bins
    idx = np.full(11, np.nan)
    label = np.where(s.label == UNKNOWN_NOT_CAVITY, 0, s.label)
    try:
        si = sax_indices(label, s.spacing_rc) if s.has_myo else None
    except InputError:
        si = None
    cav_area = float((s.label == 1).sum() * s.spacing_rc[0] * s.spacing_rc[1])
    idx[0] = cav_area
    if si is not None:
        idx[1:] = [si.myo_area_mm2, *si.dims_mm, *si.rwt_mm]
    return np.concatenate([hist, idx])


def kmeans_folds(slices: list[LabelledSlice], n_folds: int, seed: int = 0) -> list[int]:
    """Fold number per slice: K-means (K = n_folds) on standardised descriptors, each cluster dealt evenly."""
    d = np.stack([descriptor(s) for s in slices])
    col_mean = np.nanmean(d, axis=0)
    d = np.where(np.isnan(d), col_mean[None, :], d)
    d = (d - d.mean(0)) / (d.std(0) + 1e-9)
    clusters = KMeans(n_clusters=n_folds, n_init=10, random_state=seed).fit_predict(d)
    rng = np.random.default_rng(seed)
    fold = [0] * len(slices)
    offset = 0
    for k in range(n_folds):
        members = np.nonzero(clusters == k)[0]
        rng.shuffle(members)
        for j, i in enumerate(members):
            fold[int(i)] = (offset + j) % n_folds
        offset += len(members)
    return fold
