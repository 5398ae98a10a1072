"""What every frame source yields, and the errors a source can raise.

A source is an iterable of `SourceFrame`s with ``open()``/``close()`` (also a context manager). Live sources stamp
frames with ``time.monotonic_ns()`` at capture; file sources pace themselves at the file's native rate when
``realtime`` is set, and otherwise run as fast as they are read.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from device.errors import InputError


class SourceLost(InputError):
    """The source stopped delivering frames (cable pulled, device gone) and could not be reopened."""


@dataclass(frozen=True)
class SourceFrame:
    """One captured frame.

    t_mono_ns: monotonic capture time (ns); pixels: (H, W, 3) uint8 RGB; index: frame number from this source;
    source: what produced it (e.g. ``"dicom:cine.dcm"``); mm_per_px: pixel size inside the image when the source
    knows it (DICOM regions, simulator), else None; sector_bbox: (x0, y0, x1, y1) of the imaging area when known;
    fps: the source's nominal frame rate; truth: simulator ground truth (`device.sim.echo_probe.EchoTruth`) or None.
    """

    t_mono_ns: int
    pixels: np.ndarray
    index: int
    source: str
    mm_per_px: float | None = None
    sector_bbox: tuple[int, int, int, int] | None = None
    fps: float | None = None
    truth: Any = field(default=None, repr=False)


class Source(Protocol):
    name: str

    def open(self) -> None: ...

    def close(self) -> None: ...

    def __iter__(self) -> Iterator[SourceFrame]: ...


class OpenCloseContext:
    """``with source:`` opens it and closes it, for every source that has ``open()`` and ``close()``."""

    def open(self) -> None:  # pragma: no cover - every source defines it
        raise NotImplementedError

    def close(self) -> None:  # pragma: no cover - every source defines it
        raise NotImplementedError

    def __enter__(self):
        self.open()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def to_rgb(img: np.ndarray) -> np.ndarray:
    """(H, W) grey, (H, W, 3) or (H, W, 4) uint8 -> (H, W, 3) uint8 RGB (channel order kept)."""
    a = np.asarray(img)
    if a.dtype != np.uint8:
        lo, hi = float(a.min()), float(a.max())
        a = ((a - lo) / (hi - lo) * 255 if hi > lo else np.zeros_like(a)).astype(np.uint8)
    if a.ndim == 2:
        return np.repeat(a[:, :, None], 3, axis=2)
    if a.shape[2] == 4:
        return np.ascontiguousarray(a[:, :, :3])
    if a.shape[2] == 1:
        return np.repeat(a, 3, axis=2)
    return a


class Pacer:
    """Sleeps so that frames come out at `fps` (for file replay at the native rate)."""

    def __init__(self, fps: float):
        self.period_ns = int(1e9 / fps) if fps > 0 else 0
        self._next = time.monotonic_ns()

    def wait(self) -> int:
        now = time.monotonic_ns()
        if self.period_ns:
            if self._next > now:
                time.sleep((self._next - now) / 1e9)
            self._next = max(self._next + self.period_ns, now - self.period_ns)
        return time.monotonic_ns()
