"""``make bench`` rows for perfusion: a 64x64x64 study to bullseye PNG and report (goal <= 0.5 s)."""

from __future__ import annotations

import json
import time

import numpy as np


def _median_time(fn, repeats: int = 7) -> float:
    fn()
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


def bench() -> list[dict]:
    import cv2

    from device.perfusion.analysis import analyse_study
    from device.perfusion.bullseye import render_bullseye
    from device.sim.spect import Defect, simulate_study

    sa = simulate_study((Defect("LAD", 0.5, 0.6, 0.7),), seed=11)
    tr = simulate_study((Defect("LAD", 0.5, 0.6, 0.7),), orientation="transaxial", seed=11)

    def full(stress, rest, orientation, variant):
        def run() -> None:
            r = analyse_study(stress, sa.voxel_mm, rest, orientation, variant=variant)
            img = render_bullseye(r.polar_stress_pct, r.segments_stress_pct, "Stress", r.models[-1],
                                  r.scores.abnormal_stress)
            cv2.imencode(".png", img)
            json.dumps(r.to_json_dict())
        return run

    rows = []
    for label, stress, rest, orient, variant, goal in [
        ("64^3 SA stress study -> bullseye PNG + report, int8", sa.stress, None, "short_axis", "int8", "<= 0.5"),
        ("64^3 SA stress+rest pair -> bullseye + report, int8", sa.stress, sa.rest, "short_axis", "int8", ""),
        ("64^3 SA stress study -> bullseye + report, LiteRT", sa.stress, None, "short_axis", "tflite", ""),
        ("64^3 transaxial stress+rest (re-orientation) -> bullseye + report, int8", tr.stress, tr.rest,
         "transaxial", "int8", ""),
    ]:
        rows.append({"section": "Perfusion", "item": label, "metric": "median time",
                     "value": _median_time(full(stress, rest, orient, variant), 5), "unit": "s", "goal": goal})
    return rows
