"""``make eval``: LV on echo, or an honest refusal (issue 12 part 4, issue 13): what the validity checks
(device/echo/validity.py, device/lv/validity.py) pass and refuse, through the same path as ``echo measure``.

- real clips: the SonoSite apical cine (whole, and in the 1.6 s windows the cart's clip measurement uses) and the
  GDCM PLAX cine (as stored: no calibration; and with 0.42 mm/px read by eye from its on-screen 16 cm depth);
- simulator, held out (seeds 3000+: seeds 1000+ and 2000+ were looked at while fixing the ED/ES and timing rules,
  so they are not reported): one-beat clips of A4C, A2C, PLAX (device/sim via
  models/training/lv_seg_sim.sim_clip) and screens of the simulated probe with overlays at 20-30 fps, 55-110 /min;
  the false-refusal rate and the EF error against the simulator's own masks where measured;
- wrong inputs: Sunnybrook MR cines, cartoon pulsing rings, drawn MRI-like cines, noise, blank, frozen, an ECG photo.
Contour montages of the real clips are written to ``out_dir`` for a person to look at.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from device.errors import InputError

SONOSITE = ("echo-dicom", "color3d_jpeg_baseline.dcm")
GDCM_PLAX = ("echo-dicom", "US-PAL-8-10x-echo.dcm")
PLAX_MM_PER_PX_BY_EYE = 160.0 / 383.0     # its screen says 16 cm; the fan spans 383 rows


def _outcome(frames, cal, model, view: str, timing) -> dict[str, Any]:
    from device.lv.echo import ApicalResult, ClipRefused, measure_clip
    try:
        res = measure_clip(frames, cal, model, view, timing=timing)
    except ClipRefused as exc:
        return {"status": "refused", "reason": str(exc), "stage": "lv" if "lv" in exc.checks else "echo",
                "failed": (exc.checks.get("lv") or exc.checks.get("echo") or {}).get("failed", [])}
    except InputError as exc:
        return {"status": "refused", "reason": str(exc), "stage": "input", "failed": ["input"]}
    out = {"status": "measured", "ed": res.ed_frame, "es": res.es_frame}
    if isinstance(res, ApicalResult):
        out["ef_pct"] = res.volumes.ef_pct
    else:
        out["ef_pct"] = res.linear.teichholz_ef_pct
    return out


def real_rows(data_dir: Path, model) -> list[dict[str, Any]]:
    """Outcome per real clip (and per 1.6 s window of the SonoSite cine)."""
    from device.cli.echo_measure import read_clip, read_timing
    rows = []
    p = data_dir.joinpath(*SONOSITE)
    if p.exists():
        frames, cal = read_clip(p, None)
        timing = read_timing(p)
        rows.append({"clip": f"{p.name} (all {len(frames)} frames)", **_outcome(frames, cal, model, "A4C", timing)})
        n = int(round(1600 / (timing.frame_time_ms or 33.3)))
        for s in range(0, len(frames) - n + 1, n // 2):
            rows.append({"clip": f"{p.name} frames {s}-{s + n - 1} (1.6 s)",
                         **_outcome(frames[s:s + n], cal, model, "A4C", timing)})
    p = data_dir.joinpath(*GDCM_PLAX)
    if p.exists():
        frames, cal = read_clip(p, None)
        timing = read_timing(p)
        rows.append({"clip": f"{p.name} (as stored)", **_outcome(frames, cal, model, "PLAX", timing)})
        rows.append({"clip": f"{p.name} (0.42 mm/px from the on-screen depth)",
                     **_outcome(frames, (PLAX_MM_PER_PX_BY_EYE,) * 2, model, "PLAX", timing)})
    return rows


def sim_rows(model, n_per_view: int = 20, seed0: int = 3000) -> list[dict[str, Any]]:
    """Held-out simulated clips: outcome, and the EF error against the simulator's masks when measured."""
    from device.lv.echo import measure_apical, measure_plax
    from device.lv.validity import ClipTiming
    from device.sim.echo_probe import Segment, SimulatedProbe
    from models.training.lv_seg_sim import sim_clip
    rng = np.random.default_rng(seed0)
    rows = []
    for view in ("A4C", "A2C", "PLAX"):
        for k in range(n_per_view):
            seed = seed0 + k
            n_fr = int(rng.integers(16, 31))
            hr = float(rng.uniform(50, 110))
            frames, labels, mmpp, _ = sim_clip(view, n_fr, seed=seed, depth_scale=float(rng.uniform(0.9, 1.15)))
            timing = ClipTiming.of(frame_time_ms=60000.0 / hr / n_fr)
            out = _outcome(frames, mmpp, model, view, timing)
            truth = measure_apical(labels, mmpp, view, "truth", "-").volumes.ef_pct if view != "PLAX" else \
                measure_plax(labels, mmpp, "truth", "-").linear.teichholz_ef_pct
            rows.append({"set": f"sim_clip {view}", "seed": seed, "truth_ef_pct": truth, **out})
    for k in range(n_per_view):
        fps, hr = float(rng.uniform(20, 30)), float(rng.uniform(55, 110))
        probe = SimulatedProbe(script=(Segment("A4C", approach_s=0.05, hold_s=30, leave_s=0.05),), size=(640, 480),
                               fps=fps, hr_bpm=hr, seed=seed0 + 100 + k)
        shots = [probe.next() for _ in range(int(round(1.6 * fps)) + 3)][3:]
        frames = np.stack([s[0] for s in shots])
        labels = np.stack([np.where(s[1].lv_cavity, 1, np.where(s[1].lv_myo, 2, 0)).astype(np.uint8) for s in shots])
        mmpp = shots[-1][1].mm_per_px
        out = _outcome(frames, mmpp, model, "A4C", ClipTiming.of(fps=fps))
        try:
            truth = measure_apical(labels, mmpp, "A4C", "truth", "-").volumes.ef_pct
        except InputError:
            truth = None
        rows.append({"set": "probe screen A4C", "seed": seed0 + 100 + k, "truth_ef_pct": truth, **out})
    return rows


