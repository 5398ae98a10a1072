"""What the core's live echo loop tells the web UI, as typed records and one versioned codec.

The core writes ``run/live.json`` (the latest :class:`LiveState`) and ``run/live.jpg`` (the latest picture, a plain
JPEG without metadata) a few times a second; the web UI reads them. Both sides use this module, so neither names a
key by a string literal: the writer calls :func:`encode_live_state`, the reader :func:`decode_live_state` (a state
written by another version, or torn or garbled, is refused with :class:`LiveStateError`). A saved loop crosses
from the loop to the store as a :class:`ClipRecord`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import numpy as np

LIVE_STATE_VERSION = 1
LIVE_STATE_FILE = "live.json"   # in the run directory
LIVE_WATCH_FILE = "live.watch"  # touched by the web UI while someone watches the live picture (the core idles without)
LIVE_FRAME_FILE = "live.jpg"    # in the run directory; JPEG only, its metadata is the LiveState's
LIVE_STALE_AFTER_S = 3.0        # a state older than this means the core is not running

# the views a protocol may list (the exam protocol, the live page's editor and the clip labels use this one list)
STANDARD_VIEWS = ("PLAX", "PSAX-AV", "PSAX-MV", "PSAX-PM", "PSAX-apex", "A4C", "A5C", "A3C", "A2C", "SC4C",
                  "SC-IVC", "SSN")

# status: what the live page's banner shows
STATUSES = ("no_signal", "not_echo", "uncertain", "searching", "holding", "standard", "no_model")


class LiveStateError(ValueError):
    """A live state that this version cannot read (another version, a torn or garbled file)."""


@dataclass(frozen=True)
class LiveHint:
    """A probe-movement hint: code (guidance label), the words in English and zh-CN, and the arrow to draw."""

    code: str
    text_en: str
    text_zh: str
    arrow: str


@dataclass(frozen=True)
class LiveProtocolItem:
    """One view of the exam protocol: captured yet, and the saved loop's mean quality (0..1) when it is."""

    view: str
    captured: bool
    quality: float | None = None


@dataclass(frozen=True)
class LiveState:
    """The live page's picture of one frame.

    status: one of STATUSES; view: the named view (None when no view counts: no signal, not echo, uncertain);
    view_conf: the model's (calibrated) confidence 0..1; quality: smoothed image quality 0..1; uncertain: the model
    abstained (no tone, no clip); ood_score: distance from the model's training data (0.0 when not measured);
    target: the protocol's current view; hold_frac: progress of the hold toward "standard" 0..1; hint: guidance;
    protocol: the exam's views in order; model: tag of the model that named the view; latency_ms: capture to
    result; mm_per_px: pixel size when known; sector_bbox: the fan (x0, y0, x1, y1) in picture pixels;
    frame_index: frames the core has seen; fps: frames per second analysed; status_text: the reason, for statuses
    the page cannot word itself (no_model); exam_id: the open echo exam; wall_time_s: when written (Unix s).
    """

    status: str
    view: str | None = None
    view_conf: float = 0.0
    quality: float = 0.0
    uncertain: bool = False
    ood_score: float = 0.0
    target: str | None = None
    hold_frac: float = 0.0
    hint: LiveHint | None = None
    protocol: tuple[LiveProtocolItem, ...] = ()
    model: str | None = None
    latency_ms: float | None = None
    mm_per_px: float | None = None
    sector_bbox: tuple[int, int, int, int] | None = None
    frame_index: int = 0
    fps: float = 0.0
    status_text: str = ""
    exam_id: int | None = None
    wall_time_s: float = 0.0
    disclaimer_en: str = ""
    disclaimer_zh: str = ""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise LiveStateError(f"unknown live status {self.status!r}; valid: {', '.join(STATUSES)}")

    def but(self, **changes: Any) -> "LiveState":
        """A copy with some fields changed (the sink adds fps, exam and time to the loop's state)."""
        return replace(self, **changes)

    def is_fresh(self, now_s: float, max_age_s: float = LIVE_STALE_AFTER_S) -> bool:
        """Written less than ``max_age_s`` ago: the core is running."""
        return now_s - self.wall_time_s < max_age_s


@dataclass(frozen=True)
class ClipRecord:
    """A best loop to keep, from the live loop to the store.

    frames: (T, H, W, 3) uint8 RGB; fps: measured frame rate of the loop; view: the protocol view it was saved
    under; quality_mean / quality_min: 0..1 over the loop; duration_s; mm_per_px and sector_bbox when known;
    model_name / model_version / model_tag: the model that named the view.
    """

    frames: np.ndarray
    fps: float
    view: str
    quality_mean: float
    quality_min: float
    duration_s: float
    model_name: str
    model_version: str
    model_tag: str
    mm_per_px: float | None = None
    sector_bbox: tuple[int, int, int, int] | None = None
    colour: str = "RGB"
    extra: dict[str, Any] = field(default_factory=dict)

    def meta(self) -> dict[str, Any]:
        """The JSON-safe description stored with the clip's capture."""
        return {"quality_min": self.quality_min, "duration_s": self.duration_s, "mm_per_px": self.mm_per_px,
                "sector_bbox": list(self.sector_bbox) if self.sector_bbox else None, "model_tag": self.model_tag,
                "colour": self.colour, **self.extra}


# -- codec ----------------------------------------------------------------------------------------------------------
def live_state_to_dict(state: LiveState) -> dict[str, Any]:
    """The JSON-safe form (also what ``/api/live/state`` and the page's event stream send), with its version."""
    d = asdict(state)
    d["protocol"] = [asdict(i) for i in state.protocol]
    d["sector_bbox"] = list(state.sector_bbox) if state.sector_bbox else None
    return {"version": LIVE_STATE_VERSION, **d}


def live_state_from_dict(d: dict[str, Any]) -> LiveState:
    """The inverse of :func:`live_state_to_dict`; LiveStateError on another version or a malformed state."""
    if not isinstance(d, dict) or d.get("version") != LIVE_STATE_VERSION:
        got = d.get("version") if isinstance(d, dict) else type(d).__name__
        raise LiveStateError(f"live state version {got!r}, this program reads version {LIVE_STATE_VERSION}")
    names = {f.name for f in fields(LiveState)}
    kw = {k: v for k, v in d.items() if k in names}
    try:
        hint = kw.get("hint")
        kw["hint"] = LiveHint(**hint) if hint else None
        kw["protocol"] = tuple(LiveProtocolItem(**i) for i in kw.get("protocol") or ())
        bbox = kw.get("sector_bbox")
        kw["sector_bbox"] = tuple(int(v) for v in bbox) if bbox else None
        return LiveState(**kw)
    except (TypeError, ValueError) as exc:
        raise LiveStateError(f"malformed live state: {exc}") from exc


def encode_live_state(state: LiveState) -> bytes:
    """UTF-8 JSON bytes for ``run/live.json`` (written atomically by the core)."""
    return json.dumps(live_state_to_dict(state), ensure_ascii=False, allow_nan=False,
                      default=_json_number).encode("utf-8")


def decode_live_state(data: bytes) -> LiveState:
    """The state in ``run/live.json``; LiveStateError when it is not a state this version reads."""
    try:
        d = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise LiveStateError(f"live state is not JSON: {exc}") from exc
    return live_state_from_dict(d)


def _json_number(v: Any) -> Any:
    if isinstance(v, (np.integer, np.floating)):
        return v.item()
    raise TypeError(f"{type(v).__name__} is not JSON-safe")
