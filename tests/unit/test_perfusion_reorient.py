"""Transaxial volumes: LV long-axis estimate and re-orientation to the standard short-axis frame."""

from __future__ import annotations

import numpy as np
import pytest

from device.errors import InputError
from device.perfusion.analysis import analyse_study
from device.perfusion.reorient import estimate_long_axis
from device.sim.spect import Defect, Phantom, simulate_study


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_axis_of_normal_transaxial_study(seed):
    s = simulate_study(phantom=Phantom(attenuation="none"), orientation="transaxial", seed=seed)
    est = estimate_long_axis(s.stress, s.voxel_mm)
    truth_lps = s.axis_index[::-1]  # (z, y, x) index -> (x, y, z) LPS with the default direction
    err = np.degrees(np.arccos(np.clip(est.apex_lps @ truth_lps, -1, 1)))
    assert err < 8.0
    assert est.angle_to_slices_deg > 25  # oblique to the transaxial slices


def test_transaxial_defect_lands_in_its_territory():
    ph = Phantom(attenuation="none", liver=0.3)
    s = simulate_study((Defect("LCX", 0.5, 0.6, reversibility=1.0),), phantom=ph, orientation="transaxial", seed=4)
    res = analyse_study(s.stress, s.voxel_mm, s.rest, orientation="transaxial", use_networks=False)
    ext = {t.territory: t.extent_pct for t in res.territories}
    assert res.lv.reoriented and max(ext, key=ext.get) == "LCX" and ext["LCX"] > 20
    lcx = next(t for t in res.territories if t.territory == "LCX")
    assert lcx.reversible_extent_pct > 0.5 * lcx.extent_pct  # fully reversible: rest is normal


def test_auto_keeps_short_axis_and_detects_transaxial():
    sa = simulate_study(phantom=Phantom(attenuation="none"), seed=6)
    assert not analyse_study(sa.stress, 3.2, orientation="auto", use_networks=False).lv.reoriented
    tr = simulate_study(phantom=Phantom(attenuation="none"), orientation="transaxial", seed=6)
    assert analyse_study(tr.stress, 3.2, orientation="auto", use_networks=False).lv.reoriented


def test_no_heart_transaxial_is_refused():
    rng = np.random.default_rng(0)
    with pytest.raises(InputError, match="no left ventricle|re-oriented"):
        analyse_study(rng.poisson(np.full((40, 40, 40), 4.0)).astype(np.float32), 4.0, orientation="transaxial",
                      use_networks=False)
