"""The live echo loop: source -> bounded drop-oldest queue -> view/quality/guidance on every frame -> gate events,
protocol and best-clip capture, delivered through callbacks.

    loop = LiveEcho(make_source("sim"), ViewClassifier.from_loaded(load_model("echo_view")),
                    protocol=["PLAX", "A4C"], on_event=..., on_clip=..., on_frame=...)
    loop.start(); ...; loop.stop()

Callbacks run on the worker thread and must return quickly: ``on_event(EchoEvent)``, ``on_clip(BestClip)`` (return
False when the clip could not be kept: the protocol then does not advance),
``on_frame(SourceFrame, FrameResult)``. With ``save_clips_async`` the loop calls ``on_clip`` on a thread of its own
(compressing and storing a 3 s loop takes 1-2 s, which would otherwise freeze the picture and drop frames); the
protocol then advances when the save returns, and its events are emitted on the worker thread. A capture thread reads
the source; when no frame arrives for `no_frame_timeout_s`, the worker feeds the gate a bad-signal tick, so a pulled
cable becomes a "no signal" event.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from device.echo.bestclip import BestClip, ClipBuffer
from device.echo.classify import ViewClassifier
from device.echo.gate import EchoEvent, GateParams, GateState, StandardViewGate
from device.echo.prep import ViewOutput
from device.echo.protocol import ExamProtocol
from device.echo.screen import Sector, find_sector
from device.echo.signal import check_signal, thumbnail
from device.errors import UserError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FrameResult:
    """The loop's result for one frame: gate state, model output (None without a fan), latency from capture to
    result (ms), the fan's bbox and the pixel size when known, and the model tag."""

    index: int
    t_mono_ns: int
    state: GateState
    output: ViewOutput | None
    latency_ms: float
    sector_bbox: tuple[int, int, int, int] | None
    mm_per_px: float | None
    model: str


class DropOldestQueue:
    """A bounded FIFO; putting into a full queue discards the oldest item (live video must not lag)."""

    def __init__(self, maxlen: int):
        self.items: deque[Any] = deque()
        self.maxlen = maxlen
        self.dropped = 0
        self.cv = threading.Condition()
        self.closed = False

    def put(self, item: Any) -> None:
        with self.cv:
            if len(self.items) >= self.maxlen:
                self.items.popleft()
                self.dropped += 1
            self.items.append(item)
            self.cv.notify()

    def get(self, timeout: float) -> Any | None:
        with self.cv:
            if not self.items and not self.closed:
                self.cv.wait(timeout)
            return self.items.popleft() if self.items else None

    def close(self) -> None:
        with self.cv:
            self.closed = True
            self.cv.notify_all()


