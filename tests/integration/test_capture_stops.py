"""Issue 18 part 1: once every protocol view is captured, the live loop keeps no more clips into the exam (the
cart kept saving 21 clips by signing, each new one changing the report); tapping a view re-acquires it."""

from __future__ import annotations

from device.drivers.sim_probe import SimProbeSource
from device.echo.gate import GateParams
from device.pipeline.live_echo import LiveEcho
from device.sim.echo_probe import Segment
from tests.integration.test_echo_live import Oracle


def _run(loop: LiveEcho, src, oracle) -> None:
    for f in oracle.watch(src):
        loop.process(f)


def test_no_clip_kept_after_the_protocol_is_complete_until_a_view_is_tapped():
    script = (Segment("A4C", approach_s=2.0, hold_s=4.0, leave_s=1.0), Segment("PLAX", 2.0, 4.0, 1.0),
              Segment("A4C", 2.0, 4.0, 1.0))
    src = SimProbeSource(width=320, height=240, realtime=False, max_frames=21 * 30, script=script, seed=5)
    oracle = Oracle()
    events, clips = [], []
    loop = LiveEcho(src, oracle, protocol=["A4C"], params=GateParams(quality_threshold=0.6, hold_s=1.0),
                    clip_s=2.0, on_event=events.append, on_clip=clips.append, sync_sector=True)
    _run(loop, src, oracle)
    assert [c.view for c in clips] == ["A4C"]                     # PLAX and A4C shown again: nothing kept
    assert [e.kind for e in events].count("protocol_done") == 1
    loop.select_view("A4C")                                        # the sonographer asks for the view again
    src2 = SimProbeSource(width=320, height=240, realtime=False, max_frames=8 * 30, script=script[:1], seed=6)
    _run(loop, src2, oracle)
    assert [c.view for c in clips][:2] == ["A4C", "A4C"]
