"""``python -m device echo measure PATH [--view VIEW|auto] [--sex male|female] [--json]``.

Measures an apical or PLAX echo clip (DICOM cine, or a video file with --mm-per-px): EDV/ESV/SV/EF by the method of
discs, or PLAX linear values with FS and Teichholz EF; with ``--view`` naming a view that carries 2-D measurements
beyond the LV (device.echo.measures2d: e.g. SC-IVC), those too (``measurements_2d``: value or the reason it was not
measured, the caliper / contour points and frames). The echo command's module calls ``register_measure``.
A clip that fails the validity checks (not echo; no plausible LV on every frame; no beat at a plausible rate; an
unstable long axis; no calibration) is refused: one line on stderr, exit code 2, no values and no alert (with
--json the refusal and the check scores are printed as JSON first).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from device import DISCLAIMER_EN
from device.errors import InputError

VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v"}


def register_measure(echo_subparsers) -> None:
    """Add ``measure PATH`` under the ``echo`` command."""
    p = echo_subparsers.add_parser("measure", help="measure an apical (EF by discs) or PLAX (linear) echo clip")
    p.add_argument("path", help="a DICOM cine (multi-frame) or a video file")
    from device.echo.measures2d import views
    p.add_argument("--view", default="auto", choices=["auto", "A4C", "A2C", "PLAX", *sorted(set(views()) - {
        "A4C", "A2C", "PLAX"})], help="view of the clip (2-D measurements beyond the LV need it named)")
    p.add_argument("--mm-per-px", type=float, default=None,
                   help="calibration for files without one (videos); DICOM ultrasound regions are used otherwise")
    p.add_argument("--sex", choices=["male", "female"], default=None, help="adds reference ranges and alerts")
    p.add_argument("--case-table", default=None, help="case table CSV (default: the bundled ASE/EACVI table)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run_measure)


def read_clip(path: Path, mm_per_px: float | None) -> tuple[np.ndarray, tuple[float, float] | None]:
    """(T, H, W[, 3]) frames and the calibration (row, col mm per pixel) or None."""
    if not path.exists():
        raise InputError(f"{path} does not exist; give a DICOM cine or a video file")
    if path.suffix.lower() in VIDEO_SUFFIXES:
        import cv2
        cap = cv2.VideoCapture(str(path))
        frames = []
        while len(frames) < 600:
            ok, fr = cap.read()
            if not ok:
                break
            frames.append(cv2.cvtColor(fr, cv2.COLOR_BGR2RGB))
        cap.release()
        if not frames:
            raise InputError(f"{path.name} has no readable video frames; check the file")
        return np.stack(frames), None
    from device.lv.dicom_io import read_frames
    frs = read_frames(path)
    shapes = {f.pixels.shape for f in frs}
    if len(shapes) != 1:
        raise InputError(f"{path.name}: frames of different sizes {sorted(shapes)}; give one clip")
    return np.stack([f.pixels for f in frs]), frs[0].spacing_rc


def read_timing(path: Path):
    """The clip's time base (device.lv.validity.ClipTiming): DICOM FrameTime / CineRate / HeartRate, or the video's
    frame rate. Unknown parts are None (the rate checks that need them are then skipped)."""
    from device.lv.validity import ClipTiming
    if path.suffix.lower() in VIDEO_SUFFIXES:
        import cv2
        cap = cv2.VideoCapture(str(path))
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        cap.release()
        return ClipTiming.of(fps=fps)
    import pydicom
    try:
        ds = pydicom.dcmread(str(path), stop_before_pixels=True, force=True)
    except (OSError, ValueError, TypeError, pydicom.errors.InvalidDicomError):
        return ClipTiming()

    def num(name: str) -> float | None:
        try:
            v = ds.get(name)
            return float(v) if v not in (None, "") else None
        except (TypeError, ValueError):
            return None
    return ClipTiming.of(fps=num("CineRate"), frame_time_ms=num("FrameTime"), hr_bpm=num("HeartRate"))


def run_measure(args: argparse.Namespace) -> int:
    from device.lv.casetable import interpret, load_case_table
    from device.lv.echo import ApicalResult, ClipRefused, measure_clip
    from device.lv.segment import load_lv_model

    frames, cal = read_clip(Path(args.path), args.mm_per_px)
    if args.mm_per_px is not None:
        cal = (args.mm_per_px, args.mm_per_px)
    if cal is None:
        raise InputError(f"{Path(args.path).name} has no calibration (no DICOM ultrasound regions or pixel "
                         "spacing); measurements in mm are refused - pass --mm-per-px from the depth scale")
    if frames.shape[0] < 2:
        raise InputError("a single frame cannot give ED and ES; give a cine clip covering at least one beat")
    timing = read_timing(Path(args.path))
    if args.view not in ("auto", "A4C", "A2C", "PLAX"):      # a view measured only in 2-D (no LV in it)
        return _print_2d(args, {"file": str(args.path), "view": args.view, "mm_per_px": list(cal),
                                "measurements": []}, _measure_2d(frames, cal, args.view, timing))
    model = load_lv_model("echo")
    try:
        res = measure_clip(frames, cal, model, args.view, timing=timing)
    except ClipRefused as exc:
        if args.json:
            print(json.dumps({"file": str(args.path), "status": "refused", "reason": str(exc), "measurements": [],
                              "checks": exc.checks, "disclaimer": DISCLAIMER_EN}, indent=1))
        raise
    records = res.records()
    out = {"file": str(args.path), "status": "measured", "view": records[0].view if records else args.view,
           "model": res.model, "model_version": res.model_version,
           "ed_frame": res.ed_frame, "es_frame": res.es_frame, "mm_per_px": list(res.mm_per_px),
           "measurements": [{"name": r.name, "value": round(r.value, 2), "unit": r.unit, "method": r.method,
                             "frames": list(r.frames), "confirmed": r.confirmed, "edited": r.edited}
                            for r in records],
           "checks": res.checks, "disclaimer": DISCLAIMER_EN}
    if isinstance(res, ApicalResult):
        out["volume_curve_ml"] = [None if not np.isfinite(v) else round(v, 2) for v in res.volume_curve_ml]
    if args.sex:
        table = load_case_table(args.case_table) if args.case_table else None
        interp = interpret({r.name: r.value for r in records}, args.sex, table)
        out["interpretations"] = [{"name": i.measurement, "interpretation": i.interpretation,
                                   "normal_low": i.normal_low, "normal_high": i.normal_high, "alert": i.alert}
                                  for i in interp]
        out["alerts"] = [i.measurement for i in interp if i.alert]
    from device.echo.measures2d import views
    if out["view"] in views():
        out["measurements_2d"] = _measure_2d(frames, cal, out["view"], timing, _lv_of(res))["measurements_2d"]
    if args.json:
        print(json.dumps(out, indent=1))
    else:
        from device.cli.lang import echo_lines, site_language
        hr = res.checks.get("lv", {}).get("scores", {}).get("curve_hr_bpm")
        print("\n".join(echo_lines(site_language(args), out, hr, res.model)))
        if out.get("measurements_2d"):
            print("\n".join(_lines_2d(site_language(args), out["measurements_2d"])))
    return 0


def _lv_of(res) -> dict | None:
    """The LV geometry a 2-D measurer reads (Clip2D.lv): ED/ES frames and, for PLAX, the calipers."""
    lv: dict = {"frames": {"ed": {"index": int(res.ed_frame)}, "es": {"index": int(res.es_frame)}}}
    linear = getattr(res, "linear", None)
    if linear is not None:
        lv["calipers"] = {k: ([[float(x), float(y)] for x, y in v] if v else None)
                          for k, v in vars(linear.calipers).items()}
    return lv


def _measure_2d(frames: np.ndarray, cal, view: str, timing, lv: dict | None = None) -> dict:
    """The 2-D measurements (device.echo.measures2d) of the clip as the JSON the CLI prints."""
    from device.echo import measures2d
    from device.lv.records import unit_of
    fps = 1000.0 / timing.frame_time_ms if timing.frame_time_ms else None
    d = measures2d.measure_clip(measures2d.Clip2D(frames, (float(cal[0]), float(cal[1])), view, fps, None, lv))
    return {"status": d["status"], "reason": d["reason"], "model": d["model_name"],
            "model_version": d["model_version"],
            "measurements_2d": [{"name": m["name"], "value": m["value"], "unit": unit_of(m["name"]),
                                 "reason": m["reason"], "kind": m["kind"], "points": m["points"],
                                 "frame": m["frame"], "frame2": m["frame2"], "method": m["method"]}
                                for m in d["measures"]]}


def _lines_2d(lang: str, ms: list[dict]) -> list[str]:
    from device.cli.lang import measurement_name, t
    return [f"  {measurement_name(lang, m['name']):<24} {m['value']:>8.1f} {m['unit']}" if m["value"] is not None
            else f"  {measurement_name(lang, m['name']):<24} {t(lang, 'cli.not_measured_2d')}"
            + (f": {m['reason']}" if lang == "en" else "")     # the measurers' reasons are English only
            for m in ms]


def _print_2d(args: argparse.Namespace, out: dict, res: dict) -> int:
    out |= res
    out["measurements_2d"] = res["measurements_2d"]
    out["disclaimer"] = DISCLAIMER_EN
    if args.json:
        print(json.dumps(out, indent=1))
    else:
        from device.cli.lang import site_language, t, term
        lang = site_language(args)
        print(t(lang, "cli.echo_2d_head", file=out["file"], view=out["view"]))
        print("\n".join(_lines_2d(lang, out["measurements_2d"])))
        print(t(lang, "cli.model", model=f"{res['model']} {res['model_version']}", disclaimer=term(lang, "disclaimer")))
    if res["status"] != "measured":
        raise InputError(f"{Path(args.path).name}: no {out['view']} measurement could be made: {res['reason']}")
    return 0
