"""Open any echo file the CLI or a training recipe is given: a still image, a video, or a DICOM image/cine."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from device.drivers.base import SourceFrame
from device.drivers.dicom_cine import DicomCineSource
from device.drivers.video_file import VideoFileSource
from device.errors import InputError

IMAGE_EXT = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}


def file_kind(path: Path) -> str:
    """'dicom', 'image' or 'video' by content (DICOM preamble) then suffix; InputError when unreadable."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path} does not exist or is not a file; check the path")
    with path.open("rb") as fh:
        head = fh.read(132)
    if head[128:132] == b"DICM" or path.suffix.lower() in (".dcm", ".dicom"):
        return "dicom"
    if path.suffix.lower() in IMAGE_EXT:
        return "image"
    return "video"


class ImageSource:
    """A single still image as a one-frame source."""

    name = "image"

    def __init__(self, path: Path):
        self.path = Path(path)
        self.rgb: np.ndarray | None = None

    def open(self) -> None:
        from device.limits import check_image_file

        check_image_file(self.path)  # header size before decoding (a PNG bomb), a cut JPEG or PNG refused
        try:
            bgr = cv2.imread(str(self.path), cv2.IMREAD_COLOR)
        except cv2.error:  # a header declaring more pixels than OpenCV accepts, or too little memory for them
            bgr = None
        if bgr is None:
            raise InputError(f"{self.path.name} is not a readable image; use PNG or JPEG")
        self.rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def close(self) -> None:
        self.rgb = None

    def __iter__(self) -> Iterator[SourceFrame]:
        if self.rgb is None:
            self.open()
        assert self.rgb is not None
        yield SourceFrame(time.monotonic_ns(), self.rgb, 0, f"image:{self.path.name}")


def open_file_source(path: str | Path, realtime: bool = False, loop: bool = False):
    """A source for an image, video or DICOM file (not yet opened)."""
    path = Path(path)
    kind = file_kind(path)
    if kind == "dicom":
        return DicomCineSource(path, loop=loop, realtime=realtime)
    if kind == "image":
        return ImageSource(path)
    return VideoFileSource(path, loop=loop, realtime=realtime)


def iter_file_frames(path: str | Path) -> Iterator[SourceFrame]:
    """Every frame of a file, as fast as it decodes."""
    src = open_file_source(path)
    src.open()
    try:
        yield from src
    finally:
        src.close()


def read_any_frames(path: str | Path, max_frames: int) -> list[np.ndarray]:
    """Up to max_frames evenly spaced RGB frames (H, W, 3) uint8 of an image, video or DICOM file."""
    frames = [f.pixels for f in iter_file_frames(path)]
    if len(frames) <= max_frames:
        return frames
    idx = np.linspace(0, len(frames) - 1, max_frames).round().astype(int)
    return [frames[i] for i in idx]