class LiveEcho:
    def __init__(self, source: Iterable, classifier: ViewClassifier, protocol: list[str] | None = None,
                 params: GateParams | None = None, clip_s: float = 3.0, queue_size: int = 4,
                 on_event: Callable[[EchoEvent], None] | None = None,
                 on_clip: Callable[[BestClip], None] | None = None,
                 on_frame: Callable[[Any, FrameResult], None] | None = None,
                 sector_every_s: float = 1.0, no_frame_timeout_s: float = 1.0, frozen_frames: int = 15,
                 clock: Callable[[], int] = time.monotonic_ns, buffer_mb: int = 256, sync_sector: bool = False,
                 save_clips_async: bool = False):
        self.source = source
        self.clf = classifier
        self.protocol = ExamProtocol(protocol) if protocol else None
        self._proto_lock = threading.Lock()
        params = params or GateParams()
        self.params = params
        self.gate = StandardViewGate(classifier.labels, params)
        self.clip_s = clip_s
        self.buffer = ClipBuffer(max_s=clip_s + params.hold_s + 2.0, max_bytes=buffer_mb * 2 ** 20)
        self.queue = DropOldestQueue(queue_size)
        self.on_event, self.on_clip, self.on_frame = on_event, on_clip, on_frame
        self.sector_every_s = sector_every_s
        self.no_frame_timeout_s = no_frame_timeout_s
        self.frozen_frames = frozen_frames
        self.clock = clock
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sector: Sector | None = None
        self._sector_new: Sector | None = None
        self._refresher: threading.Thread | None = None
        self.sync_sector = sync_sector
        self._sector_t = 0
        self._acc: np.ndarray | None = None
        self._thumb: np.ndarray | None = None
        self._frozen_run = 0
        self._pending: tuple[str, int, int] | None = None  # (view, since_ns, deadline_ns) of a clip to save
        self.save_clips_async = save_clips_async
        self._saver: threading.Thread | None = None  # the thread keeping a clip (save_clips_async)
        self._saved_events: deque[EchoEvent] = deque()  # its events, emitted by the worker
        self.latencies_ms: deque[float] = deque(maxlen=5000)
        self.processed = 0
        self.source_error: str | None = None
        self.last: FrameResult | None = None
        self._t_first: int | None = None
        self._lock = threading.Lock()

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

    # -- per-frame work (also callable synchronously, e.g. from tests and the benchmark) -----------------------------
    def tick_no_frame(self, t_ns: int) -> None:
        state, events = self.gate.update(t_ns, None, self.target, bad_signal=True)
        self._emit(self._take_saved_events() + events)
        self._finish_clip(t_ns, state)

    @property
    def target(self) -> str | None:
        with self._proto_lock:
            return self.protocol.target if self.protocol else None

    # -- protocol editing from another thread (the UI) ---------------------------------------------------------------
    def set_protocol(self, views: list[str]) -> None:
        """Replace the ordered view list (InputError lists valid views); captured views stay captured."""
        with self._proto_lock:
            if self.protocol is None:
                self.protocol = ExamProtocol(views)
            else:
                self.protocol.set_views(views)

    def select_view(self, view: str) -> None:
        """Make `view` the current target (re-acquire it even if captured)."""
        with self._proto_lock:
            if self.protocol is None:
                self.protocol = ExamProtocol([view])
            self.protocol.select(view)

    def skip_view(self) -> str | None:
        """Move the current target to the end of the list; returns the new target."""
        with self._proto_lock:
            return self.protocol.skip() if self.protocol else None

    def new_exam(self) -> None:
        """Forget what was captured (a new patient); keeps the view list."""
        with self._proto_lock:
            if self.protocol is not None:
                self.protocol = ExamProtocol(self.protocol.views)
        self.buffer.clear()
        self._pending = None

    def protocol_items(self) -> list[dict[str, Any]]:
        with self._proto_lock:
            items = self.protocol.items() if self.protocol else []
        return [{"view": i.view, "captured": i.captured, "quality": i.quality} for i in items]

    def _update_sector(self, frame: Any) -> Sector | None:
        """The fan, found on the pixel-wise max of recent frames. The first search runs inline; refreshes run on a
        helper thread (~10 ms each) so that they never add to a frame's latency."""
        px = frame.pixels
        if self._acc is None or self._acc.shape != px.shape:
            self._acc = px.copy()
            self._sector = find_sector(px)
            self._sector_t = frame.t_mono_ns
            return self._sector
        np.maximum(self._acc, px, out=self._acc)
        due = (frame.t_mono_ns - self._sector_t) / 1e9 >= (self.sector_every_s if self._sector else 0.2)
        if due and (self._refresher is None or not self._refresher.is_alive()):
            acc, self._acc = self._acc, px.copy()
            self._sector_t = frame.t_mono_ns

            def refresh(img: np.ndarray = acc) -> None:
                self._sector_new = find_sector(img)

            if self.sync_sector:
                refresh()
            else:
                self._refresher = threading.Thread(target=refresh, name="echo-sector", daemon=True)
                self._refresher.start()
        finished = self._refresher is not None and not self._refresher.is_alive()
        if finished or (self._sector_new is not None and self._refresher is None):
            self._sector = self._sector_new
            self._sector_new = None
            self._refresher = None
        return self._sector

    def process(self, frame: Any) -> FrameResult:
        """Run one SourceFrame through signal check, fan, model, gate, buffer and clip capture."""
        thumb = thumbnail(frame.pixels)
        sig = check_signal(thumb, self._thumb)
        self._thumb = thumb
        self._frozen_run = self._frozen_run + 1 if sig.frozen else 0
        bad = sig.black or self._frozen_run >= self.frozen_frames
        sector = None if bad else self._update_sector(frame)
        out = self.clf(frame.pixels, sector) if sector is not None else None
        state, events = self.gate.update(frame.t_mono_ns, out, self.target, bad_signal=bad)
        if out is not None and state.view is not None:
            self.buffer.add(frame.t_mono_ns, frame.pixels, state.view,
                            out.quality if state.view == out.view else 0.0)
        for e in events:
            if e.kind == "standard_view" and self._pending is None and e.view is not None and not self._saving:
                since = e.t_mono_ns - int((self.params.hold_s + 0.5) * 1e9)
                self._pending = (e.view, since, e.t_mono_ns + int(self.clip_s * 1e9))
        self._emit(self._take_saved_events() + events)
        self._finish_clip(frame.t_mono_ns, state, frame)
        now = self.clock()
        lat = (now - frame.t_mono_ns) / 1e6
        res = FrameResult(frame.index, frame.t_mono_ns, state, out, lat, sector.bbox if sector else None,
                          frame.mm_per_px, self.clf.tag)
        with self._lock:
            self.latencies_ms.append(lat)
            self.processed += 1
            self._t_first = self._t_first or now
            self.last = res
        if self.on_frame:
            self.on_frame(frame, res)
        return res

    def _finish_clip(self, t_ns: int, state: GateState, frame: Any = None) -> None:
        if self._pending is None:
            return
        view, since, deadline = self._pending
        if t_ns < deadline and state.status in ("holding", "standard") and state.view == view:
            return
        self._pending = None
        thr = self.params.quality_threshold - self.params.hysteresis
        clip = self.buffer.best(view, self.clip_s, min_quality=thr, since_ns=since,
                                mm_per_px=getattr(frame, "mm_per_px", None) if frame is not None else None,
                                sector_bbox=self._sector.bbox if self._sector else None, model=self.clf.tag)
        if clip is None:
            return
        if self.save_clips_async:
            self._saver = threading.Thread(target=self._keep_clip, args=(clip, view, t_ns), name="echo-clip",
                                           daemon=True)
            self._saver.start()
        else:
            self._keep_clip(clip, view, t_ns)

    @property
    def _saving(self) -> bool:
        return self._saver is not None and self._saver.is_alive()

    def _take_saved_events(self) -> list[EchoEvent]:
        out = []
        while self._saved_events:
            out.append(self._saved_events.popleft())
        return out

    def _keep_clip(self, clip: BestClip, view: str, t_ns: int) -> None:
        """Hand the clip to ``on_clip``; when kept, mark the view captured and announce it (and the protocol's end)."""
        try:
            if self.on_clip and self.on_clip(clip) is False:
                return  # the sink could not keep it (no active exam, disk full): the view stays to be acquired
        except Exception:  # a bug in storing must not stop the live picture
            if not self.save_clips_async:
                raise
            log.exception("keeping the %s clip failed", view)
            return
        with self._proto_lock:
            advanced = self.protocol.mark_captured(view, clip.quality_mean) if self.protocol else False
            done = bool(self.protocol and self.protocol.done)
        nxt = self.target
        events = [EchoEvent("clip_saved", t_ns, view, nxt, clip.quality_mean, None,
                            f"{view} loop saved ({clip.duration_s:.1f} s, quality {clip.quality_mean:.2f})",
                            f"已保存 {view} 动态图（{clip.duration_s:.1f} 秒，质量 {clip.quality_mean:.2f}）",
                            data={"n_frames": len(clip.frames), "advanced": advanced, "next": nxt})]
        if advanced and done:
            events.append(EchoEvent("protocol_done", t_ns, view, None, clip.quality_mean, "standard",
                                    "All protocol views captured", "方案中的切面已全部采集"))
        if self.save_clips_async:
            self._saved_events.extend(events)  # emitted by the worker: callbacks stay on one thread
        else:
            self._emit(events)

    def _emit(self, events: list[EchoEvent]) -> None:
        if self.on_event:
            for e in events:
                self.on_event(e)

    # -- numbers for the UI and the benchmark ----------------------------------------------------------------------
    def stats(self) -> dict[str, float]:
        with self._lock:
            lat = np.array(self.latencies_ms, dtype=np.float64)
            n = self.processed
            t0 = self._t_first
        el = (self.clock() - t0) / 1e9 if t0 else 0.0
        return {"processed": n, "dropped": self.queue.dropped, "fps": n / el if el > 0 else 0.0,
                "latency_p50_ms": float(np.percentile(lat, 50)) if lat.size else float("nan"),
                "latency_p99_ms": float(np.percentile(lat, 99)) if lat.size else float("nan")}


