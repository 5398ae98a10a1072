"""Build the shipped normal database ``models/perfusion_normals/normals.json`` from the simulator's normal population.

200 normal simulated patients (seeds 300000+; sizes, attenuation, liver, counts and blur vary), stress polar maps
made by the classical method. Their per-pixel and per-segment mean and SD are the normal limits.
``--candidate`` (issue 16 point 5, evaluated 2026-12-04, NOT shipped: EVALUATION.md): the simulator's wide family,
stress and rest maps made both classically and by the shipped network 1, written to
``var/cache/perfusion_candidates/perfusion_normals/normals.json``. A site replaces
the file with one built from its own normal studies (same layout; see ``device/perfusion/normals.py``).
Run: ``python -m models.training.perfusion_normals``.
"""

from __future__ import annotations

import json
import sys

import numpy as np

from device.paths import MODELS_DIR, REPO_ROOT
from device.perfusion.geometry import segment_means
from device.perfusion.normals import DEFAULT_PATH, normals_dict
from models.training.perfusion_data import NORMAL_SEED0, dataset, network_polars

N_NORMALS = 200


def main() -> int:
    cand = "--candidate" in sys.argv[1:]
    d = dataset("normals", NORMAL_SEED0, N_NORMALS, p_abnormal=0.0, with_rings=cand, wide=cand)
    polars = np.concatenate([d["polar_stress"], d["polar_rest"]] + (
        [network_polars(d, "stress"), network_polars(d, "rest")] if cand else []))
    segs = np.stack([segment_means(p) for p in polars])
    out = normals_dict(polars, segs, source=f"simulator normal population (device/sim/spect.py), "
                       f"{len(d['polar_stress'])} patients x stress+rest, seeds {NORMAL_SEED0}+; "
                       f"{int(d['failed'])} failed segmentation", n_patients=len(d["polar_stress"]))
    if cand:
        out.update(name="perfusion_normals 1.1.0-candidate", source="CANDIDATE: wide family, classical + network-1 "
                   "maps; " + out["source"])
    path = (REPO_ROOT / "var" / "cache" / "perfusion_candidates" if cand else MODELS_DIR) / DEFAULT_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out) + "\n", encoding="utf-8")
    print(f"wrote {path}: n={out['n']}, mean segment SD {np.mean(out['segment_sd']):.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
