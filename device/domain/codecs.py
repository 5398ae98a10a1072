"""Codecs for records that cross a process or storage boundary as bytes: the clip blob (what the live loop saves
and the measurement job, the report and the echo page read) and the digitised ECG signal blob (what the ECG read job
stores and the report's exports read). The live state codec is ``device.domain.live``.

A clip is a compressed .npz with ``frames`` (T, H, W[, 3]) uint8 and ``fps`` (float32); a signal is a compressed
.npz with ``signals_mv`` (n_samples, n_leads) float32 mV (NaN where a lead was not recorded), ``fs_hz`` and
``leads`` (names). Lossless, numpy-only to read, never pickled.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass

import numpy as np

CLIP_MEDIA = "application/x-cardiocart-clip+npz"
CLIP_MEDIA_TYPES = (CLIP_MEDIA, "video/x-npz")       # the second: clips stored by early versions
SIGNAL_MEDIA = "application/x-cardiocart-signal+npz"
SIGNAL_MEDIA_TYPES = (SIGNAL_MEDIA, "application/x-npz")


class ClipCodecError(ValueError):
    """Bytes that are not a readable clip."""


class SignalCodecError(ValueError):
    """Bytes that are not a readable signal."""


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


@dataclass(frozen=True)
class Signal:
    """``signals_mv`` (n_samples, n_leads) float mV; ``fs_hz`` the sampling rate (None when the blob does not say);
    ``leads`` the lead names (empty when the blob does not say)."""

    signals_mv: np.ndarray
    fs_hz: float | None
    leads: tuple[str, ...]


def encode_signal(signals_mv: np.ndarray, fs_hz: float, leads: tuple[str, ...]) -> bytes:
    """A digitised or recorded signal as bytes (float32 mV)."""
    buf = io.BytesIO()
    np.savez_compressed(buf, signals_mv=np.asarray(signals_mv, np.float32), fs_hz=np.float64(fs_hz),
                        leads=np.array(leads))
    return buf.getvalue()


def decode_signal(data: bytes) -> Signal:
    """The signal in ``data``. Raises :class:`SignalCodecError` (saying what is wrong) for anything else."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            x = np.asarray(z["signals_mv"], dtype=np.float64)
            fs = float(z["fs_hz"]) if "fs_hz" in z.files else None
            leads = tuple(str(s) for s in z["leads"]) if "leads" in z.files else ()
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise SignalCodecError(f"not a signal ({exc})") from None
    if x.ndim != 2:
        raise SignalCodecError(f"signals_mv must be (n_samples, n_leads), got shape {x.shape}")
    if leads and len(leads) != x.shape[1]:
        raise SignalCodecError(f"{len(leads)} lead names for {x.shape[1]} signal columns")
    if fs is not None and not (np.isfinite(fs) and fs > 0):
        raise SignalCodecError(f"fs_hz must be a positive number, got {fs}")
    return Signal(x, fs, leads)