# -- wiring to the store sink (device.services.live_sink.StoreSink) ---------------------------------------------------
def event_payload(e: EchoEvent) -> dict[str, Any]:
    """A JSON-safe dict of an event for the store and the UI (tone tells the browser which sound to play)."""
    level = {"alarm": "warning", "no_signal": "critical", "no_heart": "warning"}.get(e.kind, "info")
    d: dict[str, Any] = {"text": e.text_en, "text_zh": e.text_zh, "tone": e.tone, "view": e.view, "target": e.target,
                         "quality": round(float(e.quality), 3), "level": level, **e.data}
    if e.hint is not None:
        d["hint"] = {"code": e.hint.code, "text": e.hint.text_en, "text_zh": e.hint.text_zh, "arrow": e.hint.arrow}
    return d


def state_dict(res: FrameResult, protocol: ExamProtocol | None) -> dict[str, Any]:
    """A JSON-safe snapshot of one frame's result for the live page."""
    from device import DISCLAIMER_EN, DISCLAIMER_ZH

    s = res.state
    return {
        "status": s.status, "view": s.view, "view_conf": round(s.view_conf, 3), "quality": round(s.quality, 3),
        "target": s.target, "hold_frac": round(s.hold_frac, 3),
        "hint": None if s.hint is None else {"code": s.hint.code, "text": s.hint.text_en, "text_zh": s.hint.text_zh,
                                             "arrow": s.hint.arrow},
        "latency_ms": round(res.latency_ms, 1), "model": res.model, "mm_per_px": res.mm_per_px,
        "sector_bbox": list(res.sector_bbox) if res.sector_bbox else None,
        "protocol": [{"view": i.view, "captured": i.captured, "quality": i.quality} for i in protocol.items()]
        if protocol else [],
        "disclaimer": DISCLAIMER_EN, "disclaimer_zh": DISCLAIMER_ZH,
    }


