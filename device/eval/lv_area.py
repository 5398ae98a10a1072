"""Cavity-area bias of the short-axis U-Net per slice level (issue 16, Deliver 2), before and after the cavity
convention fix (``device.lv.segment.SAX_CAVITY``).

Leave-one-patient-out on Sunnybrook: patient P is segmented only by ``lv_seg_lopo_P`` (the shipped short-axis
variant). Slice level: per patient the contoured slice positions are ordered from the base (the end whose largest
expert cavity is bigger) to the apex and cut in thirds (basal / mid / apical; the middle third takes the spare).
Cause analysis per image: expert-cavity pixels the network calls myocardium (papillary muscles, trabeculae: the
expert contour goes round them) or background, and network-cavity pixels outside the expert cavity.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from device.lv import CAVITY, MYOCARDIUM

LEVELS = ("basal", "mid", "apical")


def slice_levels(slices) -> dict[str, str]:
    """file name -> basal / mid / apical for one patient's contoured slices."""
    by_loc: dict[float, float] = {}
    for s in slices:
        a = float((s.label == CAVITY).sum() * s.spacing_rc[0] * s.spacing_rc[1])
        by_loc[round(s.slice_location, 2)] = max(a, by_loc.get(round(s.slice_location, 2), 0.0))
    locs = sorted(by_loc)
    order = locs if by_loc[locs[0]] >= by_loc[locs[-1]] else locs[::-1]
    k = len(order) // 3
    level = {loc: ("basal" if i < k else "apical" if i >= len(order) - k else "mid") for i, loc in enumerate(order)}
    return {s.dicom.name: level[round(s.slice_location, 2)] for s in slices}


def area_rows(root: Path, conventions: tuple[str, ...] = ("holes", "hull")) -> list[dict]:
    """One row per (contoured image, convention): signed and absolute cavity-area error, Dice, cause pixels."""
    from device.errors import InputError
    from device.inference import load_manifest, load_model
    from device.lv.segment import segment_sax
    from device.lv.sunnybrook import load_patient, patients
    rows = []
    for p in sorted(patients(root)):
        man = load_manifest("lv_seg")
        variant = man.params.get("sax_variant", "int8")
        model = load_model(f"lv_seg_lopo_{p}", variant=variant, cache=False, warm_up=False)
        slices = load_patient(root, p)
        levels = slice_levels(slices)
        # ES frames have no epicardial contour: the cavity is what is known
        hull_ratio = {}
        for s in slices:
            from device.lv.segment import convex_fill
            e = s.label == CAVITY
            hull_ratio[s.dicom.name] = float(e.sum() / max(1, convex_fill(e).sum()))
        for conv in conventions:
            for s in slices:
                px = s.spacing_rc[0] * s.spacing_rc[1]
                try:
                    pred = segment_sax(s.image, model, s.spacing_rc, cavity=conv).masks[0]
                except InputError:
                    pred = np.zeros(s.image.shape, np.uint8)
                e, c = s.label == CAVITY, pred == CAVITY
                rows.append({
                    "patient": p, "file": s.dicom.name, "level": levels[s.dicom.name], "convention": conv,
                    "ref_mm2": float(e.sum() * px), "err_mm2": float((c.sum() - e.sum()) * px),
                    "dice": float(2 * (e & c).sum() / max(1, e.sum() + c.sum())),
                    "missed_as_myo_mm2": float((e & (pred == MYOCARDIUM)).sum() * px),
                    "missed_as_bg_mm2": float((e & (pred == 0)).sum() * px),
                    "extra_mm2": float((c & ~e).sum() * px),
                    "expert_hull_fill": hull_ratio[s.dicom.name]})
    return rows


def summary(rows: list[dict]) -> dict[tuple[str, str], dict]:
    """(convention, level or 'all') -> n, bias, MAE, Dice, mean cause pixels (mm2)."""
    out = {}
    for conv in sorted({r["convention"] for r in rows}):
        for lv in (*LEVELS, "all"):
            rs = [r for r in rows if r["convention"] == conv and (lv == "all" or r["level"] == lv)]
            if not rs:
                continue
            err = np.array([r["err_mm2"] for r in rs])
            out[(conv, lv)] = {"n": len(rs), "bias_mm2": float(err.mean()), "mae_mm2": float(np.abs(err).mean()),
                               "dice": float(np.mean([r["dice"] for r in rs])),
                               **{k: float(np.mean([r[k] for r in rs]))
                                  for k in ("missed_as_myo_mm2", "missed_as_bg_mm2", "extra_mm2", "ref_mm2")}}
    return out


def evaluate(data_dir: Path) -> str:
    root = data_dir / "cardiac-mri-sunnybrook"
    lines = ["### Cavity area bias per slice level (issue 16 part 2)", ""]
    if not root.is_dir():
        return "\n".join(lines + ["Sunnybrook data absent: not measured."]) + "\n"
    rows = area_rows(root)
    s = summary(rows)
    fill = np.mean([r["expert_hull_fill"] for r in rows if r["convention"] == "hull"])
    lines += ["Leave-one-patient-out (each patient segmented by `lv_seg_lopo_P`, shipped short-axis variant), all "
              "contoured images (ED and ES). Error = network cavity area - expert cavity area (mm2). "
              f"The expert cavity fills {100 * fill:.1f} % of its own convex hull: the Sunnybrook contours go round "
              "the papillary muscles and trabeculae (they are inside the cavity).", "",
              "| cavity convention | level | images | bias (mm2) | MAE (mm2) | Dice cavity | expert cavity called "
              "myocardium (mm2) | called background (mm2) | extra cavity (mm2) | mean expert area (mm2) |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for (conv, lv), v in s.items():
        lines.append(f"| {conv} | {lv} | {v['n']} | {v['bias_mm2']:+.0f} | {v['mae_mm2']:.0f} | {v['dice']:.3f} | "
                     f"{v['missed_as_myo_mm2']:.0f} | {v['missed_as_bg_mm2']:.0f} | {v['extra_mm2']:.0f} | "
                     f"{v['ref_mm2']:.0f} |")
    h, o = s.get(("hull", "all")), s.get(("holes", "all"))
    mid, apex = s.get(("holes", "mid")), s.get(("holes", "apical"))
    if h and o and mid and apex:
        lines += ["", f"Why: the experts' cavity takes in the papillary muscles and trabeculae; the network calls them "
                  f"myocardium (mid slices: {mid['missed_as_myo_mm2']:.0f} mm2 of expert cavity per image, bias "
                  f"{mid['bias_mm2']:+.0f} mm2), while near the apex it takes the thin partial-volume wall into the "
                  f"cavity ({apex['extra_mm2']:.0f} mm2 extra per image, bias {apex['bias_mm2']:+.0f} mm2). Fix "
                  f"(default `segment.SAX_CAVITY = \"hull\"`, the experts' convention, not tuned on these numbers): "
                  f"bias {o['bias_mm2']:+.0f} -> {h['bias_mm2']:+.0f} mm2, MAE {o['mae_mm2']:.0f} -> "
                  f"{h['mae_mm2']:.0f} mm2. Mid slices stay too small and apical slices too large: that needs a "
                  "model trained on more patients, not a post-processing rule."]
    return "\n".join(lines) + "\n"
