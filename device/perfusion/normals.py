"""Normal limits: mean and SD of the polar map (per pixel and per AHA segment) of a normal population.

The shipped database (``models/perfusion_normals/normals.json``) comes from the simulator's normal population
(recipe ``models/training/perfusion_normals.py``); a site replaces it with its own file of the same layout
(``--normals FILE`` on the CLI, ``load_normals(path)`` in code).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from device.errors import InputError, ModelError
from device.paths import MODELS_DIR
from device.perfusion.geometry import N_RINGS, N_SECTORS

DEFAULT_PATH = Path("perfusion_normals") / "normals.json"
SD_FLOOR_PCT = 3.0


@dataclass(frozen=True)
class NormalLimits:
    """polar_mean/polar_sd: (N_RINGS, N_SECTORS) float32 percent of max; segment_mean/segment_sd: (17,) float32;
    z_threshold: a pixel with z below -z_threshold is abnormal; source: where the population came from."""

    polar_mean: np.ndarray
    polar_sd: np.ndarray
    segment_mean: np.ndarray
    segment_sd: np.ndarray
    z_threshold: float
    n: int
    source: str
    name: str
    sha256: str


def _r(a: np.ndarray) -> list:
    return np.round(np.asarray(a, np.float64), 2).tolist()


def normals_dict(polars: np.ndarray, segments: np.ndarray, source: str, n_patients: int, z_threshold: float = 2.5,
                 name: str = "perfusion_normals 1.0.0") -> dict:
    """Build the JSON layout from (n, N_RINGS, N_SECTORS) polar maps and (n, 17) segment values of normals."""
    return {
        "name": name, "source": source, "n": int(n_patients), "n_maps": int(len(polars)), "z_threshold": z_threshold,
        "grid": {"rings": N_RINGS, "sectors": N_SECTORS, "units": "percent of the map maximum"},
        "polar_mean": _r(polars.mean(0)),
        "polar_sd": _r(np.maximum(polars.std(0, ddof=1), SD_FLOOR_PCT)),
        "segment_mean": _r(segments.mean(0)),
        "segment_sd": _r(np.maximum(segments.std(0, ddof=1), SD_FLOOR_PCT)),
    }


def load_normals(path: Path | None = None) -> NormalLimits:
    """Read a normal database (default: the shipped simulator normals). InputError/ModelError when unusable."""
    default = path is None
    p = Path(path) if path is not None else MODELS_DIR / DEFAULT_PATH
    err = ModelError if default else InputError
    try:
        raw = p.read_bytes()
        d = json.loads(raw.decode("utf-8"))
    except FileNotFoundError:
        raise err(f"normal database {p} not found; " + ("run 'make models'" if default else "check the path")) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise err(f"normal database {p} cannot be read ({exc.__class__.__name__}); give a JSON file laid out like "
                  f"models/{DEFAULT_PATH}") from None
    try:
        pm = np.asarray(d["polar_mean"], np.float32)
        ps = np.asarray(d["polar_sd"], np.float32)
        sm = np.asarray(d["segment_mean"], np.float32)
        ss = np.asarray(d["segment_sd"], np.float32)
        zt = float(d.get("z_threshold", 2.5))
        n, source, name = int(d.get("n", 0)), str(d.get("source", "")), str(d.get("name", p.name))
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
        raise err(f"normal database {p} lacks or mangles {exc}; it needs polar_mean, polar_sd, segment_mean, "
                  "segment_sd") from None
    if pm.shape != (N_RINGS, N_SECTORS) or ps.shape != pm.shape or sm.shape != (17,) or ss.shape != (17,):
        raise err(f"normal database {p}: polar maps must be {N_RINGS}x{N_SECTORS} and segments 17 values")
    if not (np.all(ps > 0) and np.all(ss > 0) and np.all(np.isfinite(pm)) and np.all(np.isfinite(sm))
            and np.all(np.isfinite(ps)) and np.all(np.isfinite(ss)) and np.isfinite(zt) and zt > 0):
        raise err(f"normal database {p}: SDs and z_threshold must be positive and finite, means finite")
    return NormalLimits(pm, ps, sm, ss, zt, n, source, name, hashlib.sha256(raw).hexdigest())
