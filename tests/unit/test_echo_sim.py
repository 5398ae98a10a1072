"""The simulated probe: every view renders, truth is consistent (quality, correction, LV masks, ED/ES)."""

from __future__ import annotations

import numpy as np
import pytest

from device.sim.echo_overlay import OverlayStyle
from device.sim.echo_pose import GUIDANCE, TOLERANCE, Pose, correction, quality
from device.sim.echo_probe import Segment, SimulatedProbe, random_sample, render_screen
from device.sim.echo_render import BModeRenderer, Look, sonosite_geom
from device.sim.echo_views import HEART_VIEWS, LV_VIEWS, VIEWS


@pytest.fixture(scope="module")
def renderer():
    return BModeRenderer(sonosite_geom(320, 240), seed=0)


@pytest.mark.parametrize("view", HEART_VIEWS)
def test_every_view_renders_a_fan_with_truth(renderer, view):
    rng = np.random.default_rng(0)
    rgb, t = render_screen(renderer, view, Pose(), 0.0, 70.0, OverlayStyle(), Look(), rng)
    assert rgb.shape == (240, 320, 3) and rgb.dtype == np.uint8
    x0, y0, x1, y1 = t.sector_bbox
    fan = rgb[y0:y1, x0:x1, 0]
    assert fan.mean() > 5 and fan.std() > 5  # speckled image, not blank
    assert t.view == view and t.quality == pytest.approx(1.0) and t.guidance == "hold"
    if view in LV_VIEWS:
        assert t.lv_cavity is not None and t.lv_cavity.sum() > 50
        assert t.lv_myo is not None and t.lv_myo.sum() > 50
        assert not np.any(t.lv_cavity & t.lv_myo)
        assert t.lv_area_mm2 == pytest.approx(t.lv_cavity.sum() * t.mm_per_px ** 2)
    else:
        assert t.lv_cavity is None


def test_lv_cavity_is_smaller_at_end_systole(renderer):
    rng = np.random.default_rng(1)
    hr = 60.0
    _, ed = render_screen(renderer, "A4C", Pose(), 0.0, hr, OverlayStyle(), Look(), rng)
    _, es = render_screen(renderer, "A4C", Pose(), 0.38, hr, OverlayStyle(), Look(), rng)
    assert ed.is_ed and not ed.is_es and es.is_es and not es.is_ed
    assert es.lv_area_mm2 < 0.85 * ed.lv_area_mm2


def test_quality_and_correction_follow_the_pose():
    assert quality(Pose()) == 1.0
    assert quality(Pose(rotate_deg=TOLERANCE["rotate_deg"])) == pytest.approx(np.exp(-0.5))
    assert correction(Pose(rotate_deg=30)) == "rotate_ccw"
    assert correction(Pose(rotate_deg=-30)) == "rotate_cw"
    assert correction(Pose(depth_rel=-0.5)) == "depth_more"
    assert correction(Pose(depth_rel=0.5)) == "depth_less"
    assert correction(Pose(slide_mm=20)) == "slide_apex"
    assert correction(Pose(rock_deg=20, tilt_deg=5)) == "rock_toward_marker"
    assert correction(Pose(tilt_deg=-25)) == "tilt_up"
    assert set(GUIDANCE) >= {correction(Pose(**{a: s * 40})) for a in TOLERANCE for s in (-1, 1)}


def test_pose_moves_the_heart(renderer):
    rng = np.random.default_rng(2)
    _, a = render_screen(renderer, "A4C", Pose(), 0.0, 70, OverlayStyle(), Look(), rng)
    _, b = render_screen(renderer, "A4C", Pose(rock_deg=15), 0.0, 70, OverlayStyle(), Look(), rng)
    xa = np.nonzero(a.lv_cavity)[1].mean()
    xb = np.nonzero(b.lv_cavity)[1].mean()
    assert xb > xa + 5  # rocked toward the marker (screen right)


def test_random_samples_cover_other_and_sizes():
    rng = np.random.default_rng(3)
    kinds = set()
    for _ in range(12):
        img, t = random_sample(rng, view="OTHER")
        kinds.add(t.other_kind)
        assert t.view == "OTHER" and t.quality == 0.0
    assert len(kinds) >= 3
    img, t = random_sample(rng, view="PLAX", size=(400, 300))
    assert img.shape == (300, 400, 3) and t.view in VIEWS


def test_probe_drifts_into_the_view_and_is_reproducible():
    script = (Segment("A4C", approach_s=1.0, hold_s=1.0, leave_s=0.5),)
    a, b = SimulatedProbe(script, (320, 240), fps=10, seed=4), SimulatedProbe(script, (320, 240), fps=10, seed=4)
    qs = []
    for _ in range(25):
        ra, ta = a.next()
        rb, _ = b.next()
        assert np.array_equal(ra, rb)
        qs.append(ta.quality)
    assert qs[0] < 0.3  # starts off the view
    assert max(qs[10:20]) > 0.8  # holds it
    assert qs[-1] < max(qs[10:20])  # drifts off
