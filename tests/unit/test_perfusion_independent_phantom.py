"""Issue 16 point 5: normal studies of an independent phantom family (tests/unit/spect_cone_phantom.py: truncated
cone + spherical apex, tapering wall, anisotropic blur; code the training never runs) are called normal in every
territory by network 2. Measured 2026-12-04 on 38 random normal cone hearts (seeded, sizes 18-32 mm base radius,
walls 7-15 mm base / 4-9 mm apex, 40-250 peak counts, either slice order): 37/38 no territory at risk, max LCX 0.05,
RCA 0.09; the one failure is a short heart with a 4 mm apex under a 13 mm base (LAD 0.50 with this noise seed, 0.18-0.24 with
others; partial volume reads as an apical defect): on the network-1 map (patent 000's chain) it is normal (LAD 0.14); on
the classical map, the default, it stays a strict xfail (candidates retrained on a wider simulator family did not fix it:
EVALUATION.md)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from spect_cone_phantom import cone_study  # noqa: E402

from device.perfusion.analysis import analyse_study  # noqa: E402

GRID = [
    dict(),
    dict(r_base_mm=31.0, r_apex_mm=15.0, wall_base_mm=14.0, wall_apex_mm=9.0),      # big, thick
    dict(r_base_mm=19.0, r_apex_mm=9.0, length_mm=60.0, wall_base_mm=8.0, wall_apex_mm=6.0),  # small, thin
    dict(peak_counts=45.0, base_first=True),                                         # low counts, base first
    dict(fwhm_xy_mm=14.5, fwhm_z_mm=18.0, septal_rel=0.9, inferior_rel=0.85),        # blur + normal variation
    dict(length_mm=92.0, r_base_mm=25.0, offset_mm=(6.0, -5.0, 7.0)),                # long, off centre
]


@pytest.mark.parametrize("kw", GRID, ids=[f"geom{i}" for i in range(len(GRID))])
def test_normal_cone_heart_is_normal_in_every_territory(kw):
    res = analyse_study(cone_study(seed=3, **kw), 3.2)
    probs = {t.territory: t.prob_at_risk for t in res.territories}
    assert set(probs) == {"LAD", "LCX", "RCA"}
    assert not any(t.at_risk for t in res.territories), probs
    assert max(probs.values()) < 0.3, probs


THIN_APEX = dict(r_base_mm=25.7238, r_apex_mm=13.3842, length_mm=57.6126, wall_base_mm=12.8227, wall_apex_mm=4.07716,
                 fwhm_xy_mm=14.7501, fwhm_z_mm=14.7494, peak_counts=125.905, septal_rel=0.95807, inferior_rel=0.91419,
                 offset_mm=(5.9025, -7.5105, 6.4334))


@pytest.mark.parametrize("source", [
    pytest.param("classical", marks=pytest.mark.xfail(
        strict=True, reason="known: on the classical map a short heart with a 4 mm apex under a 13 mm base reads as "
        "an apical LAD defect (LAD 0.50); network 2 not retrained on such hearts (issue 16 point 5)")),
    "network"])
def test_thin_apex_under_thick_base_is_normal(source):
    """Measured 2026-12-04: classical map LAD 0.50 (SSS 21); network-1 map (patent 000's chain) LAD 0.14 (SSS 18),
    no fallback (the two maps agree within the bounds)."""
    res = analyse_study(cone_study(seed=30, **THIN_APEX), 3.2, polar_source=source)
    assert res.polar_source == source
    probs = {t.territory: t.prob_at_risk for t in res.territories}
    assert not any(t.at_risk for t in res.territories) and max(probs.values()) < 0.3, probs


def test_ensemble_source_averages_network2_over_both_maps():
    """polar_source='ensemble': bullseye/segments from the classical map, territory probability = mean of network 2
    on the classical and the network-1 map (2026-12-05: thin-apex heart LAD 0.50 classical, 0.14 network, 0.32 mean)."""
    study = cone_study(seed=30, **THIN_APEX)
    cl = analyse_study(study, 3.2, polar_source="classical")
    nw = analyse_study(study, 3.2, polar_source="network")
    en = analyse_study(study, 3.2, polar_source="ensemble")
    assert en.polar_source == "ensemble" and nw.polar_source == "network"
    assert (en.polar_stress_pct == cl.polar_stress_pct).all()
    assert en.segments_stress_pct == pytest.approx(cl.segments_stress_pct)
    for a, b, c in zip(cl.territories, nw.territories, en.territories):
        assert c.prob_at_risk == pytest.approx(0.5 * (a.prob_at_risk + b.prob_at_risk), abs=1e-6)
        assert c.at_risk == (c.prob_at_risk >= 0.5)
    assert not any(t.at_risk for t in en.territories)
