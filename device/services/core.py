"""The core role: capture -> live echo analysis -> store, plus run-directory state for the UI.

The live loop (``device.pipeline.live_echo``) does view, quality, guidance and best-clip selection; this module wires
it to a source from the driver registry and to the store. Without a usable view model the core still shows the
picture (and says why there is no analysis), so a missing or altered model never takes the cart down.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from typing import Any

import cv2
import numpy as np

from device.config import Settings
from device.domain.live import ClipRecord, LiveState
from device.drivers.registry import make_source
from device.errors import UserError
from device.fsutil import remove_stale_parts
from device.services.live_idle import set_idle_rate
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
        self.sink.publish_state(LiveState("no_model", status_text=self.reason, frame_index=frame.index, fps=fps),
                                frame.pixels)


def load_view_model(settings: Settings):
    """The echo view model in the configured runner and variant (LiteRT uses the manifest's 'tflite' variant).

    A site-trained model promoted by site learning (device/echo/site_models.py) replaces the shipped one."""
    from device.echo.site_models import active_models_dir
    from device.inference import ModelProvider

    site = active_models_dir(settings.data_dir)      # None: the shipped model in [paths] models_dir
    return ModelProvider.from_settings(settings).get("echo_view",
                                                     model_dir=site / "echo_view" if site is not None else None)


def build_live_loop(settings: Settings, sink: StoreSink, source):
    """The live echo loop (view, quality, guidance, gate, best clip) wired to the store sink."""
    from device.echo.classify import ViewClassifier
    from device.echo.gate import GateParams
    from device.pipeline.live_echo import LiveEcho, connect_sink

    clf = ViewClassifier.from_loaded(load_view_model(settings))
    params = GateParams(quality_threshold=settings.echo.quality_threshold, hold_s=settings.echo.hold_s)
    exam = sink.active_exam()
    loop = LiveEcho(source, clf, protocol=list(exam.protocol) if exam else list(settings.echo.protocol),
                    params=params, clip_s=settings.echo.clip_s, save_clips_async=True)
    # clips are kept on the loop's own thread: they go through a second sink with its own database connection
    sink = ClipSink(sink, StoreSink(Store.open(settings.data_dir, run_migrations=False), sink.run_dir))
    connect_sink(loop, MeasuringSink(sink, ClipJobs(settings)) if settings.echo.measure_clips else sink)
    return loop


class ClipSink:
    """Frames and events go to the live sink (the loop's worker thread); clips to `clip_sink`, whose connection only
    the loop's clip thread uses, so a clip's transaction never mixes with an event's."""

    def __init__(self, sink: StoreSink, clip_sink: StoreSink):
        self.sink, self.clip_sink = sink, clip_sink

    def __getattr__(self, name):
        return getattr(self.sink, name)

    def keep_clip(self, clip: ClipRecord) -> int | None:
        return self.clip_sink.keep_clip(clip)


class ClipJobs:
    """Queues the LV measurement of each saved clip of a measured view as a job (``echo.measure_clip``) that the
    worker role runs, so the live loop never waits for segmentation and a killed core or worker loses no clip. Its
    own database connection, used from the loop's clip thread."""

    def __init__(self, settings: Settings):
        from device.store.db import connect
        self.conn = connect(settings.db_path)
        self.lock = threading.Lock()

    def submit(self, capture_id: int, exam_id: int | None = None) -> int:
        from device.usecases.echo_exam import enqueue_clip_measurement
        with self.lock:
            return enqueue_clip_measurement(self.conn, capture_id, exam_id)

    def submit_doppler(self, capture_id: int, exam_id: int | None = None) -> int:
        from device.usecases.echo_doppler import enqueue_read
        with self.lock:
            return enqueue_read(self.conn, capture_id, exam_id)

    def close(self) -> None:
        with self.lock:
            self.conn.close()


class MeasuringSink:
    """The store sink, plus: every saved clip of a measurable view is queued for measurement (:class:`ClipJobs`)."""

    def __init__(self, sink: StoreSink, jobs: ClipJobs):
        self.sink, self.jobs = sink, jobs

    def __getattr__(self, name):
        return getattr(self.sink, name)

    def keep_clip(self, clip: ClipRecord) -> int | None:
        from device.usecases.echo_exam import measured_views
        cap_id = self.sink.keep_clip(clip)
        if cap_id is not None and clip.view in measured_views():
            try:
                self.jobs.submit(cap_id)
            except sqlite3.Error as exc:  # the worker's recovery hook queues it at its next start
                log.warning("clip %s not queued for measurement now (%s); the worker queues it at start", cap_id, exc)
        elif cap_id is not None and clip.view == "OTHER":   # spectral Doppler screens are OTHER to the view model
            try:
                self.jobs.submit_doppler(cap_id)
            except sqlite3.Error as exc:
                log.warning("OTHER clip %s not queued for a Doppler reading (%s)", cap_id, exc)
        return cap_id


class ExamFollower:
    """Keeps the live loop's protocol in step with the open echo exam (a new exam, an edited protocol, and the views
    already captured, so a restarted core resumes where the exam was)."""

    def __init__(self, loop, sink: StoreSink, default_protocol: list[str]):
        self.loop, self.sink, self.default = loop, sink, default_protocol
        self.key: tuple | None = None

    def poll(self) -> None:
        from device.echo.protocol import ExamProtocol
        from device.store import clinical

        exam = self.sink.active_exam()
        views = list(exam.protocol) if exam else self.default
        caps = clinical.list_captures(self.sink.store.conn, exam.id) if exam else []
        captured = [(c.label, c.quality or 0.0) for c in caps if c.kind == "clip"]
        key = (exam.id if exam else None, tuple(views), tuple(captured))
        if key == self.key:
            return
        self.key = key
        proto = ExamProtocol(views) if views else None
        if proto is not None:
            for view, q in captured:
                if view in views:
                    proto.mark_captured(view, q)
        self.loop.replace_protocol(proto)


def run_core(settings: Settings, stop: StopFlag | None = None) -> int:
    stop = stop or StopFlag().install()
    with InstanceLock(settings.run_dir, "core"):
        store = Store.open(settings.data_dir)
        stale = remove_stale_parts(settings.data_dir)
        if stale:
            log.info("removed %d temp files left by interrupted writes", stale)
        sink = StoreSink(store, settings.run_dir)
        source = make_source(settings.capture.source, **source_options(settings))
        try:
            loop = build_live_loop(settings, sink, source)
        except (UserError, ImportError) as exc:
            log.error("live echo analysis disabled: %s", exc)
            sink.on_event("alert", {"text": f"Live echo analysis is off: {exc}", "level": "critical"})
            loop = None
        serial_ecg = start_serial_ecg(settings)
        metrics_stop = threading.Event()

        def _metrics() -> None:
            while not metrics_stop.wait(2.0):
                try:
                    write_metrics(settings.run_dir, {"live": live_metrics(loop)} if loop is not None else None)
                    heartbeat(settings.run_dir, "core")
                except OSError as exc:
                    log.warning("cannot write run state: %s", exc)

        threading.Thread(target=_metrics, name="metrics", daemon=True).start()
        try:
            if loop is None:
                _capture_loop(source, DisplayOnly(sink, "live echo analysis is off (see alerts)"), sink, stop)
            else:
                _run_live(loop, sink, settings, stop)
        finally:
            metrics_stop.set()
            if serial_ecg is not None:
                serial_ecg.stop()
            source.close()
            store.close()
    return 0


def live_metrics(loop) -> dict[str, Any]:
    """The live loop's own counters for run/metrics.json (and /api/metrics): frames processed and dropped by the
    drop-oldest queue since start, mean fps, capture-to-result p50/p99 over the last frames (None before the first)."""
    st = loop.stats()
    return {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in st.items()}


def start_serial_ecg(settings: Settings):
    """The serial ECG front-end's live reader when ``[ecg_serial] port`` is set (it survives unplugging)."""
    es = settings.ecg_serial
    if not es.port:
        return None
    from device.services.serial_ecg_service import SerialEcgLive
    live = SerialEcgLive(es.port, settings.run_dir, baud=es.baud, protocol=es.protocol, fs_hz=es.fs_hz,
                         ascii_units_per_mv=es.ascii_units_per_mv)
    live.start()
    return live


def _run_live(loop, sink: StoreSink, settings: Settings, stop: StopFlag) -> None:
    follower = ExamFollower(loop, sink, list(settings.echo.protocol))
    follower.poll()
    loop.start()
    try:
        while not stop.stopped:
            stop.wait(1.0)
            follower.poll()
            set_idle_rate(loop.source, sink.active_exam() is not None, settings.run_dir)   # issue 18: idle CPU
            if not loop.is_running():
                log.error("live loop ended (%s); restarting it", loop.source_error or "source finished")
                loop.stop()
                stop.wait(1.0)
                loop.start()
    finally:
        loop.stop()


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
            sink.publish_state(LiveState("no_signal", status_text=f"No signal: {exc}", frame_index=-1), None)
            sink.on_event("no_signal", {"text": str(exc)})
            source.close()
            stop.wait(backoff_s)
            backoff_s = min(10.0, backoff_s * 2)
