"""Septal motion amplitude (patent 004; device/echo/septal_motion.py) on simulated PLAX clips (SIMULATOR figures: no
calibrated real PLAX cine exists in ../shared/data): the shipped LV model's calipers against the same measurer on the
simulator's true masks. ``python -m device.eval echo_2d_septal`` prints the section."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from device.echo.measures2d import Clip2D
from device.echo.septal_motion import measure_septal_motion
from device.errors import UserError

SEEDS = range(100, 120)


def _lv_of(res) -> dict:
    lv: dict = {"frames": {"ed": {"index": int(res.ed_frame)}, "es": {"index": int(res.es_frame)}}}
    lv["calipers"] = {k: ([[float(x), float(y)] for x, y in v] if v else None)
                      for k, v in vars(res.linear.calipers).items()}
    return lv


def evaluate(data: Path | None = None) -> str:
    from device.lv.echo import measure_clip, measure_plax
    from device.lv.segment import load_lv_model
    from models.training import lv_seg_sim as sim

    model = load_lv_model("echo")
    errs, ref, refused = [], [], 0
    for seed in SEEDS:
        frames, labels, mmpp, _ = sim.sim_clip("PLAX", 16, seed=seed)
        [r0] = measure_septal_motion(Clip2D(frames, (mmpp, mmpp), "PLAX",
                                            lv=_lv_of(measure_plax(labels, mmpp, "truth", "-"))))
        try:
            [r] = measure_septal_motion(Clip2D(frames, (mmpp, mmpp), "PLAX",
                                               lv=_lv_of(measure_clip(frames, (mmpp, mmpp), model, "PLAX"))))
        except UserError:
            refused += 1
            continue
        if r.value is None or r0.value is None:
            refused += 1
            continue
        errs.append(r.value - r0.value)
        ref.append(r0.value)
    e = np.asarray(errs)
    stats = (f"bias {e.mean():+.1f} mm, MAE {np.abs(e).mean():.1f} mm, P90 {np.percentile(np.abs(e), 90):.1f} mm"
             if len(e) else "no clip measured")
    return "\n".join([
        "## Echo 2-D: septal motion amplitude (patent 004; SIMULATOR figures; `device/eval/echo_2d_septal.py`)", "",
        f"{len(SEEDS)} simulated PLAX clips (lv_seg_sim seeds {SEEDS.start}-{SEEDS.stop - 1}, 16 frames): the septal "
        "motion from the shipped LV model's calipers against the same measurer on the simulator's true masks: "
        f"{len(e)}/{len(SEEDS)} measured ({refused} refused), {stats}; the true excursion is "
        f"{np.mean(ref) if ref else float('nan'):.1f} mm on average (the simulator has one heart shape), so this "
        "checks the caliper chain, not a clinical range. No real PLAX cine with a calibration exists here.", ""])


if __name__ == "__main__":
    print(evaluate())
