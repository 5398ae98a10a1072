"""Where the live echo loop's results go: typed sink protocols, and the adapter from the loop's records to the
domain records the core stores and the web UI reads.

Two protocols, one per side:

- :class:`LoopSink`: what the runner (``device.pipeline.live_echo.LiveEcho``) calls on its worker thread, with the
  loop's own records: ``on_frame(frame, FrameResult)``, ``on_event(EchoEvent)``, ``on_clip(BestClip) -> bool``
  (False: the clip was not kept, the protocol does not advance).
- :class:`StateSink`: what the store side offers (``device.services.live_sink.StoreSink`` and the core's wrappers),
  with domain records: ``publish_state(LiveState, picture_rgb)``, ``on_event(kind, payload)``,
  ``keep_clip(ClipRecord) -> capture id | None``.

:class:`StoreAdapter` turns the first into the second; :func:`connect_sink` attaches one to a loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from device import DISCLAIMER_EN, DISCLAIMER_ZH
from device.domain.live import ClipRecord, LiveHint, LiveProtocolItem, LiveState
from device.echo.bestclip import BestClip
from device.echo.gate import EchoEvent
from device.echo.guidance import Hint

if TYPE_CHECKING:
    from device.pipeline.echo_frame import FrameResult
    from device.pipeline.live_echo import LiveEcho


class LoopSink(Protocol):
    def on_frame(self, frame: Any, result: "FrameResult") -> None: ...

    def on_event(self, event: EchoEvent) -> None: ...

    def on_clip(self, clip: BestClip) -> bool: ...


class StateSink(Protocol):
    def publish_state(self, state: LiveState, picture_rgb: np.ndarray | None) -> None: ...

    def on_event(self, kind: str, payload: dict[str, Any]) -> None: ...

    def keep_clip(self, clip: ClipRecord) -> int | None: ...


class CallbackSink:
    """A LoopSink from plain callables (tests, the benchmark); a missing one ignores its records. ``on_clip``
    may return None (kept) or False (not kept)."""

    def __init__(self, on_frame: Callable[[Any, "FrameResult"], None] | None = None,
                 on_event: Callable[[EchoEvent], None] | None = None,
                 on_clip: Callable[[BestClip], bool | None] | None = None):
        self._frame, self._event, self._clip = on_frame, on_event, on_clip

    def on_frame(self, frame: Any, result: "FrameResult") -> None:
        if self._frame is not None:
            self._frame(frame, result)

    def on_event(self, event: EchoEvent) -> None:
        if self._event is not None:
            self._event(event)

    def on_clip(self, clip: BestClip) -> bool:
        return self._clip is None or self._clip(clip) is not False


def live_hint(h: Hint | None) -> LiveHint | None:
    return None if h is None else LiveHint(h.code, h.text_en, h.text_zh, h.arrow)


def live_state(res: "FrameResult", protocol: tuple[LiveProtocolItem, ...]) -> LiveState:
    """The live page's state for one frame's result (the sink adds frame count, fps, exam and time)."""
    s = res.state
    return LiveState(status=s.status, view=s.view, view_conf=round(s.view_conf, 3), quality=round(s.quality, 3),
                     uncertain=s.uncertain, ood_score=round(s.ood_score, 3), target=s.target,
                     hold_frac=round(s.hold_frac, 3), hint=live_hint(s.hint), protocol=protocol, model=res.model,
                     latency_ms=round(res.latency_ms, 1), mm_per_px=res.mm_per_px, sector_bbox=res.sector_bbox,
                     frame_index=res.index, disclaimer_en=DISCLAIMER_EN, disclaimer_zh=DISCLAIMER_ZH)


def event_payload(e: EchoEvent) -> dict[str, Any]:
    """A JSON-safe dict of an event for the store and the UI (tone tells the browser which sound to play)."""
    level = {"alarm": "warning", "no_signal": "critical", "no_heart": "info"}.get(e.kind, "info")
    d: dict[str, Any] = {"text": e.text_en, "text_zh": e.text_zh, "tone": e.tone, "view": e.view, "target": e.target,
                         "quality": round(float(e.quality), 3), "level": level, **e.data}
    if e.hint is not None:
        d["hint"] = {"code": e.hint.code, "text": e.hint.text_en, "text_zh": e.hint.text_zh, "arrow": e.hint.arrow}
    return d


def clip_record(c: BestClip, model_name: str, model_version: str) -> ClipRecord:
    return ClipRecord(frames=c.frames, fps=c.fps, view=c.view, quality_mean=c.quality_mean,
                      quality_min=c.quality_min, duration_s=c.duration_s, model_name=model_name,
                      model_version=model_version, model_tag=c.model, mm_per_px=c.mm_per_px,
                      sector_bbox=c.sector_bbox)


class StoreAdapter:
    """The LoopSink that feeds a StateSink: states with the loop's protocol, events but "clip_saved" (the store
    records that in the clip's own transaction), clips as ClipRecords naming the loop's model."""

    def __init__(self, sink: StateSink, loop: "LiveEcho"):
        self.sink, self.loop = sink, loop
        self.model_name = getattr(loop.clf, "name", "") or "echo_view"
        self.model_version = getattr(loop.clf, "version", "")

    def on_frame(self, frame: Any, result: "FrameResult") -> None:
        self.sink.publish_state(live_state(result, self.loop.protocol_items()), frame.pixels)

    def on_event(self, event: EchoEvent) -> None:
        if event.kind != "clip_saved":
            self.sink.on_event(event.kind, event_payload(event))

    def on_clip(self, clip: BestClip) -> bool:
        return self.sink.keep_clip(clip_record(clip, self.model_name, self.model_version)) is not None


def connect_sink(loop: "LiveEcho", sink: StateSink) -> None:
    """Route the loop's results to a store-side sink (the core's StoreSink)."""
    loop.sink = StoreAdapter(sink, loop)
