"""Myocardium (fuzzy c-means), apex -> base numbering, classical polar map and 17 segments on simulated studies."""

from __future__ import annotations

import numpy as np
import pytest

from device.errors import InputError
from device.perfusion.geometry import (N_RINGS, N_SECTORS, SEGMENT_TERRITORY, segment_index_map, segment_means,
                                       territory_masks)
from device.perfusion.polar import rings_to_polar, slice_rings
from device.perfusion.segment import fcm_1d, segment_lv
from device.sim.spect import Defect, Phantom, simulate_study


def _polar(vol):
    stack, seg = segment_lv(vol)
    return stack, seg, rings_to_polar(slice_rings(stack, seg)[0])


def test_segment_map_is_aha_17():
    seg = segment_index_map()
    assert seg.shape == (N_RINGS, N_SECTORS)
    assert set(np.unique(seg)) == set(range(1, 18))
    # anterior (90 deg) basal ring is segment 1, septal (180) mid ring segment 8/9 border, lateral apical is 16
    sector = lambda deg: int(deg / 360 * N_SECTORS)  # noqa: E731
    assert seg[-1, sector(90)] == 1 and seg[-1, sector(270)] == 4 and seg[-1, sector(330)] == 5
    assert seg[2, sector(10)] == 16 and seg[2, sector(180)] == 14 and seg[0, 0] == 17
    masks = territory_masks()
    assert not (masks["LAD"] & masks["RCA"]).any() and (masks["LAD"] | masks["LCX"] | masks["RCA"]).all()
    assert SEGMENT_TERRITORY[16] == "LAD"


def test_fcm_separates_three_levels():
    rng = np.random.default_rng(0)
    v = np.concatenate([rng.normal(5, 1, 3000), rng.normal(40, 3, 1000), rng.normal(100, 5, 500)])
    centres, _, _ = fcm_1d(v)
    np.testing.assert_allclose(centres, [5, 40, 100], atol=6)


@pytest.mark.parametrize("apex_first", [True, False])
def test_apex_to_base_and_lv_found(apex_first):
    s = simulate_study(phantom=Phantom(attenuation="none"), apex_first=apex_first, seed=3)
    stack, seg, polar = _polar(s.stress)
    assert seg.flipped is (not apex_first)
    assert seg.last - seg.first >= 12  # ~70-80 mm LV at 3.2 mm slices
    # apex first: the LV gets wider toward the base
    assert seg.myo_mask[seg.last - 2].sum() > seg.myo_mask[seg.first + 2].sum()
    assert polar.shape == (N_RINGS, N_SECTORS) and polar.max() <= 150 and polar.min() >= 0


@pytest.mark.parametrize("territory", ["LAD", "LCX", "RCA"])
def test_defect_lowers_its_own_territory(territory):
    ph = Phantom(attenuation="none", liver=0.3)
    normal = segment_means(_polar(simulate_study(phantom=ph, seed=5).stress)[2])
    sick = segment_means(_polar(simulate_study((Defect(territory, 0.6, 0.6),), phantom=ph, seed=5).stress)[2])
    drop = normal - sick
    own = np.array([t == territory for t in SEGMENT_TERRITORY])
    assert drop[own].mean() > 10.0  # percent points
    assert drop[own].mean() > 2 * drop[~own].mean()


def test_no_heart_and_empty_volume_are_refused():
    rng = np.random.default_rng(0)
    with pytest.raises(InputError, match="no counts|all counts"):
        segment_lv(np.zeros((32, 32, 32), np.float32))
    blob = np.zeros((40, 40, 40), np.float32)
    zz, yy, xx = np.mgrid[:40, :40, :40]
    blob[(zz - 20) ** 2 + (yy - 20) ** 2 + (xx - 20) ** 2 < 64] = 100  # a solid sphere: no cavity, no LV
    with pytest.raises(InputError, match="no left ventricle"):
        segment_lv(rng.poisson(blob + 2).astype(np.float32))
    with pytest.raises(InputError):
        segment_lv(rng.poisson(np.full((32, 32, 32), 5.0)).astype(np.float32))  # noise only


def test_bullseye_picture_shows_the_map():
    from device.perfusion.bullseye import render_bullseye, render_slices

    polar = np.full((N_RINGS, N_SECTORS), 100.0, np.float32)
    polar[:, : N_SECTORS // 4] = 20.0  # lateral-anterior quadrant (0-90 deg) cold
    img = render_bullseye(polar, segment_means(polar), "t")
    top, side = 72, 40
    c = (side + 180, top + 180)
    hot = img[c[1] - 120, c[0] - 30]  # 12 o'clock-ish, left of centre: 100 %
    cold = img[c[1] - 60, c[0] + 60]  # 45 deg up-right: 20 %
    assert hot[0] > 100 and hot[2] < 80  # red end of the jet map
    assert cold[2] > 100 and cold[0] < 80  # blue end
    s = simulate_study(seed=1)
    stack, seg = segment_lv(s.stress)
    strip = render_slices(stack, seg.first, seg.last)
    assert strip.shape[2] == 3 and strip.std() > 10
