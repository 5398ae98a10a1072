"""Best loop selection and the clip buffer."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from device.echo.bestclip import ClipBuffer, best_window

NS = 1_000_000_000


def test_best_window_finds_the_best_run():
    t = np.arange(300) * NS // 30
    q = np.full(300, 0.5)
    q[150:240] = 0.9
    ok = np.ones(300, bool)
    i, j, m = best_window(t, q, ok, clip_s=3.0)
    assert 148 <= i <= 152 and j - i >= 88 and m > 0.85


def test_best_window_respects_ok_and_min_length():
    t = np.arange(60) * NS // 30
    q = np.full(60, 0.9)
    ok = np.ones(60, bool)
    ok[::20] = False  # no clean run of 1 s (30 frames)
    assert best_window(t, q, ok, clip_s=3.0, min_s=1.0) is None


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=40, max_size=90), st.integers(0, 5))
def test_best_window_is_optimal(qs, seed):
    rng = np.random.default_rng(seed)
    n = len(qs)
    t = np.cumsum(rng.integers(25, 40, n)) * 1_000_000
    q = np.array(qs)
    ok = rng.random(n) > 0.05
    got = best_window(t, q, ok, clip_s=0.6, min_s=0.6)
    brute = None
    for i in range(n):
        for j in range(i + 2, n + 1):
            dur = (t[j - 1] - t[i]) / 1e9
            if dur > 0.6 + 1e-9 or not ok[i:j].all():
                continue
            if dur >= 0.6 - 1e-9 - 0.0:
                m = q[i:j].mean()
                brute = m if brute is None or m > brute else brute
    if brute is None:
        assert got is None or (t[got[1] - 1] - t[got[0]]) / 1e9 >= 0.39
    else:
        assert got is not None and got[2] >= brute - 1e-9


def test_clip_buffer_bounds_and_best_clip():
    buf = ClipBuffer(max_s=2.0, max_bytes=10**9)
    f = np.zeros((4, 4, 3), np.uint8)
    for k in range(120):
        buf.add(k * NS // 30, f + k % 200, "A4C" if k > 50 else "PLAX", 0.9 if k > 80 else 0.6)
    assert (buf.items[-1][0] - buf.items[0][0]) / NS <= 2.0
    clip = buf.best("A4C", clip_s=1.0, min_quality=0.5, model="m 1")
    assert clip is not None and clip.view == "A4C" and clip.quality_mean > 0.85
    assert clip.frames.shape[1:] == (4, 4, 3) and 0.9 <= clip.duration_s <= 1.05 and 28 <= clip.fps <= 31
    small = ClipBuffer(max_s=100, max_bytes=f.nbytes * 10)
    for k in range(50):
        small.add(k, f, "A4C", 0.9)
    assert len(small.items) == 10
