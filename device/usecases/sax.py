"""LV short axis (SAX), the use case: segment a DICOM short-axis series with the LV model and write the label masks
and the LVQuan indices table (``python -m device lv sax`` calls this; the pure work is device.lv.sax).

Writes OUT/<image-stem>.png (label masks the size of the image: 0 background, 1 cavity, 2 myocardium; a multi-frame
file gives <stem>_<frame>.png) and OUT/indices.csv with the columns in :data:`COLUMNS`.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import cv2

from device.errors import InputError
from device.lv.sax_volumes import StackVolumes, stack_volumes

COLUMNS = ["file", "frame", "phase", "cavity_area_mm2", "myo_area_mm2", "dim1_mm", "dim2_mm", "dim3_mm",
           "rwt1_mm", "rwt2_mm", "rwt3_mm", "rwt4_mm", "rwt5_mm", "rwt6_mm"]


@dataclass(frozen=True)
class SaxOutcome:
    n_images: int
    n_measured: int
    ed: tuple[str, ...]              # "file#frame" of the end-diastolic image(s)
    es: tuple[str, ...]
    failures: tuple[str, ...]        # "file frame N: reason" of images without wall indices
    model_tag: str
    indices_csv: Path
    volumes: StackVolumes | None = None      # EDV/ESV/EF by summation of discs (a stack of slices), else None
    volumes_reason: str = ""                 # why there are no volumes


def mask_name(file: str, frame: int, n_frames_in_file: int) -> str:
    stem = Path(file).stem
    return f"{stem}_{frame:03d}.png" if n_frames_in_file > 1 else f"{stem}.png"


def index_cells(indices) -> tuple[dict[str, str], list[str]]:
    """CSV cells of one frame's SaxIndices (2 decimals; empty where not measurable) and the AHA segments whose wall
    thickness is not measurable (an open ring gives NaN there, never 0.00 mm)."""
    from device.lv.indices import SEGMENTS

    cells = {k: (f"{v:.2f}" if math.isfinite(v) else "") for k, v in indices.as_row().items()}
    return cells, [seg for seg, v in zip(SEGMENTS, indices.rwt_mm) if not math.isfinite(v)]


def measure_series(series: str | Path, out: str | Path, *, variant: str | None = None,
                   degree: int | None = None) -> SaxOutcome:
    """Segment the series (a folder of DICOM files, a multi-frame file or one image), write masks + indices.csv."""
    from device.lv.dicom_io import read_frames
    from device.lv.phase import DEFAULT_DEGREE
    from device.lv.sax import measure_sax_series
    from device.lv.segment import load_lv_model

    frames = read_frames(str(series))
    if degree is not None and degree < 1:
        raise InputError(f"--degree must be at least 1; got {degree}")
    result = measure_sax_series(frames, load_lv_model("sax", variant), degree or DEFAULT_DEGREE)
    measured = [r for r in result.frames if r.indices is not None]
    if not measured:   # a refused series writes nothing (no masks, no indices.csv, no volumes.csv)
        first = next((r.reason for r in result.frames if r.reason), "")
        raise InputError(f"no frame of the {len(result.frames)} could be measured ({first or 'no LV found'}); "
                         "nothing was written: give a short-axis cine MR series through the left ventricle")
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the output folder {out} ({exc.strerror}); choose another --out") from None
    n_in_file = {str(f.file.name): f.n_frames_in_file for f in frames}
    rows, failures, n_without = [], [], 0
    for r in result.frames:
        name = mask_name(r.file, r.frame, n_in_file[r.file])
        if not cv2.imwrite(str(out / name), r.mask):
            raise InputError(f"cannot write {out / name}; check the output folder")
        row = {"file": r.file, "frame": r.frame, "phase": r.phase}
        if r.indices is not None:
            cells, open_segments = index_cells(r.indices)
            row.update(cells)
            if open_segments:
                failures.append(f"{r.file} frame {r.frame}: wall thickness not measurable in segment(s) "
                                f"{', '.join(open_segments)} (the myocardial ring is open there); check the mask")
        else:
            n_without += 1
            failures.append(f"{r.file} frame {r.frame}: no wall indices - {r.reason}")
            if r.cavity_area_mm2:
                row["cavity_area_mm2"] = f"{r.cavity_area_mm2:.2f}"
        rows.append(row)
    with open(out / "indices.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS, restval="")
        w.writeheader()
        w.writerows(rows)
    volumes, why = None, ""
    try:
        volumes = _volumes(frames, result.frames)
    except InputError as exc:
        why = str(exc)
    if volumes is not None:
        with open(out / "volumes.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(volumes.as_row()))
            w.writeheader()
            w.writerow(volumes.as_row())
    return SaxOutcome(len(rows), len(rows) - n_without,
                      tuple(f"{r.file}#{r.frame}" for r in result.frames if r.is_ed),
                      tuple(f"{r.file}#{r.frame}" for r in result.frames if r.is_es), tuple(failures),
                      result.model_tag, out / "indices.csv", volumes, why)


def _volumes(frames, results) -> StackVolumes:
    """EDV/ESV/EF of the stack: each image's slice position, its phase (its order within its slice's cine; the
    frames come sorted by slice, then time) and its cavity area."""
    from device.lv.sax_volumes import positions_mm

    seen: dict[float | None, int] = {}
    phases, areas = [], []
    for fr, r in zip(frames, results):
        key = round(fr.slice_location, 1) if fr.slice_location is not None else None
        phases.append(seen.get(key, 0))
        seen[key] = phases[-1] + 1
        areas.append(r.cavity_area_mm2)
    return stack_volumes(positions_mm(frames), phases, areas)
