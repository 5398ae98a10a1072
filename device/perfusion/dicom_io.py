"""DICOM NM / PET perfusion volumes: one multi-frame file (NM tomo, enhanced PET) or a folder of single slices.

Orientation: the slice normal from ImageOrientationPatient (top level, NM Detector Information Sequence, or the
enhanced Plane Orientation Sequence). A normal along the patient's head-foot axis means transaxial slices; an
oblique normal, or ImageType / SeriesDescription naming short axis, means a short-axis reformat.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from device.errors import InputError
from device.perfusion.io import PerfusionVolume, _voxel, check_counts

_SUPPORTED = {"NM", "PT"}


def _read(path: Path):  # noqa: ANN202 - pydicom Dataset
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        return pydicom.dcmread(str(path))
    except (InvalidDicomError, OSError, ValueError, EOFError, AttributeError) as exc:
        raise InputError(f"{Path(path).name}: not a readable DICOM file ({exc.__class__.__name__}); give an NM or PET series") \
            from None
    except Exception as exc:  # noqa: BLE001 - damaged files also give struct.error, zlib.error, MemoryError...
        raise InputError(f"{Path(path).name}: not a readable DICOM file ({exc.__class__.__name__}); give an NM or PET series") \
            from None


def _iop(ds) -> np.ndarray | None:  # noqa: ANN001
    for holder in (ds, *(getattr(ds, "DetectorInformationSequence", None) or [])[:1]):
        v = getattr(holder, "ImageOrientationPatient", None)
        if v is not None and len(v) == 6:
            return np.asarray(v, np.float64)
    shared = getattr(ds, "SharedFunctionalGroupsSequence", None)
    if shared:
        po = getattr(shared[0], "PlaneOrientationSequence", None)
        if po and getattr(po[0], "ImageOrientationPatient", None) is not None:
            return np.asarray(po[0].ImageOrientationPatient, np.float64)
    return None


def _pixels(ds, src: str) -> np.ndarray:  # noqa: ANN001
    try:
        arr = ds.pixel_array
    except Exception as exc:  # pydicom raises many types for missing/undecodable pixel data
        raise InputError(f"{Path(src).name}: pixel data cannot be decoded ({exc.__class__.__name__}); export uncompressed or "
                         "JPEG-lossless DICOM") from None
    arr = np.asarray(arr, np.float64)
    slope = float(getattr(ds, "RescaleSlope", 1.0) or 1.0)
    inter = float(getattr(ds, "RescaleIntercept", 0.0) or 0.0)
    return arr * slope + inter


def _orientation(ds, iop: np.ndarray | None) -> tuple[str, np.ndarray | None]:  # noqa: ANN001
    kinds = " ".join(str(x) for x in (getattr(ds, "ImageType", []) or []))
    text = f"{kinds} {getattr(ds, 'SeriesDescription', '')}"
    text = text.upper()
    if iop is None:
        if "SHORT" in text or " SA" in f" {text}":
            return "short_axis", None
        return "unknown", None
    row, col = iop[:3] / np.linalg.norm(iop[:3]), iop[3:] / np.linalg.norm(iop[3:])
    normal = np.cross(row, col)
    direction = np.stack([normal, col, row])  # index axes z (slices), y (rows), x (columns)
    if abs(normal[2]) > 0.95 and "SHORT" not in text:
        return "transaxial", direction
    return "short_axis", direction


def _spacing(ds, n_slices: int, positions: np.ndarray | None,  # noqa: ANN001
             normal: np.ndarray | None) -> tuple[float, float, float]:
    ps = getattr(ds, "PixelSpacing", None)
    shared = getattr(ds, "SharedFunctionalGroupsSequence", None)
    if ps is None and shared and getattr(shared[0], "PixelMeasuresSequence", None):
        pm = shared[0].PixelMeasuresSequence[0]
        ps = getattr(pm, "PixelSpacing", None)
    if ps is None:
        raise InputError("the DICOM series has no PixelSpacing; the voxel size is unknown (give a .npz with voxel_mm)")
    dz = None
    if positions is not None and normal is not None and len(positions) > 1:
        d = np.diff(positions @ normal)
        if np.all(np.abs(d) > 1e-3):
            dz = float(np.median(np.abs(d)))
    if dz is None:
        for key in ("SpacingBetweenSlices", "SliceThickness"):
            v = getattr(ds, key, None)
            if v:
                dz = abs(float(v))
                break
    if not dz:
        raise InputError("the DICOM series gives no slice spacing (SpacingBetweenSlices/SliceThickness)")
    return dz, float(ps[0]), float(ps[1])


def load_dicom(path: Path) -> PerfusionVolume:
    """One multi-frame NM/PET file, or a folder holding one series of single-frame slices."""
    try:
        vol = _load_dicom(Path(path))
    except (TypeError, ValueError, IndexError, KeyError, AttributeError, OverflowError, ZeroDivisionError,
            NotImplementedError) as exc:
        # a tag whose stored text pydicom cannot convert, with too few values (PixelSpacing "1", IOP "a\\b") or
        # an unknown VR (NotImplementedError)
        raise InputError(f"{Path(path).name}: a tag of the DICOM series has an unusable value ({exc.__class__.__name__}: "
                         f"{str(exc)[:80]}); export the series again") from None
    _voxel(vol.voxel_mm, vol.source)
    if vol.direction is not None and (not np.all(np.isfinite(vol.direction))
                                      or np.linalg.norm(vol.direction[0]) < 0.5):
        # NaN/zero vectors, or row and column directions (nearly) parallel: no slice normal
        raise InputError(f"{vol.source}: ImageOrientationPatient is not two perpendicular unit vectors; export the "
                         "series again")
    return vol


def _load_dicom(path: Path) -> PerfusionVolume:
    path = Path(path)
    if path.is_dir():
        files = [f for f in sorted(path.rglob("*")) if f.is_file()]
        if not files:
            raise InputError(f"{Path(path).name}: the folder is empty; give a DICOM series folder or file")
        dss = [_read(f) for f in files]
        if len(dss) == 1:
            return _from_single(dss[0], str(files[0]))
        return _from_slices(dss, str(path))
    return _from_single(_read(path), str(path))


def _check_modality(ds, src: str) -> str:  # noqa: ANN001
    mod = str(getattr(ds, "Modality", ""))
    if mod not in _SUPPORTED:
        raise InputError(f"{Path(src).name}: modality '{mod or 'none'}' is not a perfusion study; give an NM (SPECT) or PT (PET) "
                         "series")
    return mod


def _from_single(ds, src: str) -> PerfusionVolume:  # noqa: ANN001
    mod = _check_modality(ds, src)
    arr = _pixels(ds, src)
    if arr.ndim != 3:
        raise InputError(f"{Path(src).name}: one frame only; a perfusion volume needs a multi-frame file or a folder of slices")
    iop = _iop(ds)
    orient, direction = _orientation(ds, iop)
    positions = None
    per = getattr(ds, "PerFrameFunctionalGroupsSequence", None)
    if per and direction is not None:
        try:
            positions = np.array([np.asarray(f.PlanePositionSequence[0].ImagePositionPatient, np.float64) for f in per])
        except (AttributeError, IndexError):
            positions = None
    voxel = _spacing(ds, arr.shape[0], positions, direction[0] if direction is not None else None)
    if positions is not None and direction is not None:
        order = np.argsort(positions @ direction[0])
        arr = arr[order]
    return PerfusionVolume(check_counts(arr, src), voxel, orient, direction, src, mod)


def _from_slices(dss: list, src: str) -> PerfusionVolume:
    mod = _check_modality(dss[0], src)
    uids = {str(getattr(d, "SeriesInstanceUID", "")) for d in dss}
    if len(uids) > 1:
        raise InputError(f"{Path(src).name}: the folder mixes {len(uids)} series; give one series per folder (or --rest FOLDER)")
    iop = _iop(dss[0])
    if iop is None:
        raise InputError(f"{Path(src).name}: slices without ImageOrientationPatient cannot be stacked; export a multi-frame file")
    orient, direction = _orientation(dss[0], iop)
    try:
        pos = np.array([np.asarray(d.ImagePositionPatient, np.float64) for d in dss])
    except AttributeError:
        raise InputError(f"{Path(src).name}: a slice lacks ImagePositionPatient; the series cannot be stacked") from None
    order = np.argsort(pos @ direction[0])
    imgs = [_pixels(dss[i], src) for i in order]
    if len({im.shape for im in imgs}) != 1 or imgs[0].ndim != 2:
        raise InputError(f"{Path(src).name}: slices differ in size or are multi-frame; give one series of equal slices")
    voxel = _spacing(dss[0], len(imgs), pos[order], direction[0])
    return PerfusionVolume(check_counts(np.stack(imgs), src), voxel, orient, direction, src, mod)
