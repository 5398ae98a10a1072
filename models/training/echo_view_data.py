"""Training data for the echo view model: simulator screens and a site's own labelled frames or clips.

Both go through the cart's own pre-processing (`device.echo.screen.find_sector`, `device.echo.prep.crop_fan`), so the
model sees at training time exactly what it sees on the cart.

Real data layouts accepted by `load_real_folder(root)`:
- one sub-folder per view (``root/A4C/*.png|jpg|mp4|avi|dcm``), folder names matching the view labels; or
- a CSV ``root/labels.csv`` with columns ``path,view`` (path relative to root; any image, video or DICOM file).
Clips give up to `frames_per_clip` evenly spaced frames. Real frames have no quality or guidance label.
"""

from __future__ import annotations

import csv
import multiprocessing as mp
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from device.echo.prep import crop_fan
from device.echo.screen import find_sector
from device.sim.echo_pose import GUIDANCE
from device.sim.echo_views import VIEWS

IMAGE_EXT = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}
VIDEO_EXT = {".mp4", ".avi", ".mov", ".mkv", ".m4v", ".wmv"}
DICOM_EXT = {".dcm", ".dicom", ""}
SIZES_TRAIN = ((320, 240), (320, 240), (400, 300), (480, 360), (640, 480))


@dataclass
class EchoSet:
    """Crops (N, S, S) uint8; view (N,) int64; quality (N,) float32 (-1 unknown); guidance (N,) int64 (-1 unknown)."""

    x: np.ndarray
    view: np.ndarray
    quality: np.ndarray
    guidance: np.ndarray

    def __len__(self) -> int:
        return len(self.view)

    @staticmethod
    def concat(sets: list[EchoSet]) -> EchoSet:
        return EchoSet(*(np.concatenate([getattr(s, k) for s in sets]) for k in ("x", "view", "quality", "guidance")))

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, x=self.x, view=self.view, quality=self.quality, guidance=self.guidance)

    @staticmethod
    def load(path: Path) -> EchoSet:
        d = np.load(path)
        return EchoSet(d["x"], d["view"], d["quality"], d["guidance"])


def _sim_chunk(args: tuple[int, int, int, bool]) -> EchoSet:
    from device.sim.echo_probe import random_sample

    seed, n, size, balanced = args
    rng = np.random.default_rng(seed)
    xs, vs, qs, gs = [], [], [], []
    for i in range(n):
        view = VIEWS[i % len(VIEWS)] if balanced else None
        scr = SIZES_TRAIN[int(rng.integers(0, len(SIZES_TRAIN)))]
        img, tr = random_sample(rng, view=view, size=scr)
        sec = find_sector(img)
        xs.append(crop_fan(img, sec, size))
        vs.append(VIEWS.index(tr.view))
        qs.append(tr.quality)
        gs.append(GUIDANCE.index(tr.guidance) if tr.view != "OTHER" else -1)
    return EchoSet(np.stack(xs), np.array(vs, np.int64), np.array(qs, np.float32), np.array(gs, np.int64))


def simulate(n: int, seed: int, size: int, balanced: bool = False, workers: int = 2) -> EchoSet:
    """n simulator screens pre-processed to (size, size) crops; `balanced` cycles through the views in order."""
    chunk = 250
    jobs = [(seed * 100_003 + k, min(chunk, n - k * chunk), size, balanced) for k in range((n + chunk - 1) // chunk)]
    parts = []
    if workers > 1:
        with mp.get_context("fork").Pool(workers) as pool:
            for k, part in enumerate(pool.imap(_sim_chunk, jobs)):
                parts.append(part)
                print(f"[echo_view] simulated {min((k + 1) * chunk, n)}/{n}", flush=True)
    else:
        parts = [_sim_chunk(j) for j in jobs]
    return EchoSet.concat(parts)


def read_frames(path: Path, max_frames: int) -> list[np.ndarray]:
    """Up to max_frames evenly spaced RGB frames (H, W, 3) uint8 of an image, a video or a DICOM file."""
    from device.drivers.files import read_any_frames  # the cart's own readers

    return read_any_frames(path, max_frames)


def load_real_folder(root: Path, size: int, frames_per_clip: int = 8) -> tuple[EchoSet, list[str]]:
    """Labelled real frames from `root` (sub-folder per view, or labels.csv). Returns the set and the clip ids.

    Raises ValueError with what to fix when a label is unknown or nothing readable is found.
    """
    items: list[tuple[Path, str]] = []
    csv_path = root / "labels.csv"
    if csv_path.is_file():
        with csv_path.open(newline="") as fh:
            try:
                reader = csv.DictReader(fh)
                for row in reader:
                    path, view = row.get("path"), row.get("view")
                    if not path or view is None:
                        raise ValueError(f"{csv_path} line {reader.line_num}: each row needs a 'path' and a 'view' "
                                         "(header: path,view)")
                    items.append((root / path, view.strip()))
            except csv.Error as exc:
                raise ValueError(f"{csv_path} is not a readable CSV ({exc}); save it as path,view rows") from None
    else:
        for sub in sorted(p for p in root.iterdir() if p.is_dir()):
            for f in sorted(sub.rglob("*")):
                if f.is_file():
                    items.append((f, sub.name))
    bad = sorted({v for _, v in items if v not in VIEWS})
    if bad:
        raise ValueError(f"unknown view label(s) {', '.join(bad)} in {root}; valid: {', '.join(VIEWS)}")
    xs, vs, clips = [], [], []
    for path, view in items:
        try:
            frames = read_frames(path, frames_per_clip)
        except Exception as exc:  # noqa: BLE001 - a file a site dropped in by mistake is skipped, not fatal
            print(f"[echo_view] skipped {path}: {exc}", flush=True)
            continue
        for fr in frames:
            xs.append(crop_fan(fr, find_sector(fr), size))
            vs.append(VIEWS.index(view))
            clips.append(str(path))
    if not xs:
        raise ValueError(f"no readable image, video or DICOM frames under {root}")
    n = len(xs)
    return EchoSet(np.stack(xs), np.array(vs, np.int64), np.full(n, -1, np.float32), np.full(n, -1, np.int64)), clips
