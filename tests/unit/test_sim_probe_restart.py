"""The simulated probe source starts its script again (LEAD_IN_S before the first view) when an exam opens, so the
live page sees the search for the first view; an unpaced replay keeps its simulated time."""

from __future__ import annotations

from device.drivers.sim_probe import LEAD_IN_S, SimProbeSource
from device.services.live_idle import IDLE_STRIDE, set_idle_rate


def test_exam_opening_restarts_a_paced_probe_before_its_first_view(tmp_path):
    src = SimProbeSource(realtime=True, width=320, height=240, fps=30.0)
    it = iter(src)
    set_idle_rate(src, False, tmp_path)
    assert src.stride == IDLE_STRIDE
    for _ in range(3):
        next(it)
    set_idle_rate(src, True, tmp_path)          # the exam opens
    f = next(it)
    total_s = sum(sg.duration_s for sg in src.probe.script)
    assert f.index == round((total_s - LEAD_IN_S) * 30.0)
    assert f.truth.view == src.probe.script[-1].view            # the end of the last view: not the first one yet
    set_idle_rate(src, True, tmp_path)          # still open: no second restart
    assert next(it).index == f.index + 1


def test_unpaced_replay_is_not_restarted(tmp_path):
    src = SimProbeSource(realtime=False, width=320, height=240, fps=30.0)
    it = iter(src)
    next(it)
    set_idle_rate(src, True, tmp_path)
    assert next(it).index == 1
