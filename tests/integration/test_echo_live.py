"""The live echo loop end to end on the simulated probe, with an oracle classifier (the simulator's own truth), so
the loop's logic is tested apart from the model: alarm -> standard view -> best clip saved -> protocol advances;
no signal on black, frozen or lost sources; drop-oldest under load."""

from __future__ import annotations

import time

import numpy as np

from device.drivers.base import SourceFrame, SourceLost
from device.drivers.sim_probe import SimProbeSource
from device.echo.gate import GateParams
from device.echo.prep import ViewOutput
from device.pipeline.live_echo import LiveEcho
from device.sim.echo_pose import GUIDANCE
from device.sim.echo_probe import Segment
from device.sim.echo_views import VIEWS


class Oracle:
    """Answers with the simulator's truth for the frame it is shown (looked up by the pixel buffer)."""

    labels = VIEWS
    guidance_labels = GUIDANCE
    size = 96
    tag = "oracle 0 test"

    def __init__(self, delay_s: float = 0.0):
        self.truth: dict[int, object] = {}
        self.delay_s = delay_s

    def watch(self, frames):
        for f in frames:
            self.truth[id(f.pixels)] = f.truth
            yield f

    def __call__(self, pixels, sector):
        if self.delay_s:
            time.sleep(self.delay_s)
        t = self.truth.get(id(pixels))
        p = np.full(len(VIEWS), 0.01)
        if t is None:  # a frame that is not from the simulator
            p[VIEWS.index("OTHER")] = 0.9
            return ViewOutput("OTHER", 0.9, p / p.sum(), 0.0, "hold", 0.9)
        p[VIEWS.index(t.view)] = 0.9
        return ViewOutput(t.view, 0.9, p / p.sum(), t.quality, t.guidance, 0.9)


def test_drift_into_view_gives_tone_clip_and_next_view():
    script = (Segment("A4C", approach_s=4.0, hold_s=4.0, leave_s=1.0), Segment("PLAX", 4.0, 4.0, 1.0))
    src = SimProbeSource(width=320, height=240, realtime=False, max_frames=17 * 30, script=script, seed=5)
    oracle = Oracle()
    events, clips = [], []
    loop = LiveEcho(src, oracle, protocol=["A4C", "PLAX"], params=GateParams(quality_threshold=0.6, hold_s=1.0),
                    clip_s=2.0, on_event=events.append, on_clip=clips.append, sync_sector=True)
    for f in oracle.watch(src):
        loop.process(f)
    kinds = [(e.kind, e.view) for e in events]
    assert ("standard_view", "A4C") in kinds and ("standard_view", "PLAX") in kinds
    first_alarm = next(i for i, k in enumerate(kinds) if k[0] == "alarm")
    assert first_alarm < kinds.index(("standard_view", "A4C")) < kinds.index(("clip_saved", "A4C"))
    std = next(e for e in events if e.kind == "standard_view")
    assert std.tone == "standard"
    assert [c.view for c in clips] == ["A4C", "PLAX"]
    for c in clips:
        assert 1.9 <= c.duration_s <= 2.1 and c.quality_min >= 0.55 and c.frames.shape[1:] == (240, 320, 3)
        assert c.model == "oracle 0 test"
    assert loop.protocol.done and ("protocol_done", "PLAX") in kinds
    assert loop.stats()["processed"] == 510


def _frames(pixels_list, fps=30.0):
    for i, px in enumerate(pixels_list):
        yield SourceFrame(int(i * 1e9 / fps), px, i, "test")


def test_black_and_frozen_screens_are_no_signal():
    rng = np.random.default_rng(0)
    events = []
    loop = LiveEcho(iter(()), Oracle(), on_event=events.append)
    black = [np.zeros((240, 320, 3), np.uint8)] * 30
    for f in _frames(black):
        loop.process(f)
    assert [e.kind for e in events] == ["no_signal"]
    frozen = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
    events.clear()
    loop2 = LiveEcho(iter(()), Oracle(), on_event=events.append)
    for f in _frames([frozen] * 40):
        loop2.process(f)
    assert [e.kind for e in events] == ["no_signal"]


class Lost:
    def __iter__(self):
        yield from ()
        raise SourceLost("capture device /dev/video0 gave no frames; check the cable")


