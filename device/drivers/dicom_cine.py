"""DICOM ultrasound (single or multi-frame, uncompressed, RLE or JPEG-compressed) replayed as a frame source.

Pixel size and the imaging area come from the Sequence of Ultrasound Regions when present.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from device.drivers.base import OpenCloseContext, Pacer, SourceFrame, to_rgb
from device.echo.screen import dicom_region_mm_per_px
from device.errors import InputError


def read_dicom(path: Path):
    """The dataset of a DICOM file with pixel data; InputError (what to do) when it is not one."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(str(path))
    except (InvalidDicomError, OSError, ValueError, EOFError, KeyError, TypeError) as exc:
        raise InputError(f"{Path(path).name} is not a readable DICOM file ({exc}); export it again from the "
                         "ultrasound machine") from exc
    except Exception as exc:  # noqa: BLE001 - damaged files also give struct.error, zlib.error, MemoryError...
        raise InputError(f"{Path(path).name} is not a readable DICOM file ({exc}); export it again from the "
                         "ultrasound machine") from exc
    if "PixelData" not in ds:
        raise InputError(f"{Path(path).name} has no image (no Pixel Data); choose an ultrasound image or cine")
    return ds


def dicom_fps(ds) -> float:
    """Frame rate from FrameTime (ms), CineRate or RecommendedDisplayFrameRate; 30 when none is stated."""
    for key, conv in (("FrameTime", lambda v: 1000.0 / float(v)), ("CineRate", float),
                      ("RecommendedDisplayFrameRate", float)):
        try:
            v = ds.get(key)
            if v is not None and float(v) > 0 and np.isfinite(fps := float(conv(v))) and fps <= 1000:
                return fps
        except Exception:  # noqa: BLE001 - bad text, an unknown VR (NotImplementedError), 0 ms: use the next one
            continue
    return 30.0


def dicom_regions(ds) -> tuple[float | None, tuple[int, int, int, int] | None]:
    """(mm/px, bbox) from the Sequence of Ultrasound Regions, or (None, None)."""
    try:
        seq = ds.get("SequenceOfUltrasoundRegions")
        if not seq:
            return None, None
        items = []
        for it in seq:
            items.append({k: it.get(k) for k in ("RegionSpatialFormat", "PhysicalUnitsXDirection", "PhysicalDeltaX",
                                                 "PhysicalDeltaY", "RegionLocationMinX0", "RegionLocationMinY0",
                                                 "RegionLocationMaxX1", "RegionLocationMaxY1")
                          if it.get(k) is not None})
        got = dicom_region_mm_per_px(items)
    except Exception:  # noqa: BLE001 - tags whose text, VR or multiplicity cannot be used: no calibration
        return None, None
    return (got[0], got[1]) if got else (None, None)


def iter_dicom_frames(ds, path: Path) -> Iterator[np.ndarray]:
    """RGB frames (H, W, 3) uint8 of a dataset, decoded one at a time."""
    try:
        arr = ds.pixel_array
        photometric = str(ds.get("PhotometricInterpretation", ""))
        if photometric == "PALETTE COLOR":
            from pydicom.pixels import apply_color_lut

            arr = apply_color_lut(arr, ds)
            if arr.dtype != np.uint8:
                arr = (arr >> 8).astype(np.uint8) if arr.max() > 255 else arr.astype(np.uint8)
        colour = photometric == "PALETTE COLOR" or int(ds.get("SamplesPerPixel", 1) or 1) > 1
        one_frame = arr.ndim == 2 or (colour and arr.ndim == 3 and arr.shape[:2] == (ds.get("Rows"), ds.get("Columns")))
    except Exception as exc:  # noqa: BLE001 - pydicom raises many kinds for damaged or unsupported pixel data
        raise InputError(f"the image data of {Path(path).name} cannot be decoded ({exc}); the file is damaged "
                         "or uses an unsupported compression") from exc
    if one_frame:
        arr = arr[None]
    if arr.ndim not in (3, 4) or 0 in arr.shape or (arr.ndim == 4 and arr.shape[3] not in (1, 3, 4)):
        raise InputError(f"the image data of {Path(path).name} has shape {arr.shape}, not frames of rows x columns; "
                         "export it again from the ultrasound machine")
    for f in arr:
        if photometric == "MONOCHROME1":
            f = f.max() - f
        yield to_rgb(f)


class DicomCineSource(OpenCloseContext):
    """Replay a DICOM image or cine. `loop` repeats it; `realtime` paces frames at the file's frame rate."""

    name = "dicom"

    def __init__(self, path: str | Path, loop: bool = False, realtime: bool = True, **_ignored):
        self.path = Path(path)
        self.loop = loop
        self.realtime = realtime
        self.ds = None
        self.fps = 30.0
        self.mm_per_px: float | None = None
        self.bbox: tuple[int, int, int, int] | None = None

    def open(self) -> None:
        if not self.path.is_file():
            raise InputError(f"DICOM file {self.path} does not exist; check the path in [capture] path")
        self.ds = read_dicom(self.path)
        self.fps = dicom_fps(self.ds)
        self.mm_per_px, self.bbox = dicom_regions(self.ds)

    def close(self) -> None:
        self.ds = None

    def __iter__(self) -> Iterator[SourceFrame]:
        if self.ds is None:
            self.open()
        pacer = Pacer(self.fps if self.realtime else 0)
        i = 0
        while True:
            for f in iter_dicom_frames(self.ds, self.path):
                t = pacer.wait()
                yield SourceFrame(t, f, i, f"dicom:{self.path.name}", self.mm_per_px, self.bbox, self.fps)
                i += 1
            if not self.loop:
                return
