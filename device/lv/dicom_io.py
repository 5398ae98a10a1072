"""Reading DICOM images for LV measurement: short-axis series (a folder, a multi-frame file, one image) and echo
clips, with their pixel calibration. The only file-reading module of device/lv; everything else is pure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom

from device.errors import InputError

_LAX_WORDS = ("lax", "2ch", "3ch", "4ch", "long axis", "2 ch", "4 ch", "2-chamber", "4-chamber", "lvot")


@dataclass(frozen=True)
class ImageFrame:
    """One 2-D frame of a series: pixels (H, W) float32 (or (H, W, 3) for colour), where it came from, geometry."""

    pixels: np.ndarray
    file: Path
    frame: int                       # index inside a multi-frame file, else 0
    n_frames_in_file: int
    spacing_rc: tuple[float, float] | None
    orientation: tuple[float, ...] | None
    slice_location: float | None
    trigger_time_ms: float | None
    description: str
    position_mm: float | None = None  # distance along the slice normal: ImagePositionPatient . (row x column cosines)


def _get(holder, name: str):
    """An attribute of a dataset, or None when it is absent or its stored text cannot be converted."""
    try:
        return getattr(holder, name, None)
    except Exception:  # noqa: BLE001 - pydicom converts on access: ValueError, TypeError, struct.error...
        return None


def _spacing(ds) -> tuple[float, float] | None:
    for holder in (ds, *(_get(ds, "SharedFunctionalGroupsSequence") or [])):
        ps = _get(holder, "PixelSpacing")
        if ps is None:
            pm = _get(holder, "PixelMeasuresSequence")
            ps = _get(pm[0], "PixelSpacing") if pm else None
        vals = _floats(ps, 2) if ps is not None else None
        if vals is not None and min(vals) > 0:
            return vals[0], vals[1]
    regions = _get(ds, "SequenceOfUltrasoundRegions")
    if regions:
        for r in regions:
            ux, uy = _get(r, "PhysicalUnitsXDirection"), _get(r, "PhysicalUnitsYDirection")
            dx, dy = _float(_get(r, "PhysicalDeltaX")), _float(_get(r, "PhysicalDeltaY"))
            if ux == 3 and uy == 3 and dx and dy and dx > 0 and dy > 0:   # 3 = cm
                return abs(dy) * 10.0, abs(dx) * 10.0
    return None


def _read(path: Path):
    try:
        return pydicom.dcmread(path)
    except Exception as exc:  # noqa: BLE001 - damaged files give InvalidDicomError, struct.error, MemoryError...
        raise InputError(f"{path.name} is not a readable DICOM file ({exc.__class__.__name__}); "
                         "check the file or export it again") from None


def _float(v) -> float | None:
    """A finite number from a DS/IS value, or None when it is absent, multi-valued or not a number."""
    try:
        f = float(v)
    except (TypeError, ValueError, OverflowError):
        return None
    return f if math.isfinite(f) else None


def _floats(v, n: int | None = None) -> tuple[float, ...] | None:
    """A tuple of finite numbers from a multi-valued DS, or None when a value is bad (or there are not ``n``)."""
    try:
        vals = [_float(x) for x in v]
    except TypeError:
        return None
    if not vals or any(x is None for x in vals) or (n is not None and len(vals) != n):
        return None
    return tuple(vals)  # type: ignore[arg-type]


def _pixels(ds, path: Path) -> np.ndarray:
    try:
        arr = ds.pixel_array
        # pydicom 3 already returns RGB for YBR photometric interpretations (as_rgb=True); palettes need applying
        if _get(ds, "PhotometricInterpretation") == "PALETTE COLOR":
            from pydicom.pixels import apply_color_lut
            arr = apply_color_lut(arr, ds)
    except Exception as exc:  # noqa: BLE001 - pydicom raises many kinds for broken or unsupported pixel data
        raise InputError(f"{path.name}: the pixel data cannot be decoded ({exc}); it may be corrupt or use an "
                         "unsupported compression") from None
    return np.asarray(arr)


def slice_position(iop: tuple[float, ...] | None, ipp) -> float | None:
    """Where a slice lies along its normal (mm): ImagePositionPatient projected on row x column direction cosines.
    SliceLocation is not that for an oblique short-axis stack (Sunnybrook: SliceLocation 6.7 mm apart, positions
    10 mm apart = SpacingBetweenSlices), so slice gaps for volumes come from here when every image has it."""
    p = _floats(ipp, 3) if ipp is not None else None
    if iop is None or p is None:
        return None
    normal = np.cross(np.asarray(iop[:3]), np.asarray(iop[3:]))
    if not 0.9 < float(np.linalg.norm(normal)) < 1.1:
        return None
    return round(float(np.dot(np.asarray(p), normal)), 3)


def read_frames(path: str | Path) -> list[ImageFrame]:
    """All frames of one DICOM file or of every DICOM file in a folder (sorted by slice, then time, then number).

    Raises InputError when the path does not exist, holds no DICOM images, or a file is corrupt.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p} does not exist; give a DICOM file or a folder of DICOM files")
    files = sorted(f for f in p.iterdir() if f.is_file()) if p.is_dir() else [p]
    frames: list[tuple[tuple, ImageFrame]] = []
    skipped = 0
    for f in files:
        if p.is_dir():
            try:
                ds = pydicom.dcmread(f)
            except Exception:  # noqa: BLE001 - not DICOM, or damaged (see _read): skipped like any other file
                skipped += 1
                continue
        else:
            ds = _read(f)
        if "PixelData" not in ds:
            skipped += 1
            continue
        arr = _pixels(ds, f)
        if arr.ndim == 2 or (arr.ndim == 3 and arr.shape[:2] == (_get(ds, "Rows"), _get(ds, "Columns"))
                             and (_float(_get(ds, "SamplesPerPixel")) or 1) > 1):
            arr = arr[None]   # one frame (grey, or colour with samples last)
        if arr.ndim not in (3, 4) or 0 in arr.shape:
            raise InputError(f"{f.name}: the image data has shape {arr.shape}, not frames of rows x columns; "
                             "export the series again")
        n = arr.shape[0]
        iop = _get(ds, "ImageOrientationPatient")
        desc = " ".join(str(_get(ds, k) or "") for k in ("SeriesDescription", "ProtocolName")).strip()
        loc = _get(ds, "SliceLocation")
        trig = _get(ds, "TriggerTime")
        spacing, number = _spacing(ds), _float(_get(ds, "InstanceNumber")) or 0.0
        pos = slice_position(_floats(iop, 6) if iop is not None else None, _get(ds, "ImagePositionPatient"))
        loc_mm = _float(loc) if _float(loc) is not None else pos   # no SliceLocation: the position names the slice
        for i in range(arr.shape[0]):
            fr = ImageFrame(arr[i].astype(np.float32), f, i, n, spacing,
                            _floats(iop, 6) if iop is not None else None, loc_mm, _float(trig), desc, pos)
            key = (fr.slice_location if fr.slice_location is not None else 0.0,
                   fr.trigger_time_ms if fr.trigger_time_ms is not None else 0.0, number, i)
            frames.append((key, fr))
    if not frames:
        raise InputError(f"no DICOM images found in {p}" + (f" ({skipped} other files skipped)" if skipped else ""))
    frames.sort(key=lambda kv: kv[0])
    return [fr for _, fr in frames]


def check_short_axis_description(frames: list[ImageFrame]) -> None:
    """Refuse series whose description names a long-axis view (2CH, 4CH, LAX, ...)."""
    for fr in frames:
        d = fr.description.lower()
        if any(w in d for w in _LAX_WORDS) and "sax" not in d and "short" not in d:
            raise InputError(f"the series '{fr.description}' is a long-axis view, not short-axis; "
                             "give a short-axis (SAX) series")
