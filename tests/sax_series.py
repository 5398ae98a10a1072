"""A small synthetic short-axis MR cine stack as DICOM files (the beating phantom of device.lv.phantom at a few slice
positions, the LV narrowing towards the apex), for the SAX use case, UI and browser tests. Not real data."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, MRImageStorage, generate_uid

from device.lv.phantom import sax_cine

RADII_MM = (26.0, 24.0, 21.0, 17.0)   # base -> apex
GAP_MM = 10.0
MM_PER_PX = 1.5


IOP = (1.0, 0.0, 0.0, 0.0, 0.8, -0.6)       # an oblique short-axis plane; its normal is (0, 0.6, 0.8)


def _ds(pixels: np.ndarray, modality: str = "MR", desc: str = "SAX cine", loc: float | None = 0.0,
        trigger: float = 0.0, number: int = 1, spacing=(MM_PER_PX, MM_PER_PX), study: str = "", series: str = "",
        ipp: tuple[float, float, float] | None = None):
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    sop = MRImageStorage if modality == "MR" else CTImageStorage
    ds.file_meta.MediaStorageSOPClassUID = sop
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = sop, ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.SeriesDescription, ds.InstanceNumber = modality, desc, number
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study or generate_uid(), series or generate_uid()
    arr = np.clip(pixels, 0, 4000).astype(np.uint16)
    ds.Rows, ds.Columns = arr.shape[-2:]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    if spacing is not None:
        ds.PixelSpacing = list(spacing)
    ds.SliceThickness = 8.0
    ds.ImageOrientationPatient = list(IOP)
    if loc is not None:
        ds.SliceLocation = loc
    if ipp is not None:
        ds.ImagePositionPatient = [round(v, 3) for v in ipp]
    ds.TriggerTime = trigger
    ds.PixelData = arr.tobytes()
    return ds


def sax_files(n_phases: int = 6, size: int = 128, radii_mm=RADII_MM, seed: int = 0, positions: bool = False,
              location_scale: float | None = 1.0, **kw) -> list[tuple[str, bytes]]:
    """(file name, DICOM bytes) of a stack: len(radii_mm) slices x n_phases frames, one file per frame, GAP_MM apart.
    ``positions``: ImagePositionPatient along the plane's normal; ``location_scale``: SliceLocation = that times the
    true position (a scanner's table-axis projection; None: no SliceLocation)."""
    study, series = generate_uid(), generate_uid()
    out = []
    n = 0
    for s, r in enumerate(radii_mm):
        frames, _ = sax_cine(n_phases, size, MM_PER_PX, r_ed_mm=r, wall_ed_mm=8.0, seed=seed + s)
        for k, f in enumerate(frames):
            n += 1
            buf = io.BytesIO()
            ipp = tuple(np.array([-90.0, -60.0, 20.0]) + s * GAP_MM * np.array([0.0, 0.6, 0.8])) if positions else None
            loc = None if location_scale is None else s * GAP_MM * location_scale
            _ds(f, loc=loc, trigger=k * 40.0, number=n, study=study, series=series, ipp=ipp, **kw).save_as(
                buf, enforce_file_format=True)
            out.append((f"IM{n:04d}.dcm", buf.getvalue()))
    return out


def sax_zip(path: Path | None = None, **kw) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in sax_files(**kw):
            zf.writestr(f"series/{name}", data)
    if path is not None:
        Path(path).write_bytes(buf.getvalue())
    return buf.getvalue()


def single_file(modality: str = "US", desc: str = "", size: int = 128) -> bytes:
    """One DICOM image of another kind (an echo frame, a chest CT slice) that the SAX upload must refuse."""
    rng = np.random.default_rng(1)
    buf = io.BytesIO()
    _ds(rng.uniform(0, 500, (size, size)), modality=modality, desc=desc, loc=None).save_as(
        buf, enforce_file_format=True)
    return buf.getvalue()
