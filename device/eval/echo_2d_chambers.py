"""Right heart, atria and TAPSE (device/echo/right_heart.py) on simulated A4C / A2C clips with known chambers
(SIMULATOR figures), plus a reading of the real A4C SonoSite cine in ../shared/data/echo-dicom (no truth there).

Truth: the simulator's scene (device/sim/echo_views.py ``_apical``) rasterised at 0.2 mm in draw order, so a chamber
is the blood that stays visible (leaflets and walls drawn over it removed); the same geometric definitions
(device/echo/right_heart_geom.py) are applied to the true outline at the frame the measurer chose, so the error is
the measurement's, not a phase-picking difference (phase picking is scored apart). Held-out seeds 5000+ (the
measurer was written looking at seeds 0-9). ``python -m device.eval echo_2d_chambers`` prints the section.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from device.echo import right_heart_geom as rg
from device.echo.measures2d import Clip2D, measure_clip
from device.services.la_biplane import la_biplane_ml
from device.sim.echo_overlay import OverlayStyle
from device.sim.echo_pose import Pose
from device.sim.echo_probe import _renderer, random_geom, random_look, render_screen
from device.sim.echo_views import cardiac_state, scene

N = 30
SEED0 = 5000
HR = 70.0
PHASES = (0.0, 0.08, 0.16, 0.24, 0.31, 0.38, 0.5, 0.65, 0.8, 0.92)
RES = 0.2                       # mm per truth pixel
SP = (RES, RES)


def sim_clip(view: str, seed: int) -> tuple[Clip2D, list[float]]:
    """A simulated apical clip (one beat, 10 frames at the phases PHASES) and each frame's phase."""
    rng = np.random.default_rng(seed)
    look = random_look(rng)
    pose = Pose(rock_deg=float(rng.uniform(-10, 10)), depth_rel=float(rng.uniform(-0.05, 0.2)))
    r = _renderer(random_geom(rng), seed % 7)
    frames, mm = [], 0.0
    for ph in PHASES:
        rgb, truth = render_screen(r, view, pose, ph * 60 / HR, HR, OverlayStyle(), look, rng)
        frames.append(rgb[..., 0])
        mm = truth.mm_per_px
    return Clip2D(np.stack(frames), (mm, mm), view, fps=None), list(PHASES)


def true_chambers(view: str, phase: float) -> dict[str, np.ndarray]:
    """Masks (RES mm per px, scene frame shifted) of the visible blood of each chamber at ``phase``."""
    shapes = scene(view, cardiac_state(phase)).shapes
    names = {2: "rv", 4: "ra", 6: "la"} if view == "A4C" else {2: "la"}
    off = np.array([120.0, 10.0])
    lab = np.zeros((int(260 / RES), int(240 / RES)), np.uint8)
    codes = {"rv": 1, "ra": 2, "la": 3, "lv": 4}
    for k, sh in enumerate(shapes):
        name = "lv" if sh.tag == "lv_cavity" else names.get(k)
        code = codes[name] if name else 0
        pts = np.round((sh.points + off) / RES * 16).astype(np.int32).reshape(-1, 1, 2)
        if sh.closed:
            cv2.fillPoly(lab, [pts], code, shift=4)
        else:
            cv2.polylines(lab, [pts], False, code, max(1, int(round(sh.thickness_mm / RES))), shift=4)
    return {n: lab == c for n, c in codes.items() if (lab == c).any()}


