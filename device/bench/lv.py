"""``make bench`` rows for LV measurement: short-axis indices of a 20-frame cine (patent 002 quotes 0.2 s).

The cine is one Sunnybrook slice position (20 phases) when ../shared/data is present, else the MR-like phantom.
Timed end to end from pixels: equalise, localise, segment (one batch), 11 indices per frame, phase fit.
"""

from __future__ import annotations

import time

import numpy as np

from device.lv.indices import sax_indices
from device.lv.phase import phase_from_areas

SECTION = "LV"    # the section a failed run still writes (device/bench/__main__.py)


def _cine() -> tuple[np.ndarray, tuple[float, float], str]:
    from device.paths import shared_data_dir
    d = shared_data_dir()
    if d is not None and (d / "cardiac-mri-sunnybrook").is_dir():
        import pydicom
        folder = d / "cardiac-mri-sunnybrook" / "dicoms" / "SCD0000101"
        files = [folder / f"{i}.dcm" for i in range(41, 61)]   # one slice position, 20 phases
        if all(f.exists() for f in files):
            ds = [pydicom.dcmread(f) for f in files]
            return (np.stack([x.pixel_array.astype(np.float32) for x in ds]),
                    tuple(float(v) for v in ds[0].PixelSpacing), "Sunnybrook SCD0000101, 20 phases, 256x256")
    from device.lv.phantom import sax_cine
    frames, _ = sax_cine(20, 256, 1.4)
    return frames, (1.4, 1.4), "MR-like phantom, 20 frames, 256x256"


def _time(fn, repeats: int = 7) -> float:
    fn()
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


def _areas(masks, sp) -> list[float]:
    """Cavity areas of the frames the model segmented (a frame without myocardium has no indices)."""
    from device.errors import InputError
    out = []
    for m in masks:
        try:
            out.append(sax_indices(m, sp).cavity_area_mm2)
        except InputError:
            continue
    return out


def _dla_rows(frames, sp, what: str) -> list[dict]:
    """Patent 002's direct regression (lv_dla): localise with lv_seg, 11 indices per frame, phase from the areas."""
    from device.inference import list_models, load_manifest, load_model
    from device.lv.variants import REG_MODEL_NAME, regress_sax
    if REG_MODEL_NAME not in list_models():
        return [{"section": "LV", "item": "SAX indices by direct regression (lv_dla)", "metric": "median time",
                 "value": "not measured", "unit": "", "goal": "lv_dla is not trained in this checkout"}]
    seg = load_model("lv_seg", variant=load_manifest("lv_seg").params.get("sax_variant", "int8"), cache=False)
    rows = []
    for variant in load_manifest(REG_MODEL_NAME).variants:
        reg = load_model(REG_MODEL_NAME, variant=variant, cache=False)

        def run(reg=reg):
            phase_from_areas(regress_sax(frames, seg, reg, sp).values[:, 0])

        rows.append({"section": "LV", "item": f"SAX indices by direct regression (patent 002), 20-frame cine "
                     f"({what}), lv_dla {variant} (+ lv_seg localisation)", "metric": "median time",
                     "value": _time(run, 5), "unit": "s", "goal": "<= 0.2"})
    if "lv_p001" in list_models():
        from device.lv.variants_p001 import p001_sax
        net = load_model("lv_p001", cache=False)
        rows.append({"section": "LV", "item": f"patent 001 network, 20-frame cine ({what}), lv_p001 "
                     f"{net.variant} (+ lv_seg localisation): masks, 11 indices, phase", "metric": "median time",
                     "value": _time(lambda: p001_sax(frames, seg, net, sp), 5), "unit": "s", "goal": ""})
    return rows


def bench() -> list[dict]:
    """Rows for every variant; a step that cannot be measured on this cine (e.g. the phantom without ../shared,
    which the model may not segment) is a row that says so, never a dropped section."""
    from device.inference import load_manifest, load_model
    from device.lv.segment import segment_sax
    frames, sp, what = _cine()
    rows = []
    man = load_manifest("lv_seg")
    for variant in [v for v in ("sax_int8", "int8", "ens_int8", "fp32") if v in man.variants]:
        model = load_model("lv_seg", variant=variant, cache=False)

        def run(model=model):
            areas = _areas(segment_sax(frames, model, sp).masks, sp)
            if len(areas) >= 3:
                phase_from_areas(areas)

        rows.append({"section": "LV", "item": f"SAX indices, 20-frame cine ({what}), lv_seg {variant}",
                     "metric": "median time", "value": _time(run, 5), "unit": "s",
                     "goal": "<= 0.2" if variant == man.params.get("sax_variant", "int8") else ""})
    rows += _dla_rows(frames, sp, what)
    seg = segment_sax(frames, load_model("lv_seg", variant=man.params.get("sax_variant", "int8"), cache=False), sp)
    n = len(_areas(seg.masks, sp))
    rows.append({"section": "LV", "item": f"frames with a segmented myocardium ({what})", "metric": "count",
                 "value": f"{n}/{len(seg.masks)}", "unit": "frames", "goal": ""})
    if n >= 3:
        rows.append({"section": "LV", "item": "11 indices + phase only, 20 masks", "metric": "median time",
                     "value": _time(lambda: phase_from_areas(_areas(seg.masks, sp))), "unit": "s", "goal": ""})
    else:
        rows.append({"section": "LV", "item": "11 indices + phase only, 20 masks", "metric": "median time",
                     "value": "not measured", "unit": "",
                     "goal": f"the model segmented a myocardium on {n} of {len(seg.masks)} frames of the {what}; "
                             "run with ../shared/data (Sunnybrook) for this row"})
    return rows
