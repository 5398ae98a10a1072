"""Patent 000's chain (issue 16 point 5): network 1's polar map feeds the bullseye, the scores and network 2, the
classical map is kept beside it as a check, and the classical map takes over (with a note) when the two disagree
beyond the bounds."""

import numpy as np
import pytest

from device.errors import InputError
from device.perfusion import analysis
from device.perfusion.analysis import AGREEMENT_BOUND_PCT, SEGMENT_BOUND_PCT, analyse_study, choose_polar
from device.perfusion.geometry import N_RINGS, N_SECTORS, segment_index_map, segment_means
from device.sim.spect import Defect, simulate_study


def _maps(seed=0):
    rng = np.random.default_rng(seed)
    cls = (70 + 10 * rng.random((N_RINGS, N_SECTORS))).astype(np.float32)
    return cls, cls + rng.normal(0, 1.0, cls.shape).astype(np.float32)


def test_choose_polar_bounds():
    cls, net = _maps()
    assert choose_polar(cls, net)[:2] == ("network", "")
    assert choose_polar(cls, None) == ("classical", "", None, None)
    src, note, mae, _ = choose_polar(cls, cls + AGREEMENT_BOUND_PCT + 0.5)        # uniformly off by 5.5 pp
    assert src == "classical" and "bound 5" in note and mae == pytest.approx(AGREEMENT_BOUND_PCT + 0.5, abs=1e-3)
    local = net.copy()
    local[:4, :] -= 40.0                                                          # apex only: MAE ~8, segment 40
    assert choose_polar(cls, local)[0] == "classical"
    one_seg = net.copy()
    one_seg[segment_index_map() == 17] -= 2.0 * SEGMENT_BOUND_PCT                # segment 17 (apex): small MAE
    src, note, mae, seg = choose_polar(cls, one_seg)
    assert mae < AGREEMENT_BOUND_PCT and seg > SEGMENT_BOUND_PCT and src == "classical", (mae, seg)
    src, note, _, _ = choose_polar(cls, net, cls, cls - 9.0)                       # stress agrees, rest does not
    assert src == "classical" and "rest" in note


@pytest.fixture(scope="module")
def study():
    return simulate_study((Defect("LAD", 0.5, 0.6),), seed=11)


def test_network_map_feeds_segments_scores_and_network2(study):
    res = analyse_study(study.stress, study.voxel_mm, study.rest, polar_source="network")
    assert res.polar_source == "network" and res.polar_note == ""
    assert res.polar_classical_pct is not None and res.polar_network_pct is not None
    np.testing.assert_array_equal(res.polar_stress_pct, res.polar_network_pct)      # the map in use is network 1's
    assert not np.array_equal(res.polar_stress_pct, res.polar_classical_pct)
    np.testing.assert_allclose(res.segments_stress_pct, segment_means(res.polar_network_pct), atol=1e-4)
    assert res.network_agreement_mae_pct < AGREEMENT_BOUND_PCT
    lad = {t.territory: t for t in res.territories}["LAD"]
    assert lad.at_risk and lad.extent_pct > 5
    doc = res.to_json_dict()["polar_map"]
    assert doc["source"].startswith("network 1") and doc["agreement_bound_pct"] == AGREEMENT_BOUND_PCT
    cls = analyse_study(study.stress, study.voxel_mm, study.rest, polar_source="classical")
    np.testing.assert_array_equal(cls.polar_stress_pct, res.polar_classical_pct)
    assert cls.polar_source == "classical" and cls.to_json_dict()["polar_map"]["source"].startswith("classical")


def test_disagreeing_network_falls_back_to_the_classical_map(study, monkeypatch):
    real = analysis.network_rings

    def broken(stack, seg, px, variant=None):
        rings, tag = real(stack, seg, px, variant)
        rings = rings.copy()
        rings[: max(1, len(rings) // 3)] *= 0.3                    # a network that darkens the apex
        return rings, tag

    monkeypatch.setattr(analysis, "network_rings", broken)
    res = analyse_study(study.stress, study.voxel_mm, study.rest, polar_source="network")
    assert res.polar_source == "classical" and "classical map is used" in res.polar_note
    np.testing.assert_array_equal(res.polar_stress_pct, res.polar_classical_pct)
    assert res.to_json_dict()["polar_map"]["note"] == res.polar_note


def test_unknown_polar_source_is_refused(study):
    with pytest.raises(InputError, match="polar map source"):
        analyse_study(study.stress, study.voxel_mm, polar_source="magic")
