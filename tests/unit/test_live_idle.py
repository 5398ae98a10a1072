"""Issue 18 part 6: the core lowers the simulated probe's rate while idle (no open exam, nobody watching)."""

from __future__ import annotations

import os
import time

from device.domain.live import LIVE_WATCH_FILE
from device.drivers.sim_probe import SimProbeSource
from device.services.live_idle import IDLE_STRIDE, set_idle_rate, watched


def test_stride_follows_exam_and_watchers(tmp_path):
    src = SimProbeSource(realtime=False, max_frames=10)
    assert set_idle_rate(src, exam_open=False, run_dir=tmp_path) == IDLE_STRIDE == src.stride
    assert set_idle_rate(src, exam_open=True, run_dir=tmp_path) == 1 == src.stride
    (tmp_path / LIVE_WATCH_FILE).touch()
    assert watched(tmp_path) and set_idle_rate(src, exam_open=False, run_dir=tmp_path) == 1
    old = time.time() - 60
    os.utime(tmp_path / LIVE_WATCH_FILE, (old, old))                 # the live page was closed a minute ago
    assert not watched(tmp_path) and set_idle_rate(src, exam_open=False, run_dir=tmp_path) == IDLE_STRIDE
    assert set_idle_rate(object(), exam_open=False, run_dir=tmp_path) == 1   # a source without a rate knob


def test_strided_source_draws_fewer_frames_in_the_same_simulated_time():
    full = SimProbeSource(realtime=False, max_frames=30, width=320, height=240)
    idle = SimProbeSource(realtime=False, max_frames=30, width=320, height=240)
    idle.stride = 10
    assert len(list(full)) == 30
    frames = list(idle)
    assert [f.index for f in frames] == [9, 19, 29]                    # one in ten drawn, time keeps its pace