def connect_sink(loop: LiveEcho, sink: Any) -> None:
    """Route the loop's callbacks to a sink with ``on_frame(bgr_image, state)``, ``on_event(kind, payload)`` and
    ``on_clip(frames, fps, view, quality, model_name, model_version, meta)`` (the core service's StoreSink)."""
    import cv2

    def on_frame(frame: Any, res: FrameResult) -> None:
        st = state_dict(res, None)
        st["protocol"] = loop.protocol_items()
        sink.on_frame(cv2.cvtColor(frame.pixels, cv2.COLOR_RGB2BGR), st)

    def on_event(e: EchoEvent) -> None:
        if e.kind != "clip_saved":  # the sink records that itself, in the clip's transaction
            sink.on_event(e.kind, event_payload(e))

    def on_clip(c: BestClip) -> bool:
        return sink.on_clip(c.frames, c.fps, c.view, c.quality_mean, getattr(loop.clf, "name", "") or "echo_view",
                            getattr(loop.clf, "version", ""),
                            {"quality_min": c.quality_min, "duration_s": c.duration_s, "mm_per_px": c.mm_per_px,
                             "sector_bbox": list(c.sector_bbox) if c.sector_bbox else None, "model_tag": c.model,
                             "colour": "RGB"}) is not None

    loop.on_frame, loop.on_event, loop.on_clip = on_frame, on_event, on_clip