def _mri_like(t: int = 20, seed: int = 0) -> np.ndarray:
    """A drawn short-axis MR cine: rectangular field of view, body oval, bright beating blood pool, uint16."""
    import cv2
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:256, 0:256]
    out = []
    for k in range(t):
        f = np.zeros((256, 256), np.float32)
        f[((xx - 128) / 107.0) ** 2 + ((yy - 128) / 90.0) ** 2 < 1] = 300
        d = np.hypot(xx - 118, yy - 123)
        r = 22 + 8 * np.cos(2 * np.pi * k / t)
        f[d < r + 9] = 120
        f[d < r] = 900
        out.append(cv2.GaussianBlur(f, (0, 0), 1.5) + np.abs(rng.normal(0, 20, (256, 256))))
    return np.stack(out).astype(np.uint16)


def _sunnybrook_cines(root: Path) -> list[tuple[str, np.ndarray, float]]:
    """One basal, one mid and one apical 20-phase slice of each Sunnybrook patient."""
    import pydicom
    out = []
    for pdir in sorted((root / "dicoms").iterdir()):
        by_loc: dict[float, list] = {}
        for f in pdir.glob("*.dcm"):
            ds = pydicom.dcmread(f)
            by_loc.setdefault(round(float(ds.SliceLocation), 1), []).append(ds)
        locs = sorted(k for k, v in by_loc.items() if len(v) >= 10)
        for name, loc in (("basal", locs[1]), ("mid", locs[len(locs) // 2]), ("apical", locs[-2])):
            series = sorted(by_loc[loc], key=lambda d: int(d.InstanceNumber))
            out.append((f"Sunnybrook MR cine {pdir.name} {name}", np.stack([d.pixel_array for d in series]),
                        float(series[0].PixelSpacing[0])))
    return out


def bad_inputs(data_dir: Path | None, sim_frame: np.ndarray) -> list[tuple[str, np.ndarray, float]]:
    """(name, frames, mm_per_px) of wrong inputs: drawn ones always, real MR cines and an ECG photo when present."""
    import cv2
    rng = np.random.default_rng(7)
    out: list[tuple[str, np.ndarray, float]] = []
    h, w = 480, 640
    for k, (r0, period) in enumerate(((90, 16), (60, 12), (120, 24))):
        fr = []
        for i in range(2 * period):
            f = np.zeros((h, w), np.uint8)
            r = int(r0 + 0.25 * r0 * np.cos(2 * np.pi * i / period))
            cv2.circle(f, (w // 2, h // 2), r + 18, 200, -1)
            cv2.circle(f, (w // 2, h // 2), r, 20, -1)
            fr.append(f)
        out.append((f"cartoon pulsing ring {k + 1}", np.stack(fr), 0.4))
    out += [(f"drawn MRI-like cine {k + 1}", _mri_like(seed=k), 1.3) for k in range(2)]
    out.append(("white noise", rng.integers(0, 256, (20, h, w), dtype=np.uint8), 0.4))
    out.append(("blank", np.zeros((20, h, w), np.uint8), 0.4))
    out.append(("frozen echo frame", np.repeat(sim_frame[None], 20, axis=0), 0.4))
    if data_dir is not None:
        sb = data_dir / "cardiac-mri-sunnybrook"
        if sb.is_dir():
            out += _sunnybrook_cines(sb)
        photos = sorted((data_dir / "ecg-images-ecg-image-kit" / "sample-data" / "ecg-images").glob("*.png"))
        if photos:
            img = cv2.cvtColor(cv2.imread(str(photos[0])), cv2.COLOR_BGR2RGB)
            out.append((f"ECG photo {photos[0].name} as a 10-frame clip", np.repeat(img[None], 10, axis=0), 0.1))
    return out


def bad_rows(data_dir: Path | None, model) -> list[dict[str, Any]]:
    from device.lv.validity import ClipTiming
    from models.training.lv_seg_sim import sim_clip
    frame = sim_clip("A4C", 1, seed=4321)[0][0]
    return [{"clip": name, **_outcome(fr, mm, model, "auto", ClipTiming.of(fps=25.0))}
            for name, fr, mm in bad_inputs(data_dir, frame)]


def contour_montage(frames: np.ndarray, masks: np.ndarray, idx, path: Path, scale: float = 0.5) -> Path:
    """A PNG of frames ``idx`` with the LV cavity (red), myocardium (green) and atrium (blue) outlines."""
    import cv2

    from device.lv import CAVITY, LEFT_ATRIUM, MYOCARDIUM
    from device.lv.segment import grey_frames
    g = grey_frames(frames)
    lo, hi = float(np.percentile(g, 0.5)), float(np.percentile(g, 99.5))
    tiles = []
    for i in idx:
        f = cv2.cvtColor(np.clip((g[i] - lo) * 255.0 / max(hi - lo, 1e-6), 0, 255).astype(np.uint8),
                         cv2.COLOR_GRAY2BGR)
        for lab, col in ((CAVITY, (0, 0, 255)), (MYOCARDIUM, (0, 255, 0)), (LEFT_ATRIUM, (255, 128, 0))):
            cs, _ = cv2.findContours((masks[i] == lab).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
            cv2.drawContours(f, cs, -1, col, 2)
        cv2.putText(f, str(i), (10, 40), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (0, 255, 255), 2)
        tiles.append(cv2.resize(f, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA))
    while len(tiles) % 4:
        tiles.append(np.zeros_like(tiles[0]))
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.vstack([np.hstack(tiles[k:k + 4]) for k in range(0, len(tiles), 4)]))
    return path


def _rate(rows: list[dict[str, Any]]) -> str:
    n = len(rows)
    r = sum(1 for x in rows if x["status"] == "refused")
    return f"{r}/{n}"


def evaluate(data_dir: Path | None, model=None) -> str:
    """Markdown lines for EVALUATION.md's LV section (real figures apart from simulator figures)."""
    from device.lv.segment import load_lv_model
    model = model or load_lv_model("echo")
    lines = ["### LV on echo: validity checks (real clips apart from simulated ones)", ""]
    real = real_rows(data_dir, model) if data_dir is not None else []
    if real:
        lines += ["Real clips (no expert tracing exists for either; `echo measure` path):", "",
                  "| clip | outcome | reason / EF |", "|---|---|---|"]
        for r in real:
            what = r.get("reason", "") if r["status"] == "refused" else f"EF {r['ef_pct']:.0f} % (ED {r['ed']}, ES {r['es']})"
            lines.append(f"| {r['clip']} | {r['status']} | {what} |")
    else:
        lines.append("Real echo clips absent: no real figures.")
    sim = sim_rows(model)
    lines += ["", "Simulator, held-out seeds (simulated; not patients):", "",
              "| set | n | refused (false refusals) | EF abs error vs simulator masks, measured clips (median / max) |",
              "|---|---|---|---|"]
    for s in dict.fromkeys(r["set"] for r in sim):
        rs = [r for r in sim if r["set"] == s]
        err = [abs(r["ef_pct"] - r["truth_ef_pct"]) for r in rs if r["status"] == "measured"
               and r.get("ef_pct") is not None and r.get("truth_ef_pct") is not None]
        e = f"{np.median(err):.1f} / {np.max(err):.1f} pp (n={len(err)})" if err else "-"
        lines.append(f"| {s} | {len(rs)} | {_rate(rs)} | {e} |")
    reasons = [f"{r['set']} seed {r['seed']}: {r['reason']}" for r in sim if r["status"] == "refused"]
    lines += ["", f"Simulated clips refused: {len(reasons)} of {len(sim)}" + (": " + "; ".join(reasons) if reasons
                                                                           else ".")]
    bad = bad_rows(data_dir, model)
    lines += ["", "Wrong inputs (must all be refused):", "", "| input | outcome | stage | reason |", "|---|---|---|---|"]
    for r in bad:
        lines.append(f"| {r['clip']} | {r['status']} | {r.get('stage', '-')} | {r.get('reason', '')} |")
    lines += ["", f"Wrong inputs refused: {_rate(bad)}."]
    return "\n".join(lines) + "\n"
