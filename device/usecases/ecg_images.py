"""Image and file helpers of the ECG reading use case: what an upload is (by its first bytes), decoding it, and the
encoded previews, overlay, traces and signal stored with a reading."""

from __future__ import annotations

import json
import tempfile

import cv2
import numpy as np

from device.domain.codecs import encode_signal
from device.errors import InputError, UserError

_MAGIC = ((b"\x89PNG\r\n\x1a\n", "image/png", ".png"), (b"\xff\xd8\xff", "image/jpeg", ".jpg"),
          (b"II*\x00", "image/tiff", ".tif"), (b"MM\x00*", "image/tiff", ".tif"),
          (b"%PDF-", "application/pdf", ".pdf"), (b"BM", "image/bmp", ".bmp"))


def sniff(data: bytes) -> tuple[str, str]:
    """(media type, file suffix) from the first bytes; ("application/octet-stream", "") when not an image."""
    for magic, media, suffix in _MAGIC:
        if data.startswith(magic):
            return media, suffix
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp", ".webp"
    return "application/octet-stream", ""


def jpeg(rgb: np.ndarray, max_side: int = 0, quality: int = 85) -> tuple[bytes, float]:
    """JPEG bytes of an RGB image (downscaled so its longer side <= max_side when given) and the scale used."""
    h, w = rgb.shape[:2]
    s = min(1.0, max_side / max(h, w)) if max_side else 1.0
    img = cv2.resize(rgb, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA) if s < 1 else rgb
    ok, enc = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise UserError("the preview image could not be encoded")
    return enc.tobytes(), s


def png(rgb: np.ndarray, max_side: int) -> bytes:
    h, w = rgb.shape[:2]
    s = min(1.0, max_side / max(h, w))
    img = cv2.resize(rgb, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA) if s < 1 else rgb
    ok, enc = cv2.imencode(".png", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 6])
    if not ok:
        raise UserError("the overlay image could not be encoded")
    return enc.tobytes()


def npz(signals_mv: np.ndarray, fs_hz: float, leads: tuple[str, ...]) -> bytes:
    """The reading's signal blob (the domain's signal codec)."""
    return encode_signal(signals_mv, fs_hz, leads)


def decode_photo(data: bytes) -> np.ndarray:
    """uint8 (H, W, 3) RGB of an uploaded PNG/JPEG/TIFF/BMP/WebP/PDF (first page). Raises InputError (step load)."""
    from device.ecg.imageio import load_image

    _media, suffix = sniff(data)
    if not suffix:
        raise InputError("the file is not a PNG, JPEG, TIFF or PDF image; photograph or scan the ECG printout and "
                         "upload that file", step="load")
    with tempfile.NamedTemporaryFile(suffix=suffix) as f:
        f.write(data)
        f.flush()
        return load_image(f.name)


def traces_json(reading) -> bytes:
    out = []
    for b, poly in zip(reading.layout.boxes, reading.traces_px):
        p = np.asarray(poly, np.float32)
        step = max(1, int(np.ceil(p.shape[0] / 800)))
        out.append({"lead": b.lead, "points": np.round(p[::step], 1).tolist()})
    return json.dumps(out).encode()
