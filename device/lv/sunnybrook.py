"""Sunnybrook Cardiac Data loader: cine short-axis MR DICOM with expert endocardial/epicardial contours.

Layout (``cardiac-mri-sunnybrook/``): ``dicoms/<patient_id>/<n>.dcm``, ``contourfiles/<original_id>/{i,o}-contours/
IM-0001-NNNN-{i,o}contour-manual.txt`` (x y polygon vertices in pixels; NNNN = the DICOM file number) and
``link.csv`` (patient_id, original_id). CC0 1.0.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pydicom

from device.errors import InputError
from device.lv import CAVITY, MYOCARDIUM

UNKNOWN_NOT_CAVITY = 255  # label value for pixels known not to be cavity but of unknown class (no epicardial contour)


@dataclass(frozen=True)
class LabelledSlice:
    """One expert-contoured image.

    image: (H, W) float32 raw MR signal; label: (H, W) uint8 with 1 cavity, 2 myocardium, 0 background, or 255
    outside the cavity where there is no epicardial contour; spacing_rc: (row, col) mm per pixel.
    """

    patient: str
    dicom: Path
    image: np.ndarray
    label: np.ndarray
    has_myo: bool
    spacing_rc: tuple[float, float]
    orientation: tuple[float, ...]
    slice_location: float
    trigger_time_ms: float


def _polygon(path: Path) -> np.ndarray:
    pts = np.loadtxt(path, dtype=np.float64).reshape(-1, 2)
    if len(pts) < 3:
        raise InputError(f"contour {path} has fewer than 3 points")
    return pts


def polygon_mask(pts_xy: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Boolean (H, W) mask of a closed polygon of (x, y) pixel-coordinate vertices (pixel centres at integers)."""
    m = np.zeros(shape, np.uint8)
    cv2.fillPoly(m, [np.round(pts_xy * 16).astype(np.int32).reshape(-1, 1, 2)], 1, shift=4)
    return m.astype(bool)


def patients(root: Path) -> dict[str, str]:
    """patient_id -> original_id from link.csv."""
    with open(root / "link.csv", newline="") as f:
        return {r["patient_id"]: r["original_id"] for r in csv.DictReader(f)}


def load_patient(root: Path, patient_id: str) -> list[LabelledSlice]:
    """Every contoured image of one patient (sorted by file number)."""
    original = patients(root)[patient_id]
    cdir = root / "contourfiles" / original
    out = []
    for ipath in sorted((cdir / "i-contours").glob("IM-0001-*-icontour-manual.txt")):
        num = int(re.search(r"IM-0001-(\d+)-", ipath.name).group(1))
        dcm_path = root / "dicoms" / patient_id / f"{num}.dcm"
        ds = pydicom.dcmread(dcm_path)
        img = ds.pixel_array.astype(np.float32)
        cav = polygon_mask(_polygon(ipath), img.shape)
        opath = cdir / "o-contours" / ipath.name.replace("icontour", "ocontour")
        label = np.where(cav, CAVITY, UNKNOWN_NOT_CAVITY).astype(np.uint8)
        has_myo = opath.exists()
        if has_myo:
            epi = polygon_mask(_polygon(opath), img.shape)
            label = np.zeros(img.shape, np.uint8)
            label[epi] = MYOCARDIUM
            label[cav] = CAVITY
        sp = tuple(float(v) for v in ds.PixelSpacing)
        out.append(LabelledSlice(patient_id, dcm_path, img, label, has_myo, (sp[0], sp[1]),
                                 tuple(float(v) for v in ds.ImageOrientationPatient), float(ds.SliceLocation),
                                 float(getattr(ds, "TriggerTime", 0.0) or 0.0)))
    return out


def load_all(root: Path) -> dict[str, list[LabelledSlice]]:
    """All patients: patient_id -> contoured slices."""
    return {p: load_patient(root, p) for p in sorted(patients(root))}
