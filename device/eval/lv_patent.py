"""Patent 002's direct index regression (``lv_dla``) beside the U-Net's segment-then-measure, leave-one-patient-out.

Sunnybrook, 3 patients: patient P is measured only by models that never saw P: ``lv_seg_lopo_P`` (U-Net, shipped
short-axis variant, cavity convention ``segment.SAX_CAVITY``; it also localises the LV for the regression) and
``lv_dla_lopo_P`` (5-member K-means-fold ensemble ``ens_int8`` and member 0 alone ``f0_int8``).
Per contoured image: the 11 indices against the same indices of the expert masks (cavity area on every image;
myocardium area, 3 dimensions and 6 wall thicknesses where an epicardial contour exists).
Phase: for every contoured slice position, its whole cine (20 phases) is measured and ED/ES come from the
polynomial fit of the cavity-area curve (``phase.phase_from_areas``, degree from config default 11); the expert
ED/ES are the two contoured phases (ED = the larger expert cavity). Error = cyclic distance in frames.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from device.errors import InputError
from device.lv import CAVITY
from device.lv.indices import SaxOrientation, sax_indices

GROUPS = {"cavity area (mm2)": [0], "myocardium area (mm2)": [1], "dimensions (mm)": [2, 3, 4],
          "wall thicknesses (mm)": [5, 6, 7, 8, 9, 10]}
DLA_VARIANTS = ("ens_int8", "f0_int8")


def expert_values(label: np.ndarray, has_myo: bool, spacing, orient) -> np.ndarray:
    y = np.full(11, np.nan)
    y[0] = float((label == CAVITY).sum() * spacing[0] * spacing[1])
    if has_myo:
        try:
            si = sax_indices(np.where(label == 255, 0, label), spacing, orient)
            y[1:] = [si.myo_area_mm2, *si.dims_mm, *si.rwt_mm]
        except InputError:
            pass
    return y


def unet_values(mask: np.ndarray, spacing, orient) -> np.ndarray:
    y = np.full(11, np.nan)
    y[0] = float((mask == CAVITY).sum() * spacing[0] * spacing[1])
    try:
        si = sax_indices(mask, spacing, orient)
        y[1:] = [si.myo_area_mm2, *si.dims_mm, *si.rwt_mm]
    except InputError:
        pass
    return y


def _cines(root: Path, patient: str) -> dict[float, list[Path]]:
    """Slice location -> the DICOM files of its cine, in trigger-time order."""
    import pydicom
    by_loc: dict[float, list[tuple[float, Path]]] = {}
    for f in (root / "dicoms" / patient).glob("*.dcm"):
        ds = pydicom.dcmread(f, stop_before_pixels=True)
        by_loc.setdefault(round(float(ds.SliceLocation), 2), []).append((float(getattr(ds, "TriggerTime", 0) or 0), f))
    return {k: [f for _, f in sorted(v)] for k, v in by_loc.items()}


def _cyc(a: int, b: int, n: int) -> int:
    d = abs(a - b) % n
    return min(d, n - d)


def patient_rows(root: Path, patient: str, methods: dict) -> tuple[list[dict], list[dict]]:
    """(index rows, phase rows) of one held-out patient; methods: name -> callable(frames, spacing, orient) ->
    (T, 11) values."""
    import pydicom
    from device.lv.phase import phase_from_areas
    from device.lv.sunnybrook import load_patient
    slices = load_patient(root, patient)
    rows, phase_rows = [], []
    for s in slices:
        orient = SaxOrientation.from_dicom(s.orientation)
        ref = expert_values(s.label, s.has_myo, s.spacing_rc, orient)
        for name, fn in methods.items():
            try:
                got = fn(s.image[None], s.spacing_rc, orient)[0]
            except InputError:
                got = np.full(11, np.nan)
            rows.append({"patient": patient, "file": s.dicom.name, "method": name, "ref": ref, "got": got})
    cines = _cines(root, patient)
    for loc in sorted({round(s.slice_location, 2) for s in slices}):
        contoured = [s for s in slices if round(s.slice_location, 2) == loc]
        files = cines.get(loc, [])
        if len(contoured) != 2 or len(files) < 10:
            continue
        names = [f.name for f in files]
        area = [float((s.label == CAVITY).sum()) for s in contoured]
        ed_s, es_s = (contoured[0], contoured[1]) if area[0] >= area[1] else (contoured[1], contoured[0])
        ed_ref, es_ref = names.index(ed_s.dicom.name), names.index(es_s.dicom.name)
        frames = np.stack([pydicom.dcmread(f).pixel_array.astype(np.float32) for f in files])
        orient = SaxOrientation.from_dicom(contoured[0].orientation)
        for name, fn in methods.items():
            try:
                ph = phase_from_areas(fn(frames, contoured[0].spacing_rc, orient)[:, 0])
                err = (_cyc(ph.ed_frame, ed_ref, len(files)), _cyc(ph.es_frame, es_ref, len(files)))
            except InputError:
                err = (None, None)
            phase_rows.append({"patient": patient, "loc": loc, "method": name, "ed_err": err[0], "es_err": err[1],
                               "n_frames": len(files)})
    return rows, phase_rows


def lopo_rows(data_dir: Path) -> tuple[list[dict], list[dict]]:
    from device.inference import ModelError, load_manifest, load_model
    from device.lv.segment import segment_sax
    from device.lv.sunnybrook import patients
    from device.lv.variants import regress_sax
    root = data_dir / "cardiac-mri-sunnybrook"
    seg_variant = load_manifest("lv_seg").params.get("sax_variant", "int8")
    rows, phase_rows = [], []
    for p in sorted(patients(root)):
        seg = load_model(f"lv_seg_lopo_{p}", variant=seg_variant, cache=False, warm_up=False)

        def unet(frames, sp, orient, seg=seg):
            masks = segment_sax(frames, seg, sp).masks
            return np.stack([unet_values(m, sp, orient) for m in masks])

        methods = {f"U-Net lv_seg {seg_variant}, segment then measure": unet}
        for v in DLA_VARIANTS:
            try:
                reg = load_model(f"lv_dla_lopo_{p}", variant=v, cache=False, warm_up=False)
            except ModelError:   # a twin not trained yet is simply not scored
                continue

            def dla(frames, sp, orient, reg=reg, seg=seg):
                return regress_sax(frames, seg, reg, sp, orient).values

            methods[f"DLA lv_dla {v}, direct regression"] = dla
        r, ph = patient_rows(root, p, methods)
        rows += r
        phase_rows += ph
    return rows, phase_rows


def summary(rows: list[dict]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for m in dict.fromkeys(r["method"] for r in rows):
        rs = [r for r in rows if r["method"] == m]
        ref, got = np.stack([r["ref"] for r in rs]), np.stack([r["got"] for r in rs])
        err = got - ref
        s = {"n_images": len(rs)}
        for g, cols in GROUPS.items():
            e = err[:, cols]
            s[g] = float(np.nanmean(np.abs(e))) if np.isfinite(e).any() else float("nan")
            s[g + " n"] = int(np.isfinite(e).any(axis=1).sum())
        s["cavity bias (mm2)"] = float(np.nanmean(err[:, 0]))
        s["not measured"] = int(np.isnan(got[:, 0]).sum())
        out[m] = s
    return out


def phase_summary(phase_rows: list[dict]) -> dict[str, dict]:
    out = {}
    for m in dict.fromkeys(r["method"] for r in phase_rows):
        rs = [r for r in phase_rows if r["method"] == m and r["ed_err"] is not None]
        out[m] = {"n": len(rs), "ed": float(np.mean([r["ed_err"] for r in rs])) if rs else float("nan"),
                  "es": float(np.mean([r["es_err"] for r in rs])) if rs else float("nan"),
                  "failed": sum(1 for r in phase_rows if r["method"] == m and r["ed_err"] is None)}
    return out


def lopo_accuracy(data_dir: Path) -> list[dict]:
    """Manifest accuracy rows of the shipped ``lv_dla`` from its LOPO twins."""
    rows, _ = lopo_rows(data_dir)
    s = summary(rows)
    out = []
    for m, v in s.items():
        if not m.startswith("DLA"):
            continue
        out += [{"metric": f"{g} MAE ({m.split()[2].rstrip(',')})", "value": round(v[g], 2),
                 "on": f"Sunnybrook leave-one-patient-out, {v[g + ' n']} contoured images of 3 patients, "
                       "scored with the lv_dla_lopo_* twins (never on a training patient)"} for g in GROUPS]
    return out


def evaluate(data_dir: Path) -> str:
    lines = ["### Patent 002 direct index regression beside the U-Net (issue 16 part 1)", ""]
    if not (data_dir / "cardiac-mri-sunnybrook").is_dir():
        return "\n".join(lines + ["Sunnybrook data absent: not measured."]) + "\n"
    rows, phase_rows = lopo_rows(data_dir)
    s, ps = summary(rows), phase_summary(phase_rows)
    lines += ["Leave-one-patient-out on Sunnybrook (3 patients): each patient is measured only by the twins "
              "trained without it. MAE against the indices of the expert masks (cavity area: every contoured image; "
              "the other indices: images with an epicardial contour).", "",
              "| method | images | cavity area MAE (mm2) | cavity bias (mm2) | myocardium area MAE (mm2) | "
              "dimension MAE (mm) | wall thickness MAE (mm) | phase: ED / ES error (frames), cines |",
              "|---|---|---|---|---|---|---|---|"]
    for m, v in s.items():
        p = ps.get(m, {})
        lines.append(f"| {m} | {v['n_images']} | {v['cavity area (mm2)']:.0f} | {v['cavity bias (mm2)']:+.0f} | "
                     f"{v['myocardium area (mm2)']:.0f} (n={v['myocardium area (mm2) n']}) | "
                     f"{v['dimensions (mm)']:.2f} | {v['wall thicknesses (mm)']:.2f} | "
                     f"{p.get('ed', float('nan')):.1f} / {p.get('es', float('nan')):.1f}, n={p.get('n', 0)} |")
    unet = next((v for m, v in s.items() if m.startswith("U-Net")), None)
    dla = next((v for m, v in s.items() if "ens_int8" in m), None)
    if unet and dla:
        better = [g for g in GROUPS if dla[g] < unet[g]]
        lines += ["", "The default method is what measures best here: " + (
            "the direct regression is better on " + ", ".join(better) if better else
            "the direct regression is worse than segment-then-measure on every index, so the U-Net stays the "
            "default (`lv indices --method segment`; `--method regress` selects lv_dla)") + "."]
    return "\n".join(lines) + "\n"
