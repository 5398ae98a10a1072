"""PLAX aortic root / LVOT calipers (device/echo/aorta.py) on a simulated clip with a known 22 mm lumen, a refusal
on a blank clip, calipers equal to their points' distance, and the AVA by the continuity equation."""

from __future__ import annotations

import numpy as np
import pytest

from device.echo import aorta
from device.echo.measures2d import Clip2D, caliper_mm, measure_clip
from device.eval.echo_2d_great import TRUTH_MM, plax_clip


def test_simulated_plax_calipers_near_truth_and_equal_their_points():
    clip = plax_clip(3)
    ms = {m.name: m for m in aorta.measure_aorta(clip)}
    assert set(ms) == set(aorta.NAMES)
    got = {n: m for n, m in ms.items() if m.value is not None}
    assert len(got) >= 4
    for m in got.values():
        assert m.value == pytest.approx(TRUTH_MM, abs=5.0)
        assert m.value == pytest.approx(caliper_mm(m.points, clip.mm_per_px), abs=1e-6)
        assert m.kind == "caliper" and m.frame is not None


def test_blank_clip_refuses_with_a_reason():
    d = measure_clip(Clip2D(np.zeros((4, 120, 160), np.uint8), (0.4, 0.4), "PLAX"))
    recs = {m["name"]: m for m in d["measures"]}
    for n in aorta.NAMES:
        assert recs[n]["value"] is None and recs[n]["reason"]
