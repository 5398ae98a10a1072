"""Colour-Doppler regurgitant jets (issue 14 part 3) on simulated colour frames (seeds 700000+, apart from the
development seeds < 1000; their aggregate tables were seen three times, see EVALUATION.md), and a judgement of the real colour DICOMs in ../shared/data/echo-dicom
(no truth there). Simulator figures: not a measure of accuracy on real machines.
``python -m device.eval jets`` prints the section."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from device.echo.jets import read_jets
from device.echo.jets_rules import GRADES, table_rows
from device.sim.echo_colour_jets import OUTFLOW_MM, jet_frame

N = 80
SEED0 = 700_000
REAL = (("color-pl.dcm", "PLAX", 0.3), ("color3d_jpeg_baseline.dcm", "A4C", None))


def _contour(mask: np.ndarray) -> np.ndarray:
    cs, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    return max(cs, key=cv2.contourArea).reshape(-1, 2)


def score(n: int = N) -> dict:
    """Errors, confusion and refusals over n held-out frames (one frame each, random valve/grade/vendor/noise)."""
    out: dict = {"area": [], "vc": [], "vc_missing": 0, "ratio": [], "outflow": [],
                 "conf": {g: dict.fromkeys((*GRADES, "refused", "missed"), 0) for g in GRADES},
                 "refused": 0, "noisy": [0, 0], "valve": [0, 0], "n": n, "reasons": {}}
    for i in range(n):
        rgb, t = jet_frame(np.random.default_rng(SEED0 + i))
        atrium = _contour(t.chamber) if t.chamber is not None else None
        r = read_jets(rgb, t.mm_per_px, t.view, atrium=atrium, outflow_diam_mm=OUTFLOW_MM.get(t.valve))
        if t.noisy:
            out["noisy"][1] += 1
            out["noisy"][0] += int(bool(r.refused and r.refused.startswith("colour too noisy")))
        if r.refused:
            out["refused"] += 1
            key = r.refused.split(":")[0]
            out["reasons"][key] = out["reasons"].get(key, 0) + 1
            out["conf"][t.grade]["refused"] += 1
            continue
        rec = [j for j in r.records if j.valve == t.valve]
        out["valve"][1] += 1
        out["valve"][0] += int(bool(rec))
        if not rec:
            out["conf"][t.grade]["missed"] += 1
            continue
        j = rec[0]
        out["conf"][t.grade][j.grade or "none"] += 1
        if t.grade == "none" or j.grade == "none":
            continue
        v = {k: float(x) for k, x in j.values.items() if x is not None}
        out["area"].append(v.get("jet_area_cm2", 0.0) - t.jet_area_cm2)
        if "vc_mm" not in v:
            out["vc_missing"] += 1
        else:
            out["vc"].append(v["vc_mm"] - t.vc_mm)
        if t.jet_atrium_pct is not None and "jet_atrium_pct" in v:
            out["ratio"].append(v["jet_atrium_pct"] - t.jet_atrium_pct)
        if t.jet_outflow_pct is not None and "jet_outflow_pct" in v:
            out["outflow"].append(v["jet_outflow_pct"] - t.jet_outflow_pct)
    return out


def _row(name: str, e: list[float], unit: str) -> str:
    if not e:
        return f"| {name} | 0 | - | - | - |"
    a = np.asarray(e)
    return (f"| {name} ({unit}) | {len(a)} | {a.mean():+.2f} | {np.abs(a).mean():.2f} | "
            f"{np.percentile(np.abs(a), 90):.2f} |")


def _real(data: Path) -> list[str]:
    from device.cli.echo_jets import _mm_per_px
    from device.drivers.files import read_any_frames

    rows = []
    for name, view, nominal in REAL:
        p = data / "echo-dicom" / name
        if not p.exists():
            rows.append(f"| {name} | - | missing |")
            continue
        frames = read_any_frames(p, 30)
        mmpp = _mm_per_px(p) or nominal
        r = read_jets(frames, mmpp or 0.3, view)
        got = r.refused or "; ".join(f"{j.valve} {j.grade}: {j.rule}" for j in r.records)
        rows.append(f"| {name} ({len(frames)} frames read, view given {view}, "
                    f"{'DICOM' if _mm_per_px(p) else 'assumed'} {mmpp or 0.3:.3f} mm/px) | {r.box} | {got} |")
    return rows


def evaluate(data: Path) -> str:
    s = score()
    n = s["n"]
    lines = ["## Colour-Doppler regurgitant jets (SIMULATOR figures)", "",
             f"Reader `device/echo/jets.py` (model name `echo_jets 1.0.0`, rules, no learned weights) on {n} simulated "
             f"colour frames (`device/sim/echo_colour_jets.py`, seeds from {SEED0}, apart from the development "
             "seeds; valve MR 40 % / TR / AR / PR 20 % each, intended grade none/mild/moderate/severe 25 % "
             "each, 5 colour maps, 8 % with strong colour speckle, half JPEG). Truth: the rendered jet mask distal "
             "to the vena contracta, the rendered VC, the ASE grade of the true values. MR/TR are read with the "
             "true atrium outline given (the LA/RA tracing the cart would pass) and AR/PR with the true "
             "LVOT/RVOT diameter. Error = reading - truth, on "
             "frames with a jet read. These are simulator figures, not accuracy on real machines.", "",
             "| value | n | bias | MAE | 90th pct abs error |", "|---|---|---|---|---|",
             _row("jet area", s["area"], "cm2"), _row("vena contracta", s["vc"], "mm"),
             _row("jet/atrium area", s["ratio"], "% points"), _row("jet width/outflow", s["outflow"], "% points"),
             "", f"VC not measurable on {s['vc_missing']} of {len(s['area'])} jets read. Refused {s['refused']} / {n} "
             f"({', '.join(f'{k}: {v}' for k, v in sorted(s['reasons'].items())) or 'none'}); strongly speckled "
             f"frames refused \"colour too noisy\": {s['noisy'][0]} / {s['noisy'][1]}. Right valve found on "
             f"{s['valve'][0]} / {s['valve'][1]} frames read. The reader does not find the atrium itself: without "
             "an outline the jet/atrium ratio is not given (a note says so) and MR is graded on area and VC.", "",
             "Grade confusion (rows: truth, columns: reading):", "",
             "| truth \\ read | " + " | ".join((*GRADES, "refused", "missed")) + " |", "|---" * 7 + "|"]
    for g in GRADES:
        lines.append(f"| {g} | " + " | ".join(str(s["conf"][g][k]) for k in (*GRADES, "refused", "missed")) + " |")
    right = sum(s["conf"][g][g] for g in GRADES)
    read = sum(s["conf"][g][k] for g in GRADES for k in GRADES)
    lines += ["", f"Grade accuracy on frames read: {right} / {read}.", "",
              "Grading rules (`device/echo/jets_rules.py`; a valve's grade = mean of its criteria' scores "
              "mild 1 / moderate 2 / severe 3, rounded half up):", "",
              "| valve | criterion | unit | mild | severe | source |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['valve']} | {r['criterion']} | {r['unit']} | {r['mild']} | {r['severe']} | {r['source']} |"
              for r in table_rows()]
    lines += ["", "Real colour frames in ../shared/data/echo-dicom (no truth; judged by eye below):", "",
              "| file | colour box (x0, y0, x1, y1) | reading |", "|---|---|---|"] + _real(data)
    lines += ["", "Judged by eye: color-pl.dcm (256x120, no pixel size: 0.3 mm/px assumed; not a standard cardiac "
              "view, the view PLAX was given only to run it) shows laminar red and blue flow with no mosaic, so "
              "\"no jet\" is right for what it shows; but the colour box found is only the largest flow region "
              "(lower left), not the steered box the machine drew (thin blue lines), which the reader does not "
              "look for. color3d_jpeg_baseline.dcm (a greyscale PLAX cine despite its name) is refused \"no colour "
              "box\", which is right. Neither file has a regurgitant jet, so nothing real tests jet area, VC or "
              "grade: the figures above are the simulator's only."]
    return "\n".join(lines)
