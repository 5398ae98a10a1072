"""The live echo loop's per-frame work, pure: a frame, its capture time and the protocol's target in; a typed
:class:`FrameOutcome` out (the frame's :class:`FrameResult`, the gate's events, and a best clip to keep when a
standard view's loop is complete). No threads, no clock, no I/O: the runner (``device.pipeline.live_echo``) owns
those, and tests and the benchmark can drive a :class:`FrameProcessor` frame by frame.

Per frame: signal check (black / frozen) -> the fan (:class:`SectorTracker`) -> the view model -> the
standard-view gate (which abstains on uncertain and not-echo frames) -> the clip buffer -> best-clip selection.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from device.echo.bestclip import BestClip, ClipBuffer
from device.echo.gate import UNCERTAIN, EchoEvent, GateParams, GateState, StandardViewGate
from device.echo.prep import ViewOutput
from device.echo.screen import Sector, find_sector
from device.echo.signal import check_signal, thumbnail


class Classifier(Protocol):
    """What the loop needs of a view model (device.echo.classify.ViewClassifier, or a test's fake)."""

    labels: tuple[str, ...]
    tag: str

    def __call__(self, pixels: np.ndarray, sector: Sector | None) -> ViewOutput: ...


@dataclass(frozen=True)
class FrameResult:
    """The loop's result for one frame: gate state, model output (None without a fan), latency from capture to
    result (ms; set by the runner, 0.0 from the processor alone), the fan's bbox and the pixel size when known, and
    the model tag."""

    index: int
    t_mono_ns: int
    state: GateState
    output: ViewOutput | None
    latency_ms: float
    sector_bbox: tuple[int, int, int, int] | None
    mm_per_px: float | None
    model: str


@dataclass(frozen=True)
class FrameOutcome:
    """What one step produced. result: None for a tick without a frame; events: in order; clip: a best loop to
    keep (its view is ``clip.view``); sector_search: a picture whose fan the runner should find off the frame's
    path and hand back with :meth:`FrameProcessor.deliver_sector` (only when the processor defers searches)."""

    result: FrameResult | None
    events: tuple[EchoEvent, ...]
    clip: BestClip | None = None
    sector_search: np.ndarray | None = None


class SectorTracker:
    """The fan, found on the pixel-wise max of recent frames: the first search runs on the first frame, then one
    every ``every_s`` (every ``retry_s`` while none is found). :meth:`observe` returns the picture to search when a
    search is due; the caller searches (now, or on a helper thread) and calls :meth:`deliver`."""

    def __init__(self, every_s: float = 1.0, retry_s: float = 0.2):
        self.every_s, self.retry_s = every_s, retry_s
        self.sector: Sector | None = None
        self._acc: np.ndarray | None = None
        self._t_last = 0
        self._searching = False

    def observe(self, t_ns: int, px: np.ndarray) -> np.ndarray | None:
        if self._acc is None or self._acc.shape != px.shape:
            self._acc = px.copy()
            self._t_last = t_ns
            self._searching = False
            self.sector = find_sector(px)
            return None
        np.maximum(self._acc, px, out=self._acc)
        due = (t_ns - self._t_last) / 1e9 >= (self.every_s if self.sector else self.retry_s)
        if not due or self._searching:
            return None
        acc, self._acc = self._acc, px.copy()
        self._t_last = t_ns
        self._searching = True
        return acc

    def deliver(self, sector: Sector | None) -> None:
        self.sector = sector
        self._searching = False


class FrameProcessor:
    """One frame at a time: :meth:`process` for a frame, :meth:`no_frame` for a tick without one (a pulled cable).

    defer_sector_search: hand fan searches (~10 ms) to the caller instead of running them inline, so that they never
    add to a frame's latency. Protocol and clip keeping belong to the caller: it passes the target and whether a
    clip is still being kept (no new clip is started meanwhile).
    """

    def __init__(self, classifier: Classifier, params: GateParams | None = None, clip_s: float = 3.0,
                 buffer_mb: int = 256, frozen_frames: int = 15, sector_every_s: float = 1.0,
                 defer_sector_search: bool = False):
        self.clf = classifier
        self.params = params or GateParams()
        self.gate = StandardViewGate(classifier.labels, self.params)
        self.clip_s = clip_s
        self.buffer = ClipBuffer(max_s=clip_s + self.params.hold_s + 2.0, max_bytes=buffer_mb * 2 ** 20)
        self.frozen_frames = frozen_frames
        self.sectors = SectorTracker(sector_every_s)
        self.defer_sector_search = defer_sector_search
        self._thumb: np.ndarray | None = None
        self._frozen_run = 0
        self._pending: tuple[str, int, int] | None = None  # (view, since_ns, deadline_ns) of a clip to keep

    def process(self, frame: Any, target: str | None, clip_busy: bool = False) -> FrameOutcome:
        """Run one SourceFrame (t_mono_ns, pixels (H, W, 3) uint8 RGB, index, mm_per_px) through signal check, fan,
        model, gate, buffer and clip selection."""
        thumb = thumbnail(frame.pixels)
        sig = check_signal(thumb, self._thumb)
        self._thumb = thumb
        self._frozen_run = self._frozen_run + 1 if sig.frozen else 0
        bad = sig.black or self._frozen_run >= self.frozen_frames
        search = None
        if not bad:
            search = self.sectors.observe(frame.t_mono_ns, frame.pixels)
            if search is not None and not self.defer_sector_search:
                self.sectors.deliver(find_sector(search))
                search = None
        sector = None if bad else self.sectors.sector
        out = self.clf(frame.pixels, sector) if sector is not None else None
        state, events = self.gate.update(frame.t_mono_ns, out, target, bad_signal=bad)
        if out is not None:  # frames that count for no view break a loop: they go in as UNCERTAIN, quality 0
            self.buffer.add(frame.t_mono_ns, frame.pixels, state.view or UNCERTAIN,
                            out.quality if state.view == out.view else 0.0)
        self._start_clip(events, clip_busy)
        clip = self._finish_clip(frame.t_mono_ns, state, frame.mm_per_px)
        res = FrameResult(frame.index, frame.t_mono_ns, state, out, 0.0, sector.bbox if sector else None,
                          frame.mm_per_px, self.clf.tag)
        return FrameOutcome(res, tuple(events), clip, search)

    def no_frame(self, t_ns: int, target: str | None) -> FrameOutcome:
        """No frame arrived for a while: the gate counts it as a bad signal (after a while, a "no signal" event)."""
        state, events = self.gate.update(t_ns, None, target, bad_signal=True)
        return FrameOutcome(None, tuple(events), self._finish_clip(t_ns, state, None))

    def deliver_sector(self, sector: Sector | None) -> None:
        """The result of a deferred fan search (:attr:`FrameOutcome.sector_search`)."""
        self.sectors.deliver(sector)

    def new_exam(self) -> None:
        """Forget buffered frames and a clip not yet complete (a new patient)."""
        self.buffer.clear()
        self._pending = None

    def _start_clip(self, events: list[EchoEvent], clip_busy: bool) -> None:
        for e in events:
            if e.kind == "standard_view" and self._pending is None and e.view is not None and not clip_busy:
                since = e.t_mono_ns - int((self.params.hold_s + 0.5) * 1e9)
                self._pending = (e.view, since, e.t_mono_ns + int(self.clip_s * 1e9))

    def _finish_clip(self, t_ns: int, state: GateState, mm_per_px: float | None) -> BestClip | None:
        """The best loop once the clip time is up or the view is lost (None while waiting, or when none lasts)."""
        if self._pending is None:
            return None
        view, since, deadline = self._pending
        if t_ns < deadline and state.status in ("holding", "standard") and state.view == view:
            return None
        self._pending = None
        thr = self.params.quality_threshold - self.params.hysteresis
        sector = self.sectors.sector
        return self.buffer.best(view, self.clip_s, min_quality=thr, since_ns=since, mm_per_px=mm_per_px,
                                sector_bbox=sector.bbox if sector else None, model=self.clf.tag)


def clip_kept_events(clip: BestClip, t_ns: int, advanced: bool, done: bool, next_view: str | None) -> list[EchoEvent]:
    """The events after a clip was kept: "clip_saved" (with frames, whether the protocol advanced and the next
    view), then "protocol_done" when that clip completed the protocol."""
    view = clip.view
    events = [EchoEvent("clip_saved", t_ns, view, next_view, clip.quality_mean, None,
                        f"{view} loop saved ({clip.duration_s:.1f} s, quality {clip.quality_mean:.2f})",
                        f"已保存 {view} 动态图（{clip.duration_s:.1f} 秒，质量 {clip.quality_mean:.2f}）",
                        data={"n_frames": len(clip.frames), "advanced": advanced, "next": next_view})]
    if advanced and done:
        events.append(EchoEvent("protocol_done", t_ns, view, None, clip.quality_mean, "standard",
                                "All protocol views captured; capture stopped (tap a view to capture it again)",
                                "方案中的切面已全部采集；已停止采集（点击切面可重新采集）"))
    return events
