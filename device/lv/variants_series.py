"""The 11 short-axis indices and the phase of every frame of a series by one of three methods (issue 16 part 1):

- ``segment`` (default): the U-Net ``lv_seg`` masks, then ``indices.sax_indices``; phase from the cavity-area curve;
- ``regress``: patent 002's direct regression ``lv_dla`` (5-member mean); phase from the predicted cavity areas;
- ``p001``: patent 001's network ``lv_p001``: indices from its regression LSTM, phase from its phase LSTM.

Pure: frames (``dicom_io.ImageFrame``) and loaded models in, rows out. Frames are grouped by slice position (one
cine each). The default is the method that measured best leave-one-patient-out (EVALUATION.md).
"""

from __future__ import annotations

import numpy as np

from device.errors import InputError
from device.lv import CAVITY
from device.lv.indices import SaxOrientation, sax_indices
from device.lv.variants import INDEX_NAMES

METHODS = ("segment", "regress", "p001")
DEFAULT_METHOD = "segment"
MODEL_OF = {"segment": None, "regress": "lv_dla", "p001": "lv_p001"}


def _orientation(frame) -> SaxOrientation:
    if frame.orientation is None:
        return SaxOrientation()
    try:
        return SaxOrientation.from_dicom(frame.orientation)
    except InputError:
        return SaxOrientation()


def _phase(areas: np.ndarray, degree: int) -> tuple[int, int] | None:
    from device.lv.phase import phase_from_areas
    ok = np.isfinite(areas)
    if ok.sum() < 3 or not ok.all():
        return None
    try:
        ph = phase_from_areas(areas, degree)
    except InputError:
        return None
    return ph.ed_frame, ph.es_frame


def measure_frames(frames: list, method: str, seg_model, model=None, degree: int = 11) -> list[dict]:
    """One row per frame: file, frame, slice_location, method, model, the 11 indices (NaN where not measurable),
    phase ("ED", "ES" or ""). Raises InputError for an unknown method, missing spacing or no LV."""
    if method not in METHODS:
        raise InputError(f"unknown method '{method}'; use one of {', '.join(METHODS)}")
    if not frames:
        raise InputError("the series has no images")
    groups: dict = {}
    for i, fr in enumerate(frames):
        if fr.spacing_rc is None:
            raise InputError(f"{fr.file.name} has no pixel spacing (PixelSpacing); measurements in mm need it")
        key = (round(fr.slice_location, 1) if fr.slice_location is not None else None, fr.pixels.shape)
        groups.setdefault(key, []).append(i)
    rows: list[dict | None] = [None] * len(frames)
    for idx in groups.values():
        stack = np.stack([frames[i].pixels for i in idx])
        sp, orient = frames[idx[0]].spacing_rc, _orientation(frames[idx[0]])
        if method == "segment":
            from device.lv.segment import segment_sax
            seg = segment_sax(stack, seg_model, sp)
            vals = np.full((len(idx), 11), np.nan)
            for k, m in enumerate(seg.masks):
                vals[k, 0] = float((m == CAVITY).sum() * sp[0] * sp[1])
                try:
                    si = sax_indices(m, sp, orient)
                    vals[k, 1:] = [si.myo_area_mm2, *si.dims_mm, *si.rwt_mm]
                except InputError:
                    pass
            tag = seg.model_tag
            ed_es = _phase(vals[:, 0], degree)
        elif method == "regress":
            from device.lv.variants import regress_sax
            r = regress_sax(stack, seg_model, model, sp, orient)
            vals, tag, ed_es = r.values, r.model_tag, _phase(r.values[:, 0], degree)
        else:
            from device.lv.variants_p001 import p001_sax
            if len(idx) < 3:
                raise InputError("patent 001's network reads a cine: give at least 3 frames of a slice position")
            r1 = p001_sax(stack, seg_model, model, sp, orient)
            vals, tag, ed_es = r1.values, r1.model_tag, (r1.ed_frame, r1.es_frame)
        for k, i in enumerate(idx):
            fr = frames[i]
            phase = "ED" if ed_es and k == ed_es[0] else "ES" if ed_es and k == ed_es[1] else ""
            rows[i] = {"file": fr.file.name, "frame": fr.frame, "slice_location": fr.slice_location,
                       "method": method, "model": tag, **dict(zip(INDEX_NAMES, (float(v) for v in vals[k]))),
                       "phase": phase}
    return [r for r in rows if r is not None]
