"""Patent 001's network (``lv_p001``) beside the U-Net on whole cines, leave-one-patient-out (issue 16 part 1).

Every contoured Sunnybrook slice position is one 20-phase cine. Patient P is measured only by models that never
saw P: the U-Net ``lv_seg_lopo_P`` (shipped short-axis variant and cavity convention; its masks give the indices
and, through the cavity-area curve, ED/ES) and ``lv_p001_lopo_P`` (its masks, its regression LSTM's indices, its
phase LSTM's ED/ES). On the two contoured phases: Dice (cavity; myocardium where an epicardial contour exists),
cavity-area error, index MAE against the expert masks' indices; phase: ED/ES error in frames (cyclic) against the
contoured phases (ED = the larger expert cavity).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from device.errors import InputError
from device.lv import CAVITY, MYOCARDIUM
from device.lv.indices import SaxOrientation


def cine_items(root: Path, patient: str) -> list[dict]:
    """One dict per contoured slice position: frames (T, H, W) float32, labelled {frame: LabelledSlice}, ed, es."""
    import pydicom
    from device.eval.lv_patent import _cines
    from device.lv.sunnybrook import load_patient
    slices = load_patient(root, patient)
    cines = _cines(root, patient)
    out = []
    for loc in sorted({round(s.slice_location, 2) for s in slices}):
        cont = [s for s in slices if round(s.slice_location, 2) == loc]
        files = cines.get(loc, [])
        if len(cont) != 2 or len(files) < 10:
            continue
        names = [f.name for f in files]
        area = [int((s.label == CAVITY).sum()) for s in cont]
        ed_s, es_s = (cont[0], cont[1]) if area[0] >= area[1] else (cont[1], cont[0])
        out.append({"patient": patient, "loc": loc, "files": names,
                    "frames": np.stack([pydicom.dcmread(f).pixel_array.astype(np.float32) for f in files]),
                    "labelled": {names.index(ed_s.dicom.name): ed_s, names.index(es_s.dicom.name): es_s},
                    "ed": names.index(ed_s.dicom.name), "es": names.index(es_s.dicom.name)})
    return out


def _dice(a, b) -> float:
    s = a.sum() + b.sum()
    return float(2 * (a & b).sum() / s) if s else 1.0


def _cyc(a: int, b: int, n: int) -> int:
    d = abs(a - b) % n
    return min(d, n - d)


def rows_for(root: Path, patient: str) -> list[dict]:
    from device.eval.lv_patent import expert_values, unet_values
    from device.inference import load_manifest, load_model
    from device.lv.phase import phase_from_areas
    from device.lv.segment import segment_sax
    from device.lv.variants_p001 import p001_sax
    seg = load_model(f"lv_seg_lopo_{patient}", variant=load_manifest("lv_seg").params.get("sax_variant", "int8"),
                     cache=False, warm_up=False)
    net = load_model(f"lv_p001_lopo_{patient}", cache=False, warm_up=False)
    rows = []
    for it in cine_items(root, patient):
        s0 = it["labelled"][it["ed"]]
        orient = SaxOrientation.from_dicom(s0.orientation)
        sp = s0.spacing_rc
        n = len(it["frames"])
        outs = {}
        try:
            masks = segment_sax(it["frames"], seg, sp).masks
            ph = phase_from_areas([(m == CAVITY).sum() * sp[0] * sp[1] for m in masks])
            outs["U-Net"] = (masks, None, ph.ed_frame, ph.es_frame)
        except InputError:
            outs["U-Net"] = None
        try:
            r = p001_sax(it["frames"], seg, net, sp, orient)
            outs["patent 001"] = (r.masks, r.values, r.ed_frame, r.es_frame)
        except InputError:
            outs["patent 001"] = None
        for method, o in outs.items():
            row = {"patient": patient, "loc": it["loc"], "method": method, "frames": []}
            if o is not None:
                masks, values, ed, es = o
                row["ed_err"], row["es_err"] = _cyc(ed, it["ed"], n), _cyc(es, it["es"], n)
                for i, s in it["labelled"].items():
                    ref = expert_values(s.label, s.has_myo, sp, orient)
                    from_mask = unet_values(masks[i], sp, orient)
                    fr = {"dice_cavity": _dice(masks[i] == CAVITY, s.label == CAVITY), "ref": ref,
                          "mask_values": from_mask, "head_values": values[i] if values is not None else None}
                    if s.has_myo:
                        fr["dice_myocardium"] = _dice(masks[i] == MYOCARDIUM, s.label == MYOCARDIUM)
                    row["frames"].append(fr)
            rows.append(row)
    return rows


def lopo_rows(data_dir: Path) -> list[dict]:
    from device.lv.sunnybrook import patients
    root = data_dir / "cardiac-mri-sunnybrook"
    return [r for p in sorted(patients(root)) for r in rows_for(root, p)]


def summary(rows: list[dict]) -> dict[str, dict]:
    from device.eval.lv_patent import GROUPS
    out = {}
    for method in dict.fromkeys(r["method"] for r in rows):
        rs = [r for r in rows if r["method"] == method]
        frames = [f for r in rs for f in r["frames"]]
        s: dict = {"cines": len(rs), "failed": sum(1 for r in rs if not r["frames"]), "images": len(frames)}
        if frames:
            s["dice_cavity"] = float(np.mean([f["dice_cavity"] for f in frames]))
            s["dice_myocardium"] = float(np.mean([f["dice_myocardium"] for f in frames if "dice_myocardium" in f]))
            for src in ("mask_values", "head_values"):
                if frames[0][src] is None:
                    continue
                err = np.stack([f[src] - f["ref"] for f in frames])
                s[src] = {g: float(np.nanmean(np.abs(err[:, c]))) for g, c in GROUPS.items()}
                s[src]["cavity bias (mm2)"] = float(np.nanmean(err[:, 0]))
            ok = [r for r in rs if "ed_err" in r]
            s["ed_err"] = float(np.mean([r["ed_err"] for r in ok]))
            s["es_err"] = float(np.mean([r["es_err"] for r in ok]))
        out[method] = s
    return out


def lopo_accuracy(data_dir: Path) -> list[dict]:
    s = summary(lopo_rows(data_dir)).get("patent 001", {})
    on = (f"Sunnybrook leave-one-patient-out, {s.get('cines', 0)} cines / {s.get('images', 0)} contoured phases of 3 "
          "patients, scored with the lv_p001_lopo_* twins (never on a training patient)")
    label = {"dice_cavity": "Dice cavity", "dice_myocardium": "Dice myocardium",
             "ed_err": "ED error (frames, cyclic, of 20)", "es_err": "ES error (frames, cyclic, of 20)"}
    acc = [{"metric": label[k], "value": round(s[k], 3), "on": on} for k in label if k in s]
    for src in ("head_values", "mask_values"):
        what = "regression LSTM" if src == "head_values" else "from the masks"
        acc += [{"metric": f"{g} {'' if 'bias' in g else 'MAE '}({what})", "value": round(v, 2), "on": on}
                for g, v in s.get(src, {}).items()]
    return acc


def evaluate(data_dir: Path) -> str:
    lines = ["### Patent 001 network (dense dilated U-Net + conv stage + LSTMs + phase) beside the U-Net", ""]
    if not (data_dir / "cardiac-mri-sunnybrook").is_dir():
        return "\n".join(lines + ["Sunnybrook data absent: not measured."]) + "\n"
    try:
        s = summary(lopo_rows(data_dir))
    except Exception as exc:   # noqa: BLE001 - e.g. the twins are not trained in this checkout
        return "\n".join(lines + [f"Not measured ({exc})."]) + "\n"
    lines += ["Leave-one-patient-out on whole cines (each contoured Sunnybrook slice position, 20 phases); each "
              "patient measured only by twins trained without it; errors on the two contoured phases.", "",
              "| method | cines | images | Dice cavity | Dice myocardium | indices from | cavity area MAE (mm2) | "
              "cavity bias (mm2) | myo area MAE (mm2) | dim MAE (mm) | RWT MAE (mm) | ED / ES error (frames) |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for m, v in s.items():
        for src, what in (("mask_values", "masks"), ("head_values", "regression LSTM")):
            if src not in v:
                continue
            g = v[src]
            lines.append(f"| {m} | {v['cines']} | {v['images']} | {v.get('dice_cavity', float('nan')):.3f} | "
                         f"{v.get('dice_myocardium', float('nan')):.3f} | {what} | {g['cavity area (mm2)']:.0f} | "
                         f"{g['cavity bias (mm2)']:+.0f} | {g['myocardium area (mm2)']:.0f} | "
                         f"{g['dimensions (mm)']:.2f} | {g['wall thicknesses (mm)']:.2f} | "
                         f"{v.get('ed_err', float('nan')):.1f} / {v.get('es_err', float('nan')):.1f} |")
    u, p = s.get("U-Net", {}), s.get("patent 001", {})
    if u.get("mask_values") and p.get("mask_values"):
        wins = [g for g in ("cavity area (mm2)", "wall thicknesses (mm)")
                if min(p["mask_values"][g], p.get("head_values", p["mask_values"])[g]) < u["mask_values"][g]]
        lines += ["", "Default: " + ("patent 001 measures better on " + ", ".join(wins) + "; review before switching"
                                     if wins else "the U-Net measures the indices better, so it stays the default "
                                     "(`lv indices --method p001` selects lv_p001)") + "."]
    return "\n".join(lines) + "\n"