def true_values(view: str, ph_ed: float, ph_es: float) -> dict[str, float]:
    """True values by the measurer's definitions at the ED / ES phases given."""
    ed, es = true_chambers(view, ph_ed), true_chambers(view, ph_es)
    ax_ed, ax_es = rg.axis_of(rg.pixels_mm(ed["lv"], SP)), rg.axis_of(rg.pixels_mm(es["lv"], SP))
    L = lambda ch: float(np.hypot(*(ch[1] - ch[0])))  # noqa: E731
    la = rg.outline_mm(es["la"], SP)
    v = view.lower()
    out = {f"la_{v}_area_mm2": float(es["la"].sum() * RES * RES), f"la_{v}_length_mm": L(rg.long_chord(la, ax_es))}
    if view == "A4C":
        rv_ed, rv_es, ra = rg.outline_mm(ed["rv"], SP), rg.outline_mm(es["rv"], SP), rg.outline_mm(es["ra"], SP)
        perp = np.array([-ax_ed[1], ax_ed[0]])
        lat = perp * np.sign((rg.pixels_mm(ed["rv"], SP).mean(0) - rg.pixels_mm(ed["lv"], SP).mean(0)) @ perp)
        out |= {"rv_basal_mm": L(rg.basal_width(rv_ed, ax_ed)), "rv_mid_mm": L(rg.chord_at(rv_ed, ax_ed, 0.5)),
                "tapse_mm": float(np.hypot(*(rg.lateral_annulus(rv_ed, ax_ed, lat)
                                             - rg.lateral_annulus(rv_es, ax_es, lat)))),
                "ra_area_mm2": float(es["ra"].sum() * RES * RES), "ra_minor_mm": L(rg.chord_at(ra, ax_es, 0.5))}
    return out


def _stats(e: list[float]) -> str:
    a = np.asarray(e)
    if len(a) == 0:
        return "- | - | -"
    return f"{a.mean():+.1f} | {np.abs(a).mean():.1f} | {np.percentile(np.abs(a), 90):.1f}"


def score(n: int = N, seed0: int = SEED0) -> tuple[dict[str, list[float]], dict[str, int], dict[str, float], int]:
    """Errors per value (measured - true), refusals, mean true values, and correct ED/ES picks (of 2 n clips)."""
    errs: dict[str, list[float]] = {}
    refused: dict[str, int] = {}
    truths: dict[str, list[float]] = {}
    phase_ok = 0
    for i in range(n):
        for view in ("A4C", "A2C"):
            clip, phases = sim_clip(view, seed0 + i)
            d = measure_clip(clip)
            recs = {m["name"]: m for m in d["measures"]}
            fr = [m["frame"] for m in d["measures"] if m["value"] is not None and m["phase"] == "es"]
            ed_i = next((m["frame"] for m in d["measures"] if m["value"] is not None and m["phase"] == "ed"), 0)
            es_i = fr[0] if fr else 5
            phase_ok += int(es_i == 5 and (view == "A2C" or ed_i == 0))
            tv = true_values(view, phases[ed_i], phases[es_i])
            for name, t in tv.items():
                key = f"{view} {name}"
                truths.setdefault(key, []).append(t)
                v = recs.get(name, {}).get("value")
                if v is None:
                    refused[key] = refused.get(key, 0) + 1
                else:
                    errs.setdefault(key, []).append(float(v) - t)
    means = {k: float(np.mean(v)) for k, v in truths.items()}
    return errs, refused, means, phase_ok


REAL_A4C = "color3d_jpeg_baseline.dcm"          # the SonoSite A4C cine (device/eval/_echo_view.py REAL_LABELS)
DISCLOSURE = ' Disclosure: these held-out seeds were scored twice; between the runs an RV-beside-LV check was added (found on the real cine, not tuned on these seeds), which changes which frames count as ED/ES. The first run: TAPSE +4.4 / 4.8 / 7.7 mm, LA A4C area +115.9 / 269.3 / 577.9 mm2 (26/30 refused), RA area -107.4 mm2 (27/30 refused); the RV diameters and A2C rows were the same.'
JUDGED = " Judged by eye (2026-12-05, calipers drawn on frame 20): before the RV-beside-LV check the 'RV' calipers lay across a small dark region near the tricuspid level, not the RV (a WRONG reading: RV basal 22.7, mid 22.3, TAPSE 6.3 mm); with the check the clip is refused, which is right: on this real cine the ventricular walls drop out and the chambers are not separated as the simulator's are. Not validated on any real clip."


