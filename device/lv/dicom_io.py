"""Reading DICOM images for LV measurement: short-axis series (a folder, a multi-frame file, one image) and echo
clips, with their pixel calibration. The only file-reading module of device/lv; everything else is pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError

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


def _spacing(ds) -> tuple[float, float] | None:
    for holder in (ds, *(getattr(ds, "SharedFunctionalGroupsSequence", None) or [])):
        ps = getattr(holder, "PixelSpacing", None)
        if ps is None:
            pm = getattr(holder, "PixelMeasuresSequence", None)
            ps = getattr(pm[0], "PixelSpacing", None) if pm else None
        if ps is not None and len(ps) == 2 and all(float(v) > 0 for v in ps):
            return float(ps[0]), float(ps[1])
    regions = getattr(ds, "SequenceOfUltrasoundRegions", None)
    if regions:
        for r in regions:
            ux, uy = getattr(r, "PhysicalUnitsXDirection", None), getattr(r, "PhysicalUnitsYDirection", None)
            dx, dy = getattr(r, "PhysicalDeltaX", None), getattr(r, "PhysicalDeltaY", None)
            if ux == 3 and uy == 3 and dx and dy and float(dx) > 0 and float(dy) > 0:   # 3 = cm
                return abs(float(dy)) * 10.0, abs(float(dx)) * 10.0
    return None


def _read(path: Path):
    try:
        return pydicom.dcmread(path)
    except (InvalidDicomError, OSError, ValueError, EOFError) as exc:
        raise InputError(f"{path.name} is not a readable DICOM file ({exc.__class__.__name__}); "
                         "check the file or export it again") from None


def _pixels(ds, path: Path) -> np.ndarray:
    try:
        arr = ds.pixel_array
    except Exception as exc:  # noqa: BLE001 - pydicom raises many kinds for broken or unsupported pixel data
        raise InputError(f"{path.name}: the pixel data cannot be decoded ({exc}); it may be corrupt or use an "
                         "unsupported compression") from None
    # pydicom 3 already returns RGB for YBR photometric interpretations (as_rgb=True); palettes need applying
    if getattr(ds, "PhotometricInterpretation", "") == "PALETTE COLOR":
        from pydicom.pixels import apply_color_lut
        arr = apply_color_lut(arr, ds)
    return np.asarray(arr)


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
            except (InvalidDicomError, OSError, ValueError, EOFError):
                skipped += 1
                continue
        else:
            ds = _read(f)
        if "PixelData" not in ds:
            skipped += 1
            continue
        arr = _pixels(ds, f)
        n = int(getattr(ds, "NumberOfFrames", 1) or 1)
        if n == 1:
            arr = arr[None]
        iop = getattr(ds, "ImageOrientationPatient", None)
        desc = " ".join(str(getattr(ds, k, "") or "") for k in ("SeriesDescription", "ProtocolName")).strip()
        loc = getattr(ds, "SliceLocation", None)
        trig = getattr(ds, "TriggerTime", None)
        for i in range(arr.shape[0]):
            fr = ImageFrame(arr[i].astype(np.float32), f, i, n, _spacing(ds),
                            tuple(float(v) for v in iop) if iop is not None else None,
                            float(loc) if loc is not None else None, float(trig) if trig is not None else None, desc)
            key = (fr.slice_location if fr.slice_location is not None else 0.0,
                   fr.trigger_time_ms if fr.trigger_time_ms is not None else 0.0,
                   int(getattr(ds, "InstanceNumber", 0) or 0), i)
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
