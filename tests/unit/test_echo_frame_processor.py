"""The live loop's pure per-frame processor: frames and times in, typed outcomes out; no threads, no clock. Driven
frame by frame on the simulated probe with a fake classifier that answers from the simulator's truth."""

from __future__ import annotations

import threading

import numpy as np

from device.drivers.sim_probe import SimProbeSource
from device.echo.gate import GateParams
from device.echo.prep import ViewOutput
from device.echo.screen import find_sector
from device.pipeline.echo_frame import FrameOutcome, FrameProcessor, clip_kept_events
from device.sim.echo_pose import GUIDANCE
from device.sim.echo_probe import Segment
from device.sim.echo_views import VIEWS


class Truth:
    labels, guidance_labels, tag = VIEWS, GUIDANCE, "truth 0 test"

    def __init__(self):
        self.frame = None

    def __call__(self, pixels, sector):
        t = self.frame.truth
        p = np.full(len(VIEWS), 0.01)
        p[VIEWS.index(t.view)] = 0.9
        return ViewOutput(t.view, 0.9, p / p.sum(), t.quality, t.guidance, 0.9)


def frames(n=8 * 30):
    script = (Segment("A4C", approach_s=2.0, hold_s=5.0, leave_s=1.0),)
    return SimProbeSource(width=160, height=120, realtime=False, max_frames=n, script=script, seed=2)


def test_processor_turns_frames_into_outcomes_without_threads_and_hands_out_fan_searches():
    clf = Truth()
    proc = FrameProcessor(clf, GateParams(quality_threshold=0.6, hold_s=1.0), clip_s=1.5, defer_sector_search=True)
    before = threading.active_count()
    outs: list[FrameOutcome] = []
    searches = 0
    for f in frames():
        clf.frame = f
        out = proc.process(f, "A4C")
        outs.append(out)
        if out.sector_search is not None:     # the runner would search on a helper thread; here, at once
            searches += 1
            proc.deliver_sector(find_sector(out.sector_search))
    assert threading.active_count() == before
    assert all(o.result is not None and o.result.latency_ms == 0.0 for o in outs)   # latency is the runner's
    assert 5 <= searches <= 9                                                         # ~one per second of 8 s
    kinds = [e.kind for o in outs for e in o.events]
    assert kinds.count("standard_view") == 1
    clips = [o.clip for o in outs if o.clip is not None]
    assert len(clips) == 1 and clips[0].view == "A4C" and 1.4 <= clips[0].duration_s <= 1.6
    i_std = next(i for i, o in enumerate(outs) if any(e.kind == "standard_view" for e in o.events))
    assert outs[i_std].result.state.status == "standard"
    events = clip_kept_events(clips[0], 0, advanced=True, done=True, next_view=None)
    assert [e.kind for e in events] == ["clip_saved", "protocol_done"]


def test_a_clip_still_being_kept_blocks_the_next_and_a_new_exam_forgets_the_buffer():
    clf = Truth()
    proc = FrameProcessor(clf, GateParams(quality_threshold=0.6, hold_s=1.0), clip_s=1.5)
    clips = []
    for f in frames():
        clf.frame = f
        clips += [o for o in [proc.process(f, "A4C", clip_busy=True).clip] if o is not None]
    assert clips == []                          # the tone sounded, but no new clip starts while one is being kept
    assert len(proc.buffer.items) > 0
    proc.new_exam()
    assert len(proc.buffer.items) == 0
    out = proc.no_frame(10**12, "A4C")
    assert out.result is None and out.clip is None
