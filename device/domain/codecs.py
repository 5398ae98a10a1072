"""Codecs for records that cross a process or storage boundary as bytes: the clip blob (what the live loop saves
and the measurement job, the report and the echo page read). The live state codec is ``device.domain.live``.

A clip is a compressed .npz with ``frames`` (T, H, W[, 3]) uint8 and ``fps`` (float32): lossless and numpy-only to
read, never pickled.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass

import numpy as np

CLIP_MEDIA = "application/x-cardiocart-clip+npz"
CLIP_MEDIA_TYPES = (CLIP_MEDIA, "video/x-npz")       # the second: clips stored by early versions


class ClipCodecError(ValueError):
    """Bytes that are not a readable clip."""


@dataclass(frozen=True)
class Clip:
    """``frames`` (T, H, W) or (T, H, W, 3) uint8, T >= 1; ``fps`` frames per second (0 when unknown)."""

    frames: np.ndarray
    fps: float


def encode_clip(frames: np.ndarray, fps: float) -> bytes:
    """``frames`` (T, H, W[, 3]) uint8 and ``fps`` as clip bytes."""
    buf = io.BytesIO()
    np.savez_compressed(buf, frames=np.asarray(frames, dtype=np.uint8), fps=np.float32(fps))
    return buf.getvalue()


def decode_clip(data: bytes) -> Clip:
    """The clip in ``data``. Raises :class:`ClipCodecError` (saying what is wrong) for anything else."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            frames = np.asarray(z["frames"])
            fps = float(z["fps"]) if "fps" in z.files else 0.0
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise ClipCodecError(f"not a clip ({exc})") from None
    if frames.ndim not in (3, 4) or len(frames) == 0 or frames.dtype != np.uint8 or \
            (frames.ndim == 4 and frames.shape[3] != 3):
        raise ClipCodecError(f"clip frames have shape {frames.shape} {frames.dtype}; (T, H, W[, 3]) uint8 expected")
    return Clip(frames, fps if np.isfinite(fps) and fps >= 0 else 0.0)
