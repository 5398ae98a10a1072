"""Short-axis series -> masks, 11 LVQuan indices per frame, and phase per slice position.

Pure given the model: frames (ImageFrame list, see dicom_io) in, :class:`SaxSeriesResult` out. Frames are grouped
by slice position; each group with at least 3 frames (a cine) gets phase labels from the polynomial fit of its
cavity areas (patent 002). A frame whose segmentation is empty keeps its mask but gets no numbers, with a reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from device.errors import InputError
from device.lv import CAVITY
from device.lv.dicom_io import ImageFrame, check_short_axis_description
from device.lv.indices import SaxIndices, SaxOrientation, largest_component, sax_indices
from device.lv.phase import DEFAULT_DEGREE, phase_from_areas
from device.lv.records import LvMeasurement, records_from
from device.lv.sax_validity import check_sax_motion
from device.lv.segment import segment_sax

MAX_ELONGATION = 1.8   # short-axis LV cavities are round-ish (Sunnybrook expert contours: 1.0-1.56); long-axis 2-3


@dataclass(frozen=True)
class SaxFrameResult:
    file: str
    frame: int
    mask: np.ndarray                  # (H, W) uint8: 0 background, 1 cavity, 2 myocardium
    cavity_area_mm2: float | None     # also when the other indices cannot be measured (no myocardium)
    indices: SaxIndices | None
    phase: str                        # "systole", "diastole" or "" (not a cine / not measurable)
    is_ed: bool
    is_es: bool
    reason: str                       # why there are no indices, else ""


@dataclass(frozen=True)
class SaxSeriesResult:
    frames: tuple[SaxFrameResult, ...]
    model_tag: str
    model_name: str
    model_version: str
    confirmed: bool = False           # becomes True only when a person confirms or edits (see device.lv.edit)


def elongation(mask: np.ndarray) -> float:
    """Ratio of the principal axes of the largest cavity region (1 = round)."""
    cav = largest_component(mask == CAVITY)
    ys, xs = np.nonzero(cav)
    if len(xs) < 10:
        return float("nan")
    w = np.linalg.eigvalsh(np.cov(np.stack([xs, ys]).astype(float)))
    return float(np.sqrt(max(w[1], 1e-9) / max(w[0], 1e-9)))


def _group_key(fr: ImageFrame) -> tuple:
    if fr.n_frames_in_file > 1:
        return ("file", str(fr.file))
    return ("loc", round(fr.slice_location, 1) if fr.slice_location is not None else None)


def measure_sax_series(frames: list[ImageFrame], model, degree: int = DEFAULT_DEGREE) -> SaxSeriesResult:
    """Segment and measure every frame. Raises InputError for a long-axis series, missing calibration, or when no
    frame has an LV cavity."""
    if not frames:
        raise InputError("the series has no images")
    check_short_axis_description(frames)
    groups: dict[tuple, list[int]] = {}
    for i, fr in enumerate(frames):
        if fr.spacing_rc is None:
            raise InputError(f"{fr.file.name} has no pixel spacing (PixelSpacing); measurements in mm need it - "
                             "use the scanner's original DICOM export")
        groups.setdefault(_group_key(fr), []).append(i)
    masks: list[np.ndarray | None] = [None] * len(frames)
    no_cavity: dict[int, str] = {}     # frames of a slice where no LV cavity was found (above the base, apex)
    tag = name = version = ""
    first_error = ""
    for idx in groups.values():
        shapes = {frames[i].pixels.shape for i in idx}
        for shape in shapes:
            sub = [i for i in idx if frames[i].pixels.shape == shape]
            try:
                seg = segment_sax(np.stack([frames[i].pixels for i in sub]), model, frames[sub[0]].spacing_rc)
            except InputError as exc:  # one slice without a cavity (e.g. above the base) must not sink the series
                first_error = first_error or str(exc)
                for i in sub:
                    masks[i] = np.zeros(frames[i].pixels.shape[:2], np.uint8)
                    no_cavity[i] = f"no LV cavity on this slice ({exc})"
                continue
            tag, name, version = seg.model_tag, seg.model_name, seg.model_version
            for k, i in enumerate(sub):
                masks[i] = seg.masks[k]
    elong = [elongation(m) for m in masks if m is not None and (m == CAVITY).any()]
    if not elong:
        raise InputError(first_error or "no LV cavity was found in any image; is this a short-axis series of the "
                         "heart?")
    if float(np.nanmedian(elong)) > MAX_ELONGATION:
        raise InputError(f"the LV cavity is {np.nanmedian(elong):.1f} times longer than wide: this looks like a "
                         "long-axis view, not short-axis; give a short-axis series")
    check_sax_motion([[masks[i] for i in idx if masks[i] is not None] for idx in groups.values()])
    results: list[SaxFrameResult | None] = [None] * len(frames)
    for idx in groups.values():
        ind: dict[int, SaxIndices] = {}
        reasons: dict[int, str] = {}
        for i in idx:
            fr = frames[i]
            orient = SaxOrientation()
            if fr.orientation is not None:
                try:
                    orient = SaxOrientation.from_dicom(fr.orientation)
                except InputError:
                    pass
            if i in no_cavity:
                reasons[i] = no_cavity[i]
                continue
            try:
                ind[i] = sax_indices(masks[i], fr.spacing_rc, orient)  # type: ignore[arg-type]
            except InputError as exc:
                reasons[i] = str(exc)
        cav_area = {}
        for i in idx:
            n = int(largest_component(masks[i] == CAVITY).sum())  # type: ignore[operator]
            if n:
                cav_area[i] = n * frames[i].spacing_rc[0] * frames[i].spacing_rc[1]  # type: ignore[index]
        phases = {i: "" for i in idx}
        ed = es = -1
        if len(idx) >= 3 and len(cav_area) == len(idx):
            try:
                ph = phase_from_areas([cav_area[i] for i in idx], degree)
                phases = dict(zip(idx, ph.labels))
                ed, es = idx[ph.ed_frame], idx[ph.es_frame]
            except InputError:
                pass
        for i in idx:
            fr = frames[i]
            results[i] = SaxFrameResult(fr.file.name, fr.frame, masks[i], cav_area.get(i), ind.get(i), phases[i],
                                        i == ed, i == es, reasons.get(i, ""))
    return SaxSeriesResult(tuple(r for r in results if r is not None), tag, name, version)


def sax_records(result: SaxSeriesResult) -> list[LvMeasurement]:
    """One record per measured index per frame (frames = (index of the frame in the result,)), unconfirmed."""
    out: list[LvMeasurement] = []
    for k, fr in enumerate(result.frames):
        values = fr.indices.as_row() if fr.indices is not None else {"cavity_area_mm2": fr.cavity_area_mm2}
        out += records_from(values, view="SAX", model=result.model_tag, model_version=result.model_version,
                            frames=(k,), method=f"LVQuan indices ({fr.file} frame {fr.frame})")
    return out
