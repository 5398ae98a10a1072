"""The IVC measurer (device/echo/ivc_sc.py) on simulated subcostal IVC clips with known lumen width (SIMULATOR
figures: no real subcostal clip exists in ../shared/data). Held-out seeds 5000+ (the measurer was written on seeds
0-11 of the default machine look); each clip: 20 frames at 6 fps through a 3 s breath, a random machine look,
probe rock +-10 deg and depth +-15 %. ``python -m device.eval echo_2d_ivc`` prints the section."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from device.echo import ivc_sc
from device.echo.measures2d import Clip2D, measure_clip
from device.sim.echo_overlay import OverlayStyle
from device.sim.echo_pose import Pose
from device.sim.echo_probe import _renderer, random_look, render_screen
from device.sim.echo_render import Look, sonosite_geom

N = 30
SEED0 = 5000
FPS = 6.0


def ivc_clip(seed: int, n: int = 20, vary: bool = True) -> tuple[Clip2D, float, float]:
    """A simulated SC-IVC clip through one 3 s breath and its true maximal and minimal lumen (mm)."""
    rng = np.random.default_rng(seed)
    look = random_look(rng) if vary else Look()
    pose = Pose(rock_deg=float(rng.uniform(-10, 10)), depth_rel=float(rng.uniform(-0.15, 0.15))) if vary else Pose()
    r = _renderer(sonosite_geom(640, 480), seed % 7)
    frames, widths, mm = [], [], 0.0
    for k in range(n):
        t = k / FPS
        breath = float(np.sin(2 * np.pi * t / 3.0))
        rgb, truth = render_screen(r, "SC-IVC", pose, t, 70.0, OverlayStyle(), look, rng, breath=breath)
        frames.append(rgb[..., 0])
        widths.append(19 - 7 * (breath + 1) / 2)        # device/sim/echo_views.py _subcostal_ivc lumen
        mm = truth.mm_per_px
    return Clip2D(np.stack(frames), (mm, mm), ivc_sc.VIEW, fps=FPS), max(widths), min(widths)


def _stats(err: list[float]) -> str:
    e = np.asarray(err)
    if len(e) == 0:
        return "- | - | -"
    return f"{e.mean():+.1f} | {np.abs(e).mean():.1f} | {np.percentile(np.abs(e), 90):.1f}"


def evaluate(data: Path | None = None, n: int = N) -> str:
    errs: dict[str, list[float]] = {"ivc_max_mm": [], "ivc_min_mm": [], "ivc_collapse_pct": []}
    refused = dict.fromkeys(errs, 0)
    ra_right = ra_n = 0
    for i in range(n):
        clip, tmax, tmin = ivc_clip(SEED0 + i)
        v = measure_clip(clip)["values"]
        truth = {"ivc_max_mm": tmax, "ivc_min_mm": tmin, "ivc_collapse_pct": 100 * (tmax - tmin) / tmax}
        for name in errs:
            if name in v:
                errs[name].append(v[name] - truth[name])
            else:
                refused[name] += 1
        if "ivc_ra_pressure_mmhg" in v:
            ra_n += 1
            ra_right += int(v["ivc_ra_pressure_mmhg"] == ivc_sc.ra_pressure_mmhg(tmax, truth["ivc_collapse_pct"]))
    rows = [f"| {k} | {n - refused[k]} | {_stats(errs[k])} | {refused[k]}/{n} |" for k in errs]
    return "\n".join([
        "## Echo 2-D: IVC diameter and collapse (SIMULATOR figures; `device/eval/echo_2d_ivc.py`)", "",
        f"{n} simulated subcostal IVC clips (held-out seeds {SEED0}+, 20 frames at 6 fps through a 3 s breath, "
        "random machine look, probe rock +-10 deg, depth +-15 %); truth = the simulator's lumen width "
        "(19 mm at expiration, 12 mm at inspiration: collapse 37 %). No real subcostal clip exists in "
        "../shared/data, so nothing here is a real-patient figure. Disclosure: these seeds were scored twice; "
        "between the runs the wall-contrast rule was made relative (chosen on development seeds 100-129, where it "
        "measured 21/30 instead of 19/30 at the same MAE). The first run (absolute rule): 20/30 measured, max bias "
        "-1.1 MAE 1.9 P90 2.3 mm, min -2.2 / 2.2 / 2.8 mm, collapse +8.1 points.", "",
        "| value | measured | bias | MAE | P90 abs error | refused |", "|---|---|---|---|---|---|", *rows, "",
        f"Estimated RA pressure (ASE rule on the measured max and collapse) equal to the rule on the true values: "
        f"{ra_right}/{ra_n}.", "",
        "What fails: the lumen is read inner edge to inner edge at half-way between the lumen and the wall's peak; "
        "the simulator's thin bright walls blur inward, so both diameters read short (see the bias) and the collapse "
        "reads high. One view geometry only (the simulator's IVC runs across the screen into a round RA); a real "
        "IVC seen obliquely, a hepatic vein at the station, or a clip shorter than a breath (the minimum is then "
        "refused) are the real-world limits.", ""])


if __name__ == "__main__":
    print(evaluate())
