"""Training data for the echo view model v2: randomised-machine simulator screens and the real echo frames.

Everything goes through the cart's own pre-processing (`find_sector`, `crop_fan`) to (S, S) uint8 crops.
Simulator splits come from disjoint seeds and are cached in chunks under var/cache/echo_view_v2/ (a rerun resumes).

Real frames (../shared/data/echo-dicom), labelled by what the files are:
- color3d_jpeg_baseline.dcm (SonoSite cine, 120 frames): A4C (apical four-chamber loop, the dataset's README);
- US-PAL-8-10x-echo.dcm (10 frames, colour Doppler): PLAX (its SeriesDescription "PS LAX MR & AI");
- JPGLosslessP14SV1_1s_1f_8b.dcm (one Philips frame): PLAX - a high parasternal long-axis view of the aortic root
  and ascending aorta with a calliper on it (judged by eye: the parasternal long-axis family is the closest of the 13
  classes; it is one frame and is reported on its own);
- color-pl.dcm (one small transoesophageal colour frame) is left out: a TEE view is none of the 12 transthoracic
  views, and calling it OTHER would teach "parasternal-looking aorta = OTHER"; the evaluation reports what the
  model says about it.
"""

from __future__ import annotations

import multiprocessing as mp
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from device.echo.prep import crop_fan
from device.echo.screen import find_sector
from device.sim.echo_pose import GUIDANCE
from device.sim.echo_views import VIEWS

REAL_LABELS = {"color3d_jpeg_baseline.dcm": "A4C", "US-PAL-8-10x-echo.dcm": "PLAX",
               "JPGLosslessP14SV1_1s_1f_8b.dcm": "PLAX"}
REAL_UNLABELLED = ("color-pl.dcm",)
CHUNK = 100


@dataclass
class CropSet:
    """x (N, S, S) uint8; view (N,) int64; quality (N,) float32 (-1 unknown); guidance (N,) int64 (-1 unknown);
    group (N,) int64: the scan (simulator) or clip (real) a crop comes from; colour (N,) bool; kind (N,) str."""

    x: np.ndarray
    view: np.ndarray
    quality: np.ndarray
    guidance: np.ndarray
    group: np.ndarray
    colour: np.ndarray
    kind: np.ndarray

    FIELDS = ("x", "view", "quality", "guidance", "group", "colour", "kind")

    def __len__(self) -> int:
        return len(self.view)

    def take(self, idx: np.ndarray) -> CropSet:
        return CropSet(*(getattr(self, k)[idx] for k in self.FIELDS))

    @staticmethod
    def concat(sets: list[CropSet]) -> CropSet:
        return CropSet(*(np.concatenate([getattr(s, k) for s in sets]) for k in CropSet.FIELDS))

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.stem + ".part.npz")
        np.savez_compressed(tmp, **{k: getattr(self, k) for k in self.FIELDS})
        tmp.replace(path)

    @staticmethod
    def load(path: Path) -> CropSet:
        d = np.load(path, allow_pickle=False)
        return CropSet(*(d[k] for k in CropSet.FIELDS))


def _render_chunk(args: tuple[int, int, int, int, bool, int, float]) -> CropSet:
    from device.sim.echo_machine import machine_samples

    seed, first, n, size, balanced, n_variants, p_deep = args
    rng = np.random.default_rng(seed)
    xs, vs, qs, gs, grp, col, kind = [], [], [], [], [], [], []
    for i in range(n):
        view = VIEWS[(first + i) % len(VIEWS)] if balanced else None
        for img, tr, info in machine_samples(rng, view=view, n_variants=n_variants, p_deep=p_deep):
            xs.append(crop_fan(img, find_sector(img), size))
            vs.append(VIEWS.index(tr.view))
            qs.append(tr.quality if tr.view != "OTHER" else 0.0)
            gs.append(GUIDANCE.index(tr.guidance) if tr.view != "OTHER" else -1)
            grp.append(seed * 1000 + i)
            col.append(info.colour)
            kind.append(info.kind or info.vendor)
    return CropSet(np.stack(xs), np.array(vs, np.int64), np.array(qs, np.float32), np.array(gs, np.int64),
                   np.array(grp, np.int64), np.array(col, bool), np.array(kind))


def simulate_split(name: str, n_scans: int, seed: int, size: int, cache: Path, balanced: bool = False,
                   n_variants: int = 1, workers: int = 2, p_deep: float = 0.0) -> CropSet:
    """`n_scans` simulated scans x `n_variants` machines, cached per chunk of CHUNK scans (resumable)."""
    jobs, paths = [], []
    for k in range((n_scans + CHUNK - 1) // CHUNK):
        p = cache / "chunks" / f"{name}_s{seed}_v{n_variants}_{size}_{k:03d}.npz"
        paths.append(p)
        if not p.is_file():
            jobs.append((p, (seed * 10_007 + k, k * CHUNK, min(CHUNK, n_scans - k * CHUNK), size, balanced,
                             n_variants, p_deep)))
    if jobs:
        print(f"[echo_view_v2] rendering {len(jobs)} chunk(s) of {name} ...", flush=True)
        with mp.get_context("fork").Pool(workers) as pool:
            for (p, _a), part in zip(jobs, pool.imap(_render_chunk, [a for _p, a in jobs])):
                part.save(p)
                print(f"[echo_view_v2] {p.name} ({len(part)} crops)", flush=True)
    return CropSet.concat([CropSet.load(p) for p in paths])


def real_frames(data_dir: Path | None, size: int) -> tuple[CropSet, list[str]] | None:
    """Every frame of the labelled real echo files (REAL_LABELS); group = index into the returned file names."""
    if data_dir is None or not (data_dir / "echo-dicom").is_dir():
        return None
    from device.drivers.files import iter_file_frames

    names = [n for n in REAL_LABELS if (data_dir / "echo-dicom" / n).is_file()]
    xs, vs, grp = [], [], []
    for gi, name in enumerate(names):
        sector = None
        for fr in iter_file_frames(data_dir / "echo-dicom" / name):
            sector = sector or find_sector(fr.pixels)   # as the cart does: one fan per clip
            xs.append(crop_fan(fr.pixels, sector, size))
            vs.append(VIEWS.index(REAL_LABELS[name]))
            grp.append(gi)
    n = len(xs)
    if not n:
        return None
    cs = CropSet(np.stack(xs), np.array(vs, np.int64), np.full(n, -1, np.float32), np.full(n, -1, np.int64),
                 np.array(grp, np.int64), np.zeros(n, bool), np.array(["real"] * n))
    return cs, names