def test_lost_source_becomes_no_signal_without_crashing():
    events = []
    loop = LiveEcho(Lost(), Oracle(), on_event=events.append, no_frame_timeout_s=0.1,
                    params=GateParams(no_signal_after_s=0.2))
    loop.start()
    time.sleep(0.8)
    loop.stop()
    assert loop.source_error and "cable" in loop.source_error
    assert [e.kind for e in events].count("no_signal") == 1


def test_slow_model_drops_oldest_frames_not_latency():
    oracle = Oracle(delay_s=0.03)
    src = SimProbeSource(width=160, height=120, realtime=True, fps=60, max_frames=90, seed=1)
    loop = LiveEcho(oracle.watch(src), oracle, queue_size=2)
    assert not loop.is_running()
    loop.start()
    assert loop.is_running()
    loop.join(10)
    assert not loop.is_running()    # the file source ended: the core's supervisor sees this and restarts the loop
    st = loop.stats()
    assert st["dropped"] > 10 and st["processed"] + st["dropped"] == 90
    assert st["latency_p99_ms"] < 200  # bounded by the short queue, not by the backlog


class FakeSink:
    """The store side of the loop (device.pipeline.live_sink.StateSink), recording what it is given."""

    def __init__(self, keep: bool):
        self.keep = keep
        self.frames, self.events, self.clips = [], [], []

    def publish_state(self, state, picture_rgb):
        self.frames.append((picture_rgb.shape, state))

    def on_event(self, kind, payload):
        self.events.append((kind, payload))

    def keep_clip(self, clip):
        self.clips.append(clip)
        return 7 if self.keep else None


def test_connect_sink_maps_events_clips_and_state():
    import json

    from device.domain.live import ClipRecord, decode_live_state, encode_live_state
    from device.pipeline.live_echo import connect_sink

    for keep in (True, False):
        script = (Segment("A4C", approach_s=3.0, hold_s=4.0, leave_s=1.0),)
        src = SimProbeSource(width=160, height=120, realtime=False, max_frames=240, script=script, seed=2)
        oracle = Oracle()
        loop = LiveEcho(src, oracle, protocol=["A4C", "A2C"], clip_s=1.5)
        sink = FakeSink(keep)
        connect_sink(loop, sink)
        for f in oracle.watch(src):
            loop.process(f)
        assert len(sink.frames) == 240 and sink.frames[-1][0] == (120, 160, 3)
        st = sink.frames[-1][1]
        assert decode_live_state(encode_live_state(st)) == st
        assert st.disclaimer_en and st.model == "oracle 0 test" and st.protocol[0].view == "A4C"
        kinds = [k for k, _ in sink.events]
        assert "standard_view" in kinds and "clip_saved" not in kinds
        assert sink.clips and isinstance(sink.clips[0], ClipRecord) and sink.clips[0].view == "A4C"
        assert sink.clips[0].model_tag == "oracle 0 test" and sink.clips[0].frames.shape[1:] == (120, 160, 3)
        json.dumps([p for _, p in sink.events])
        assert loop.protocol.target == ("A2C" if keep else "A4C")


def test_protocol_can_be_edited_while_running():
    import pytest

    from device.errors import InputError

    loop = LiveEcho(iter(()), Oracle(), protocol=["PLAX", "A4C"])
    assert loop.target == "PLAX"
    loop.skip_view()
    assert loop.target == "A4C"
    loop.set_protocol(["A2C", "PLAX"])
    assert loop.target == "A2C" and [i.view for i in loop.protocol_items()] == ["A2C", "PLAX"]
    loop.select_view("PLAX")
    assert loop.target == "PLAX"
    with pytest.raises(InputError):
        loop.set_protocol(["A9C"])
    loop.new_exam()
    assert not any(i.captured for i in loop.protocol_items())
    from device.echo.protocol import ExamProtocol
    followed = ExamProtocol(["A2C", "A4C"])
    followed.mark_captured("A2C", 0.8)
    loop.replace_protocol(followed)     # the core's exam follower, under the loop's lock
    assert loop.target == "A4C" and loop.protocol is followed
    loop.replace_protocol(None)
    assert loop.target is None and loop.protocol_items() == ()