def real_a4c(data: Path | None, max_frames: int = 60) -> str:
    """What the measurer does on the real A4C SonoSite cine (no truth): its first frames, calibrated by the DICOM
    ultrasound regions (else the on-screen depth dots)."""
    from device.drivers.dicom_cine import dicom_fps, dicom_regions, iter_dicom_frames, read_dicom
    from device.echo.screen import depth_scale_mm_per_px, find_sector
    p = None if data is None else data / "echo-dicom" / REAL_A4C
    if p is None or not p.is_file():
        return f"The real A4C cine ({REAL_A4C}) was not found under ../shared/data/echo-dicom: not read."
    ds = read_dicom(p)
    frames = []
    for k, fr in enumerate(iter_dicom_frames(ds, p)):
        if k >= max_frames:
            break
        frames.append(fr)
    rgb = np.stack(frames)
    mm, _ = dicom_regions(ds)
    how = "DICOM ultrasound regions"
    if mm is None:
        sector = find_sector(rgb.max(axis=0))
        mm = depth_scale_mm_per_px(rgb[0], sector) if sector is not None else None
        how = "on-screen depth dots"
    if mm is None:
        return f"Real A4C cine {REAL_A4C}: no pixel calibration found, so nothing is measured."
    d = measure_clip(Clip2D(rgb, (mm, mm), "A4C", fps=dicom_fps(ds)))
    mine = [m for m in d["measures"] if m["name"].startswith(("rv_", "ra_", "la_a", "tapse"))]
    got = ", ".join(f"{m['name']} {m['value']:.1f}" for m in mine if m["value"] is not None) or "none"
    why = "; ".join(sorted({m["reason"] for m in mine if m["value"] is None}))
    return (f"Real A4C cine {REAL_A4C} ({len(rgb)} frames of {rgb.shape[2]}x{rgb.shape[1]}, {mm:.3f} mm/px from the "
            f"{how}): measured {got}" + (f"; refused: {why}" if why else "") + ". No truth exists for it: "
            "the numbers are shown, not scored." + JUDGED)


def evaluate(data: Path | None = None, n: int = N) -> str:
    errs, refused, means, phase_ok = score(n)
    keys = sorted(set(means))
    rows = [f"| {k} | {means[k]:.1f} | {len(errs.get(k, []))} | {_stats(errs.get(k, []))} | "
            f"{refused.get(k, 0)}/{n} |" for k in keys]
    ex = la_biplane_ml(means["A4C la_a4c_area_mm2"], means["A2C la_a2c_area_mm2"], means["A4C la_a4c_length_mm"],
                       means["A2C la_a2c_length_mm"])
    return "\n".join([
        "## Echo 2-D: right heart, atria, TAPSE (SIMULATOR figures; `device/eval/echo_2d_chambers.py`)", "",
        f"{n} simulated A4C and {n} A2C clips (held-out seeds {SEED0}+, one beat in 10 frames, random machine look "
        "and screen size, probe rock +-10 deg, depth -5..+20 %). Truth = the simulator's visible chamber blood "
        "measured by the same definitions at the frame the measurer chose; ED and ES frames picked right in "
        f"{phase_ok}/{2 * n} clips. Values in mm / mm2." + DISCLOSURE, "",
        "| view value | mean truth | measured | bias | MAE | P90 abs error | refused |",
        "|---|---|---|---|---|---|---|", *rows, "",
        f"LA biplane volume (area-length, device/services/la_biplane.py) from the mean true areas/lengths: "
        f"{ex:.1f} mL. Limits: the simulator's RV base moves only ~2 mm, so TAPSE here tests the tracking of a "
        "landmark, not the clinical range (normal >= 17 mm); the chambers are smooth ellipses/bullets, walls "
        "always closed at ED/ES; a real RV-focused view is not simulated. What fails: the atria sit at the far edge "
        "of the sector (and under the ECG trace) and their thin walls let them merge with the dark far field, so "
        "they are refused on most clips (a chamber within 3 mm of the fan's edge is never measured); when the LA "
        "merges with a neighbour its area reads high.", "",
        real_a4c(data)])
