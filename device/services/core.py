"""The core role: capture -> live echo analysis -> store, plus run-directory state for the UI.

The live loop (``device.pipeline.live_echo``) does view, quality, guidance and best-clip selection; this module wires
it to a source from the driver registry and to the store. Without a usable view model the core still shows the
picture (and says why there is no analysis), so a missing or altered model never takes the cart down.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import cv2
import numpy as np

from device.config import Settings
from device.drivers.registry import make_source
from device.errors import UserError
from device.services.live_sink import StoreSink, write_metrics
from device.services.runtime import InstanceLock, StopFlag, heartbeat
from device.store import Store

log = logging.getLogger(__name__)


def source_options(settings: Settings) -> dict[str, Any]:
    c = settings.capture
    if c.source == "sim":
        return {"sim_seed": c.sim_seed, "fps": c.fps, "realtime": True}
    if c.source in ("dicom", "video"):
        if not c.path:
            raise UserError(f"[capture] source = '{c.source}' needs [capture] path = the file to replay")
        return {"path": c.path, "loop": True, "realtime": True}
    return {"device": c.device, "width": c.width, "height": c.height, "fps": c.fps}


def _bgr(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)


class DisplayOnly:
    """No analysis (the view model could not load): publish frames and the reason."""

    def __init__(self, sink: StoreSink, reason: str):
        self.sink = sink
        self.reason = reason
        self._t0 = time.monotonic()
        self._n = 0

    def process(self, frame) -> None:
        self._n += 1
        fps = self._n / max(1e-6, time.monotonic() - self._t0)
        self.sink.on_frame(_bgr(frame.pixels), {"frame_index": frame.index, "fps": fps, "status": "no_model",
                                               "status_text": self.reason, "view": None, "quality": 0.0,
                                               "model": None})


def build_analyser(settings: Settings, sink: StoreSink):
    """The live echo loop when its model loads; otherwise DisplayOnly with the reason."""
    try:
        from device.pipeline.live_echo import build_live_analyser
    except ImportError as exc:
        return DisplayOnly(sink, f"live echo analysis unavailable ({exc})")
    try:
        return build_live_analyser(settings, sink)
    except UserError as exc:
        log.error("live echo analysis disabled: %s", exc)
        sink.on_event("alert", {"text": str(exc), "level": "critical"})
        return DisplayOnly(sink, str(exc))


def run_core(settings: Settings, stop: StopFlag | None = None) -> int:
    stop = stop or StopFlag().install()
    with InstanceLock(settings.run_dir, "core"):
        store = Store.open(settings.data_dir)
        sink = StoreSink(store, settings.run_dir)
        source = make_source(settings.capture.source, **source_options(settings))
        analyser = build_analyser(settings, sink)
        metrics_stop = threading.Event()

        def _metrics() -> None:
            while not metrics_stop.wait(2.0):
                try:
                    write_metrics(settings.run_dir)
                    heartbeat(settings.run_dir, "core")
                except OSError as exc:
                    log.warning("cannot write run state: %s", exc)

        threading.Thread(target=_metrics, name="metrics", daemon=True).start()
        try:
            _capture_loop(source, analyser, sink, stop)
        finally:
            metrics_stop.set()
            close = getattr(analyser, "close", None)
            if close:
                close()
            source.close()
            store.close()
    return 0


def _capture_loop(source, analyser, sink: StoreSink, stop: StopFlag) -> None:
    """Read frames until stopped. A lost source is reported as 'no signal' and reopened with backoff."""
    backoff_s = 0.5
    while not stop.stopped:
        try:
            source.open()
            for frame in source:
                if stop.stopped:
                    break
                analyser.process(frame)
                backoff_s = 0.5
            else:
                if not stop.stopped:  # a finite source ended
                    stop.wait(0.5)
        except UserError as exc:
            log.warning("source problem: %s", exc)
            sink.on_frame(None, {"status": "no_signal", "status_text": f"No signal: {exc}", "frame_index": -1,
                                 "fps": 0.0})
            sink.on_event("no_signal", {"text": str(exc)})
            source.close()
            stop.wait(backoff_s)
            backoff_s = min(10.0, backoff_s * 2)
