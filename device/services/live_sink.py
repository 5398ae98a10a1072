"""Where the live echo loop's results land: run-directory state for the UI, events and clips in the store.

The live loop calls these from its own thread; nothing here blocks for long (a clip is one transaction).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from device import DISCLAIMER_EN, DISCLAIMER_ZH
from device.domain.codecs import decode_clip as _decode_clip
from device.domain.codecs import encode_clip
from device.domain.live import LIVE_FRAME_FILE, LIVE_STATE_FILE, ClipRecord, LiveState, encode_live_state
from device.errors import UserError
from device.services.runtime import write_state
from device.store import Store, clinical
from device.store.db import Tx
from device.fsutil import atomic_write_bytes

log = logging.getLogger(__name__)


def decode_clip(data: bytes) -> tuple[np.ndarray, float]:
    """(frames, fps) of clip bytes (the domain's clip codec; ClipCodecError, a ValueError, when they are not one)."""
    clip = _decode_clip(data)
    return clip.frames, clip.fps


class StoreSink:
    def __init__(self, store: Store, run_dir: Path, ui_fps: float = 15.0, jpeg_quality: int = 80):
        self.store = store
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.ui_period_s = 1.0 / ui_fps
        self.jpeg_quality = jpeg_quality
        self._last_ui = 0.0
        self._n_frames = 0
        self._fps_t0 = time.monotonic()
        self._fps_n0 = 0
        self.fps = 0.0
        self._exam_cache: tuple[float, clinical.Exam | None] = (0.0, None)

    def active_exam(self) -> clinical.Exam | None:
        t, exam = self._exam_cache
        if time.monotonic() - t > 1.0:
            exam = clinical.active_exam(self.store.conn, "echo")
            self._exam_cache = (time.monotonic(), exam)
        return exam

    def publish_state(self, state: LiveState, picture_rgb: np.ndarray | None) -> None:
        """Publish the latest picture (``live.jpg``) and state (``live.json``, the LiveState codec) for the web UI,
        at most ``ui_fps`` times a second; both replaced atomically. The sink adds frame count, fps, exam, time."""
        now = time.monotonic()
        self._n_frames += 1
        if now - self._fps_t0 >= 1.0:
            self.fps = (self._n_frames - self._fps_n0) / (now - self._fps_t0)
            self._fps_t0, self._fps_n0 = now, self._n_frames
        if now - self._last_ui < self.ui_period_s:
            return
        self._last_ui = now
        if picture_rgb is not None:
            bgr = cv2.cvtColor(picture_rgb, cv2.COLOR_RGB2BGR)
            ok, jpg = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
            if ok:
                atomic_write_bytes(self.run_dir / LIVE_FRAME_FILE, jpg.tobytes(), mode=0o644, durable=False)
        exam = self.active_exam()
        full = state.but(frame_index=self._n_frames, fps=round(self.fps, 1), exam_id=exam.id if exam else None,
                         wall_time_s=time.time(), disclaimer_en=DISCLAIMER_EN, disclaimer_zh=DISCLAIMER_ZH)
        try:
            data = encode_live_state(full)
        except ValueError as exc:  # a non-finite number: a bug upstream, the picture goes on
            log.error("live state not written: %s", exc)
            return
        atomic_write_bytes(self.run_dir / LIVE_STATE_FILE, data, mode=0o644, durable=False)

    def on_event(self, kind: str, payload: dict[str, Any]) -> None:
        exam = self.active_exam()
        try:
            with Tx(self.store.conn):
                clinical.add_event(self.store.conn, kind, payload, exam.id if exam else None)
        except sqlite3.OperationalError as exc:  # disk full or locked too long: the live loop goes on
            log.error("event %s not stored: %s", kind, exc)

    def keep_clip(self, clip: ClipRecord) -> int | None:
        """Save the best loop of a view to the active echo exam (blob + capture + finding + event, one transaction);
        its capture id, or None when it was not kept (no active echo exam, disk full)."""
        frames, fps, view, quality = clip.frames, clip.fps, clip.view, clip.quality_mean
        model_name, model_version = clip.model_name, clip.model_version
        exam = self.active_exam()
        if exam is None:
            return None
        data = encode_clip(frames, fps)
        try:
            with Tx(self.store.conn):
                cap = clinical.add_capture(self.store.conn, self.store.blobs, exam.id, "clip", data,
                                           "application/x-cardiocart-clip+npz", label=view, quality=quality,
                                           meta={**clip.meta(), "fps": fps, "n_frames": int(len(frames)),
                                                 "model": f"{model_name} {model_version}"})
                clinical.add_finding(self.store.conn, exam.id, cap.id, "view", view, quality, model_name,
                                     model_version, {"quality": quality})
                clinical.add_event(self.store.conn, "clip_saved", {"view": view, "quality": quality,
                                                                   "capture_id": cap.id,
                                                                   "text": f"{view} clip saved (q={quality:.2f})"},
                                   exam.id)
            return cap.id
        except UserError as exc:  # disk full and the like: say so in the UI, keep the loop running
            log.error("clip not saved: %s", exc)
            self.on_event("alert", {"text": str(exc), "level": "critical"})
            return None
        except sqlite3.OperationalError as exc:  # the database itself cannot grow
            log.error("clip not saved: %s", exc)
            self.on_event("alert", {"text": f"Clip not saved: {exc}. Free disk space (export and delete old exams).",
                                    "level": "critical"})
            return None


def write_metrics(run_dir: Path, extra: dict[str, Any] | None = None) -> None:
    from device.inference import latency_summary
    write_state(Path(run_dir) / "metrics.json", {"wall_time": time.time(), "models": latency_summary(),
                                                 **(extra or {})})


def read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
