"""The live state codec shared by the core (writer) and the web UI (reader): round trip, version, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from device.domain.live import (LIVE_STATE_VERSION, ClipRecord, LiveHint, LiveProtocolItem, LiveState, LiveStateError,
                                decode_live_state, encode_live_state, live_state_to_dict)


def full_state() -> LiveState:
    return LiveState("holding", view="A4C", view_conf=0.93, quality=0.71, target="A4C", hold_frac=0.4,
                     hint=LiveHint("hold", "Hold still", "保持不动", "dot"),
                     protocol=(LiveProtocolItem("PLAX", True, 0.8), LiveProtocolItem("A4C", False, None)),
                     model="echo_view 1.0.0 int8", latency_ms=3.2, mm_per_px=np.float64(0.31),
                     sector_bbox=(10, 5, 300, 230), frame_index=12, fps=29.9, exam_id=4, wall_time_s=1.7e9,
                     disclaimer_en="Not for diagnostic use without review.", disclaimer_zh="未经医生审核")


def test_round_trip_keeps_every_field_and_names_units():
    s = full_state()
    data = encode_live_state(s)
    assert decode_live_state(data) == s
    d = json.loads(data)
    assert d["version"] == LIVE_STATE_VERSION and d["hint"]["text_zh"] == "保持不动"
    assert d["protocol"][0] == {"view": "PLAX", "captured": True, "quality": 0.8} and d["sector_bbox"] == [10, 5, 300, 230]
    assert {"latency_ms", "wall_time_s", "mm_per_px", "hold_frac"} <= set(d)
    assert live_state_to_dict(s)["status"] == "holding"


def test_other_versions_garbage_and_unknown_statuses_are_refused():
    d = live_state_to_dict(full_state())
    with pytest.raises(LiveStateError, match="version 2"):
        decode_live_state(json.dumps({**d, "version": 2}).encode())
    with pytest.raises(LiveStateError, match="not JSON"):
        decode_live_state(b'{"version": 1, "sta')
    with pytest.raises(LiveStateError, match="unknown live status"):
        decode_live_state(json.dumps({**d, "status": "dancing"}).encode())
    with pytest.raises(LiveStateError, match="malformed"):
        decode_live_state(json.dumps({**d, "hint": {"code": "x"}}).encode())
    with pytest.raises(LiveStateError):
        decode_live_state(b"[1, 2]")


def test_freshness_and_clip_meta():
    s = LiveState("uncertain", uncertain=True, wall_time_s=100.0)
    assert s.is_fresh(101.0) and not s.is_fresh(104.0)
    c = ClipRecord(frames=np.zeros((3, 4, 4, 3), np.uint8), fps=30.0, view="A4C", quality_mean=0.8, quality_min=0.7,
                   duration_s=0.07, model_name="echo_view", model_version="1", model_tag="echo_view 1 int8",
                   sector_bbox=(1, 2, 3, 4))
    m = c.meta()
    assert m["sector_bbox"] == [1, 2, 3, 4] and m["model_tag"] == "echo_view 1 int8" and json.dumps(m)
