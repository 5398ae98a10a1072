"""Normal limits, extent/severity per territory, segment scores and reversibility."""

from __future__ import annotations

import json

import numpy as np
import pytest

from device.errors import InputError, ModelError
from device.perfusion.geometry import N_RINGS, N_SECTORS, segment_means, territory_masks
from device.perfusion.normals import load_normals, normals_dict
from device.perfusion.scoring import score, segment_scores


@pytest.fixture()
def normals(tmp_path):
    rng = np.random.default_rng(0)
    maps = 80 + rng.normal(0, 4, (50, N_RINGS, N_SECTORS))
    segs = np.stack([segment_means(m) for m in maps])
    p = tmp_path / "n.json"
    p.write_text(json.dumps(normals_dict(maps, segs, "test population", n_patients=50)))
    return load_normals(p)


def test_normal_map_has_no_defect(normals):
    m = normals.polar_mean.copy()
    s = score(m, segment_means(m), normals)
    assert s.total_extent_pct == 0 and s.sss == 0
    assert all(t.extent_pct == 0 and t.severity_sd == 0 for t in s.territories)


def test_lad_defect_reversible(normals):
    lad = territory_masks()["LAD"]
    stress = normals.polar_mean.copy()
    stress[lad] -= 30.0  # ~7 SD
    rest = normals.polar_mean.copy()
    s = score(stress, segment_means(stress), normals, rest, segment_means(rest))
    by = {t.territory: t for t in s.territories}
    assert by["LAD"].extent_pct == pytest.approx(100.0)
    assert by["LAD"].severity_pct == pytest.approx(30.0, abs=0.5)
    assert by["LAD"].reversible_extent_pct == pytest.approx(100.0) and by["LAD"].rest_extent_pct == 0
    assert by["LCX"].extent_pct == 0 and by["RCA"].extent_pct == 0
    assert s.sss == 7 * 4 and s.srs == 0 and s.sds == 28  # 7 LAD segments scored 4


def test_fixed_defect_is_not_reversible(normals):
    rca = territory_masks()["RCA"]
    m = normals.polar_mean.copy()
    m[rca] -= 15.0
    s = score(m, segment_means(m), normals, m, segment_means(m))
    rca_t = next(t for t in s.territories if t.territory == "RCA")
    assert rca_t.extent_pct > 90 and rca_t.reversible_extent_pct == 0 and rca_t.summed_difference_score == 0


def test_segment_score_bands(normals):
    z = np.array([0, -2.5, -3.5, -4.5, -9, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], float)
    vals = normals.segment_mean + z * normals.segment_sd
    assert segment_scores(vals, normals)[:6].tolist() == [0, 1, 2, 3, 4, 0]


def test_shipped_normals_load_and_bad_site_file_is_refused(tmp_path):
    n = load_normals()
    assert n.polar_mean.shape == (N_RINGS, N_SECTORS) and n.n >= 100 and (n.polar_sd > 0).all()
    bad = tmp_path / "bad.json"
    bad.write_text('{"polar_mean": [1, 2]}')
    with pytest.raises(InputError, match="polar_sd|polar maps"):
        load_normals(bad)
    with pytest.raises(InputError, match="not found"):
        load_normals(tmp_path / "missing.json")
    assert not issubclass(InputError, ModelError)
