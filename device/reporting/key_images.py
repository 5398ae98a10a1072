"""Key images of an exam from its captures (frames, photos and the best clip of each view), for kinds whose section
builder gives none. PNGs of decoded clips are kept in a small LRU (web requests run in threads)."""

from __future__ import annotations

import io
import logging
import sqlite3
import threading
from collections import OrderedDict

import numpy as np

from device import i18n
from device.domain.codecs import CLIP_MEDIA_TYPES, decode_clip
from device.errors import UserError
from device.reporting.ecg_readings import excluded_photo_ids
from device.reporting.rows import media_type
from device.reports.model import KeyImage
from device.store import clinical
from device.store.blobs import BlobStore

log = logging.getLogger(__name__)

MAX_KEY_IMAGES = 8
IMAGE_MEDIA = ("image/png", "image/jpeg")


_PNG_CACHE: OrderedDict[str, bytes] = OrderedDict()
_PNG_LOCK = threading.Lock()


def _capture_png(blobs: BlobStore, cap: clinical.Capture, media: str) -> bytes | None:
    """PNG of a frame/photo capture, or of one frame of a clip (``meta['key_frame']`` or the middle one)."""
    from PIL import Image

    cache_key = f"{cap.blob_sha256}:{cap.meta.get('key_frame', '')}"
    with _PNG_LOCK:                      # web requests run in threads: read and trim the LRU under one lock
        if cache_key in _PNG_CACHE:
            _PNG_CACHE.move_to_end(cache_key)
            return _PNG_CACHE[cache_key]
    data = blobs.get(cap.blob_sha256)
    if media in IMAGE_MEDIA:
        with Image.open(io.BytesIO(data)) as im:
            arr = np.asarray(im.convert("L" if im.mode in ("L", "I;16", "1") else "RGB"))
    elif media in CLIP_MEDIA_TYPES:
        frames = decode_clip(data).frames       # ClipCodecError (a ValueError): the caller skips it, logged
        idx = int(cap.meta.get("key_frame", len(frames) // 2))
        arr = np.asarray(frames[min(max(idx, 0), len(frames) - 1)], dtype=np.uint8)
    else:
        return None
    png = KeyImage.from_array(np.ascontiguousarray(arr)).png
    with _PNG_LOCK:
        _PNG_CACHE[cache_key] = png
        while len(_PNG_CACHE) > 64:
            _PNG_CACHE.popitem(last=False)
    return png


def key_images_from_captures(conn: sqlite3.Connection, blobs: BlobStore, exam_id: int,
                             language: str = "en") -> tuple[KeyImage, ...]:
    """Frames and photos, and the best clip of each view (highest quality), as key images; at most
    :data:`MAX_KEY_IMAGES`. A capture with ``meta['key_image'] = false`` is left out; an unreadable one is
    skipped (logged)."""
    best_clip: dict[str, clinical.Capture] = {}
    chosen: list[clinical.Capture] = []
    other_readings = excluded_photo_ids(conn, exam_id)  # photos of ECG readings the report does not use
    for cap in clinical.list_captures(conn, exam_id):
        if cap.meta.get("key_image") is False or cap.id in other_readings:
            continue
        if cap.kind in ("frame", "photo"):
            chosen.append(cap)
        elif cap.kind == "clip":
            prev = best_clip.get(cap.label)
            if prev is None or (cap.quality or 0) > (prev.quality or 0):
                best_clip[cap.label] = cap
    chosen = sorted(chosen + list(best_clip.values()), key=lambda c: c.id)
    out: list[KeyImage] = []
    for cap in chosen:
        if len(out) >= MAX_KEY_IMAGES:
            break
        try:
            png = _capture_png(blobs, cap, media_type(conn, cap.blob_sha256))
        except (OSError, ValueError, KeyError, UserError) as exc:
            log.warning("capture %s cannot be used as a key image: %s", cap.id, exc)
            continue
        if png is None:
            continue
        caption = cap.label or i18n.term(language, f"capture.{cap.kind}", cap.kind)
        if cap.quality is not None:
            caption = i18n.t(language, "report.quality_caption", label=caption, q=f"{cap.quality:.2f}")
        out.append(KeyImage(png=png, caption=caption, kind=str(cap.meta.get("image_kind", "image")),
                            key=f"cap{cap.id}-{cap.blob_sha256[:12]}"))
    return tuple(out)
