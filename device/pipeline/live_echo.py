"""The live echo loop's runner: a capture thread reads the source into a bounded drop-oldest queue; a worker thread
runs each frame through the pure :class:`~device.pipeline.echo_frame.FrameProcessor` and hands the results to a
typed sink (:class:`~device.pipeline.live_sink.LoopSink`). The runner owns the threads, the clock, the exam
protocol (edited from other threads under its lock) and the keeping of clips.

    loop = LiveEcho(make_source("sim"), ViewClassifier.from_loaded(load_model("echo_view")),
                    protocol=["PLAX", "A4C"], sink=my_sink)      # or on_event= / on_clip= / on_frame= callables
    loop.start(); ...; loop.is_running(); loop.stop()

The sink is called on the worker thread and must return quickly. With ``save_clips_async`` the loop keeps a clip on
a thread of its own (compressing and storing a 3 s loop takes 1-2 s, which would otherwise freeze the picture and
drop frames); the protocol then advances when the save returns, and its events are emitted on the worker thread.
When no frame arrives for ``no_frame_timeout_s``, the worker feeds the gate a bad-signal tick, so a pulled cable
becomes a "no signal" event. Fan searches run on a short-lived helper thread unless ``sync_sector``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any, cast

import numpy as np

from device.domain.live import LiveProtocolItem
from device.echo.bestclip import BestClip
from device.echo.gate import EchoEvent, GateParams
from device.echo.protocol import ExamProtocol
from device.echo.screen import Sector, find_sector
from device.errors import UserError
from device.pipeline.echo_frame import Classifier, FrameOutcome, FrameProcessor, FrameResult, clip_kept_events
from device.pipeline.live_protocol import DropOldestQueue, SharedProtocol
from device.pipeline.live_sink import CallbackSink, LoopSink, connect_sink, event_payload  # noqa: F401 (re-export)

log = logging.getLogger(__name__)

__all__ = ["DropOldestQueue", "FrameResult", "LiveEcho", "connect_sink", "event_payload"]


class LiveEcho:
    def __init__(self, source: Iterable, classifier: Classifier, protocol: list[str] | None = None,
                 params: GateParams | None = None, clip_s: float = 3.0, queue_size: int = 4,
                 on_event: Callable[[EchoEvent], None] | None = None,
                 on_clip: Callable[[BestClip], bool | None] | None = None,
                 on_frame: Callable[[Any, FrameResult], None] | None = None,
                 sector_every_s: float = 1.0, no_frame_timeout_s: float = 1.0, frozen_frames: int = 15,
                 clock: Callable[[], int] = time.monotonic_ns, buffer_mb: int = 256, sync_sector: bool = False,
                 save_clips_async: bool = False, sink: LoopSink | None = None):
        self.source = source
        self.clf = classifier
        self.proc = FrameProcessor(classifier, params, clip_s, buffer_mb, frozen_frames, sector_every_s,
                                   defer_sector_search=not sync_sector)
        self.sink: LoopSink = sink or CallbackSink(on_frame=on_frame, on_event=on_event, on_clip=on_clip)
        self.queue = DropOldestQueue(queue_size)
        self.no_frame_timeout_s = no_frame_timeout_s
        self.clock = clock
        self.save_clips_async = save_clips_async
        self.source_error: str | None = None
        self.latencies_ms: deque[float] = deque(maxlen=5000)
        self._protocol = SharedProtocol(protocol)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._search: tuple[threading.Thread, list[Sector | None]] | None = None  # a fan search in flight
        self._saver: threading.Thread | None = None      # the thread keeping a clip (save_clips_async)
        self._saved_events: deque[EchoEvent] = deque()  # its events, emitted by the worker
        self._new_exam = threading.Event()              # set by another thread, applied by the worker
        self._stats_lock = threading.Lock()
        self._processed = 0
        self._t_first: int | None = None

    # -- threads ---------------------------------------------------------------------------------------------------
    def start(self) -> None:
        self._stop.clear()
        self._threads = [threading.Thread(target=self._capture, name="echo-capture", daemon=True),
                         threading.Thread(target=self._work, name="echo-infer", daemon=True)]
        for t in self._threads:
            t.start()

    def stop(self, timeout: float = 3.0) -> None:
        self._stop.set()
        for name in ("stop", "close"):
            fn = getattr(self.source, name, None)
            if fn is not None:
                try:
                    fn()
                except Exception:
                    log.exception("closing the source failed")
                break
        self.queue.close()
        for t in self._threads:
            t.join(timeout)
        if self._saver is not None:
            self._saver.join(timeout + 10)  # a clip being stored is finished, not cut off

    def join(self, timeout: float | None = None) -> None:
        for t in self._threads:
            t.join(timeout)

    def is_running(self) -> bool:
        """A capture or worker thread is alive (False before start, after stop, and when a file source ended)."""
        return any(t.is_alive() for t in self._threads)

    def _capture(self) -> None:
        try:
            for frame in self.source:
                if self._stop.is_set():
                    break
                self.queue.put(frame)
        except UserError as exc:  # lost device, unreadable file: say so, keep the worker alive for no-signal ticks
            self.source_error = str(exc)
            log.error("echo source stopped: %s", exc)
        finally:
            self.queue.close()

    def _work(self) -> None:
        while not self._stop.is_set():
            frame = self.queue.get(self.no_frame_timeout_s)
            if frame is None:
                if self.queue.closed and self.source_error is None:
                    return  # a file source ended
                self.tick_no_frame(self.clock())
                if self.queue.closed:
                    self._stop.wait(self.no_frame_timeout_s)
                continue
            try:
                self.process(frame)
            except UserError as exc:
                log.error("frame skipped: %s", exc)

    # -- one step (also callable synchronously, e.g. from tests and the benchmark) ------------------------------------
    def process(self, frame: Any) -> FrameResult:
        """Run one SourceFrame through the processor; deliver events, clip and result to the sink."""
        self._before_step()
        out = self.proc.process(frame, self.target, clip_busy=self._saving)
        if out.sector_search is not None:
            self._start_search(out.sector_search)
        self._after_step(out, frame.t_mono_ns)
        now = self.clock()
        res = replace(cast(FrameResult, out.result), latency_ms=(now - frame.t_mono_ns) / 1e6)
        with self._stats_lock:
            self.latencies_ms.append(res.latency_ms)
            self._processed += 1
            self._t_first = self._t_first or now
        self.sink.on_frame(frame, res)
        return res

    def tick_no_frame(self, t_ns: int) -> None:
        self._before_step()
        self._after_step(self.proc.no_frame(t_ns, self.target), t_ns)

    def _before_step(self) -> None:
        if self._new_exam.is_set():
            self._new_exam.clear()
            self.proc.new_exam()
        if self._search is not None and not self._search[0].is_alive():
            found = self._search[1]
            self.proc.deliver_sector(found[0] if found else None)
            self._search = None

    def _after_step(self, out: FrameOutcome, t_ns: int) -> None:
        self._emit(self._take_saved_events() + list(out.events))
        if out.clip is None:
            return
        if self._protocol.current is not None and self._protocol.target is None:
            return  # every protocol view is captured: capture stops (tapping a view in the checklist re-acquires it)
        if self.save_clips_async:
            self._saver = threading.Thread(target=self._keep_clip, args=(out.clip, t_ns), name="echo-clip",
                                           daemon=True)
            self._saver.start()
        else:
            self._keep_clip(out.clip, t_ns)

    def _start_search(self, picture: np.ndarray) -> None:
        found: list[Sector | None] = []
        t = threading.Thread(target=lambda: found.append(find_sector(picture)), name="echo-sector", daemon=True)
        self._search = (t, found)
        t.start()

    # -- the exam protocol (edited from other threads: the UI, the core's exam follower; see SharedProtocol) ----------
    @property
    def protocol(self) -> ExamProtocol | None:
        """The current protocol object (read-only here: change it with the methods below)."""
        return self._protocol.current

    @property
    def target(self) -> str | None:
        return self._protocol.target

    def replace_protocol(self, protocol: ExamProtocol | None) -> None:
        """Put a whole protocol in place (the core's exam follower: a new exam, its edited list, its captures)."""
        self._protocol.replace(protocol)

    def set_protocol(self, views: list[str]) -> None:
        self._protocol.set_views(views)

    def select_view(self, view: str) -> None:
        self._protocol.select(view)

    def skip_view(self) -> str | None:
        return self._protocol.skip()

    def new_exam(self) -> None:
        """Forget what was captured (a new patient); keeps the view list. Buffered frames go at the next step."""
        self._protocol.restart()
        self._new_exam.set()

    def protocol_items(self) -> tuple[LiveProtocolItem, ...]:
        return self._protocol.items()

    # -- keeping clips -------------------------------------------------------------------------------------------------
    @property
    def _saving(self) -> bool:
        return self._saver is not None and self._saver.is_alive()

    def _take_saved_events(self) -> list[EchoEvent]:
        out = []
        while self._saved_events:
            out.append(self._saved_events.popleft())
        return out

    def _keep_clip(self, clip: BestClip, t_ns: int) -> None:
        """Hand the clip to the sink; when kept, mark the view captured and announce it (and the protocol's end)."""
        try:
            if not self.sink.on_clip(clip):
                return  # the sink could not keep it (no active exam, disk full): the view stays to be acquired
        except Exception:  # a bug in storing must not stop the live picture
            if not self.save_clips_async:
                raise
            log.exception("keeping the %s clip failed", clip.view)
            return
        advanced, done, nxt = self._protocol.mark_captured(clip.view, clip.quality_mean)
        events = clip_kept_events(clip, t_ns, advanced, done, nxt)
        if self.save_clips_async:
            self._saved_events.extend(events)  # emitted by the worker: the sink stays on one thread
        else:
            self._emit(events)

    def _emit(self, events: list[EchoEvent]) -> None:
        for e in events:
            self.sink.on_event(e)

    # -- numbers for the core's metrics and the benchmark -------------------------------------------------------------
    def stats(self) -> dict[str, float]:
        """processed / dropped frames since start, mean fps, capture-to-result p50/p99 (ms) over the last 5000."""
        with self._stats_lock:
            lat = np.array(self.latencies_ms, dtype=np.float64)
            n = self._processed
            t0 = self._t_first
        el = (self.clock() - t0) / 1e9 if t0 else 0.0
        return {"processed": n, "dropped": self.queue.dropped, "fps": n / el if el > 0 else 0.0,
                "latency_p50_ms": float(np.percentile(lat, 50)) if lat.size else float("nan"),
                "latency_p99_ms": float(np.percentile(lat, 99)) if lat.size else float("nan")}
