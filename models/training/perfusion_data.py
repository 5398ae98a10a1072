"""Simulated perfusion training data shared by the perfusion recipes, cached under ``var/training_cache``.

Seed ranges never overlap: training 100000+, recipe validation 200000+, normals 300000+; the evaluation in
``device/eval/perfusion.py`` uses 900000+, so no reported number comes from a study any recipe saw.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from device.errors import InputError
from device.paths import REPO_ROOT
from device.perfusion.geometry import TERRITORIES
from device.perfusion.networks import ring_inputs
from device.perfusion.polar import rings_to_polar, slice_rings
from device.perfusion.segment import segment_lv
from device.sim.spect import random_study

CACHE = REPO_ROOT / "var" / "training_cache"
TRAIN_SEED0, VAL_SEED0, NORMAL_SEED0 = 100_000, 200_000, 300_000
CROP_PX, CROP_MM = 28, 3.2


def _code_hash() -> str:
    """Short hash of the code that makes the data, so a changed simulator or segmentation never reuses a cache."""
    import hashlib

    h = hashlib.sha256()
    for mod in ("device/sim/spect.py", "device/perfusion/segment.py", "device/perfusion/polar.py",
                "device/perfusion/networks.py", "device/perfusion/geometry.py"):
        h.update((REPO_ROOT / mod).read_bytes())
    return h.hexdigest()[:10]


def study_arrays(seed: int, p_abnormal: float, with_rings: bool, wide: bool = False) -> dict | None:
    """Classical stress/rest polar maps (+ network-1 samples) of one random study; None if segmentation fails.
    ``wide``: the simulator's wider patient family (``random_study(..., wide=True)``)."""
    s = random_study(seed, p_abnormal, wide=wide)
    out: dict = {"at_risk": np.array([s.at_risk[t] for t in TERRITORIES], np.float32),
                 "severity": np.array([max([d.severity for d in s.defects if d.territory == t] or [0.0])
                                       for t in TERRITORIES], np.float32)}
    for phase, vol in (("stress", s.stress), ("rest", s.rest)):
        try:
            stack, seg = segment_lv(vol)
        except InputError:
            return None
        rings, _ = slice_rings(stack, seg)
        out[f"polar_{phase}"] = rings_to_polar(rings)
        if with_rings:
            out[f"x_{phase}"] = ring_inputs(stack, seg, s.voxel_mm[1:], CROP_PX, CROP_MM).astype(np.float16)
            out[f"y_{phase}"] = (rings / seg.myo_max).astype(np.float32)
            out[f"n_{phase}"] = np.array(len(rings))
    return out


def dataset(name: str, seed0: int, n: int, p_abnormal: float = 0.6, with_rings: bool = False,
            wide: bool = False) -> dict:
    """Arrays for n studies (seeds seed0..seed0+n-1), cached as ``var/training_cache/<name>.npz``."""
    path = cache_file(name, seed0, n, with_rings, wide)
    if path.is_file():
        return dict(np.load(path))
    t0 = time.time()
    rows, failed = [], 0
    for seed in range(seed0, seed0 + n):
        r = study_arrays(seed, p_abnormal, with_rings, wide)
        if r is None:
            failed += 1
        else:
            rows.append(r)
    data = stack_rows(rows, failed, with_rings)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(path, **data)
    print(f"{name}: {len(rows)} studies ({failed} failed segmentation) in {time.time() - t0:.0f} s")
    return data


def cache_file(name: str, seed0: int, n: int, with_rings: bool, wide: bool) -> Path:
    return CACHE / f"{name}_{seed0}_{n}_{int(with_rings)}{'_wide' if wide else ''}_{_code_hash()}.npz"


def stack_rows(rows: list[dict], failed: int, with_rings: bool) -> dict:
    """One dataset dict from per-study arrays (``study_arrays``), in seed order."""
    data = {k: np.stack([r[k] for r in rows]) for k in ("at_risk", "severity", "polar_stress", "polar_rest")}
    if with_rings:
        for k in ("x_stress", "y_stress", "x_rest", "y_rest"):
            data[k] = np.concatenate([r[k] for r in rows])
        for k in ("n_stress", "n_rest"):
            data[k] = np.stack([r[k] for r in rows])
    data["failed"] = np.array(failed)
    return data


def network_polars(d: dict, phase: str = "stress", variant: str | None = None) -> np.ndarray:
    """(n, N_RINGS, N_SECTORS) polar maps made by the SHIPPED network 1 (default variant, as the device runs it)
    from a dataset's cached ring inputs (``with_rings=True``): the maps network 2 and the normals meet when the
    device's polar source is "network"."""
    from device.inference import model_provider
    from device.perfusion.networks import RING_MODEL

    model = model_provider().get(RING_MODEL, variant)
    name = model.manifest.inputs[0].name
    x = d[f"x_{phase}"].astype(np.float32)
    y = np.concatenate([np.asarray(next(iter(model.run({name: x[i:i + 4096]}).values())), np.float32)
                        for i in range(0, len(x), 4096)])
    out, off = [], 0
    for n in d[f"n_{phase}"]:
        out.append(rings_to_polar(np.clip(y[off:off + int(n)], 0, None)))
        off += int(n)
    return np.stack(out).astype(np.float32)


def load_or_make(name: str, seed0: int, n: int, **kw) -> dict:
    return dataset(name, seed0, n, **kw)


def cache_path() -> Path:
    return CACHE
