"""Patent 000's chain measured: network-1 polar map vs classical map feeding the bullseye, scores and network 2.

Evaluation only (nothing is trained or tuned here). Two populations, each study analysed once per polar source:

* simulator held-out set: ``device/sim/spect.py`` seeds 900000+ (the ``make eval`` seeds; no recipe trains, tunes or
  stops early on them), short-axis stress + rest;
* independent cone phantoms: ``tests/unit/spect_cone_phantom.py`` (a geometry the training never runs), random
  NORMAL hearts (seeded), stress only: how many are called normal in every territory.

Per source: network-2 AUC, sensitivity / specificity at 0.5 per territory, AUC of the rule-based extent, false
positives among normal studies, SSS of normal studies, how often the network map fell back to the classical one,
and the network / classical disagreement (per-pixel MAE, largest segment difference) that sets the bounds.
Run: ``nice -n 5 python -m models.training.perfusion_chain_eval [n_sim] [n_cone] [tag] [wide]`` (``wide``: the
simulator's wider patient family, ``random_study(..., wide=True)``); results cached in
``var/cache/perfusion_chain/``.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np

from device.errors import InputError
from device.paths import REPO_ROOT
from device.perfusion.geometry import TERRITORIES

SIM_SEED0 = 900_000
CONE_SEED0 = 7_000
CACHE = REPO_ROOT / "var" / "cache" / "perfusion_chain"
SOURCES = ("classical", "network", "ensemble")


def cone_params(rng: np.random.Generator) -> dict:
    """A random normal cone heart (the ranges of the EVALUATION.md cone family)."""
    return dict(r_base_mm=rng.uniform(18, 32), r_apex_mm=rng.uniform(8, 15), length_mm=rng.uniform(55, 95),
                wall_base_mm=rng.uniform(7, 15), wall_apex_mm=rng.uniform(4, 9), fwhm_xy_mm=rng.uniform(9, 15),
                fwhm_z_mm=rng.uniform(11, 19), peak_counts=float(np.exp(rng.uniform(np.log(40), np.log(250)))),
                septal_rel=rng.uniform(0.85, 1.0), inferior_rel=rng.uniform(0.82, 1.0),
                offset_mm=tuple(rng.uniform(-8, 8, 3)), base_first=bool(rng.integers(2)))


def _row(res) -> dict:
    return {"prob": [t.prob_at_risk for t in res.territories], "extent": [t.extent_pct for t in res.territories],
            "sss": res.scores.sss, "source": res.polar_source, "mae": res.network_agreement_mae_pct,
            "seg_diff": res.network_segment_max_diff_pct}


def run_sim(n: int, wide: bool = False) -> list[dict]:
    from device.perfusion.analysis import analyse_study
    from device.sim.spect import random_study

    rows = []
    for seed in range(SIM_SEED0, SIM_SEED0 + n):
        s = random_study(seed, wide=wide)
        row: dict = {"seed": seed, "y": [int(s.at_risk[t]) for t in TERRITORIES]}
        try:
            for src in SOURCES:
                row[src] = _row(analyse_study(s.stress, s.voxel_mm, s.rest, "short_axis", polar_source=src))
        except InputError as exc:
            row["refused"] = str(exc)
        rows.append(row)
    return rows


def run_cone(n: int) -> list[dict]:
    sys.path.insert(0, str(REPO_ROOT / "tests" / "unit"))
    from spect_cone_phantom import cone_study

    from device.perfusion.analysis import analyse_study

    rows = []
    for k in range(n):
        rng = np.random.default_rng(CONE_SEED0 + k)
        kw = cone_params(rng)
        row: dict = {"seed": CONE_SEED0 + k, "params": {a: (list(v) if isinstance(v, tuple) else v)
                                                        for a, v in kw.items()}}
        try:
            vol = cone_study(seed=CONE_SEED0 + k, **kw)
            for src in SOURCES:
                row[src] = _row(analyse_study(vol, 3.2, polar_source=src))
        except InputError as exc:
            row["refused"] = str(exc)
        rows.append(row)
    return rows


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else float("nan")


def summarise_sim(rows: list[dict]) -> dict:
    ok = [r for r in rows if "refused" not in r]
    y = np.array([r["y"] for r in ok], float)
    normal = y.sum(1) == 0
    out: dict = {"n": len(ok), "refused": len(rows) - len(ok), "n_normal": int(normal.sum()),
                 "prevalence": y.mean(0).round(3).tolist()}
    for src in SOURCES:
        p = np.array([r[src]["prob"] for r in ok])
        e = np.array([r[src]["extent"] for r in ok])
        sss = np.array([r[src]["sss"] for r in ok])
        out[src] = {"auc_net": [round(_auc(y[:, i], p[:, i]), 3) for i in range(3)],
                    "auc_extent": [round(_auc(y[:, i], e[:, i]), 3) for i in range(3)],
                    "sens": [round(float(((p[:, i] >= 0.5) & (y[:, i] == 1)).sum() / max(y[:, i].sum(), 1)), 3)
                             for i in range(3)],
                    "spec": [round(float(((p[:, i] < 0.5) & (y[:, i] == 0)).sum() / max((1 - y[:, i]).sum(), 1)), 3)
                             for i in range(3)],
                    "normal_any_at_risk": int(((p >= 0.5).any(1) & normal).sum()),
                    "normal_sss_median": float(np.median(sss[normal])) if normal.any() else float("nan"),
                    "fallbacks": sum(r[src]["source"] != src for r in ok)}
    mae = np.array([r["network"]["mae"] for r in ok])
    sd = np.array([r["network"]["seg_diff"] for r in ok])
    out["mae_pct"] = {"median": round(float(np.median(mae)), 2), "p95": round(float(np.percentile(mae, 95)), 2),
                      "max": round(float(mae.max()), 2)}
    out["seg_diff_pct"] = {"median": round(float(np.median(sd)), 2), "p95": round(float(np.percentile(sd, 95)), 2),
                           "max": round(float(sd.max()), 2)}
    return out


def summarise_cone(rows: list[dict]) -> dict:
    ok = [r for r in rows if "refused" not in r]
    out: dict = {"n": len(rows), "refused": len(rows) - len(ok)}
    for src in SOURCES:
        p = np.array([r[src]["prob"] for r in ok])
        sss = np.array([r[src]["sss"] for r in ok])
        bad = [r["seed"] for r, pp in zip(ok, p) if (pp >= 0.5).any()]
        out[src] = {"all_normal": int(len(ok) - len(bad)), "false_calls": bad,
                    "max_prob": dict(zip(TERRITORIES, p.max(0).round(3).tolist())),
                    "sss_median": float(np.median(sss)), "sss_ge_4": int((sss >= 4).sum()),
                    "fallbacks": sum(r[src]["source"] != src for r in ok)}
    mae = np.array([r["network"]["mae"] for r in ok])
    sd = np.array([r["network"]["seg_diff"] for r in ok])
    out["mae_pct"] = {"median": round(float(np.median(mae)), 2), "max": round(float(mae.max()), 2)}
    out["seg_diff_pct"] = {"median": round(float(np.median(sd)), 2), "max": round(float(sd.max()), 2)}
    return out


def main(argv: list[str]) -> int:
    n_sim = int(argv[0]) if argv else 150
    n_cone = int(argv[1]) if len(argv) > 1 else 40
    tag = argv[2] if len(argv) > 2 else "current"
    wide = len(argv) > 3 and argv[3] == "wide"
    CACHE.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    sim = run_sim(n_sim, wide)
    cone = run_cone(n_cone)
    (CACHE / f"{tag}_rows.json").write_text(json.dumps({"sim": sim, "cone": cone}))
    summary = {"sim_family": "wide" if wide else "training ranges",
               "sim": summarise_sim(sim) if sim else None, "cone": summarise_cone(cone) if cone else None,
               "seconds": round(time.time() - t0)}
    (CACHE / f"{tag}_summary.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

