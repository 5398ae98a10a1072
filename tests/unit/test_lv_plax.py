import numpy as np
import pytest

from device.errors import InputError
from device.lv.plax import PlaxCalipers, edit_caliper, plax_from_calipers, plax_linear, teichholz_volume_ml


def plax_mask(cav_rows=(110, 160), sept=10, post=10):
    m = np.zeros((300, 400), np.uint8)
    top, bottom = cav_rows
    m[top - sept:top, 60:300] = 2
    m[top:bottom, 60:300] = 1
    m[bottom:bottom + post, 60:300] = 2
    m[175:235, 300:360] = 3           # LA
    m[110:150, 300:380] = 4           # aortic root
    return m


def test_linear_measurements_on_a_known_mask():
    r = plax_linear(plax_mask(), plax_mask(cav_rows=(118, 152), sept=14, post=14), 0.5)
    assert r.lvidd_mm == pytest.approx(25.0, abs=0.6)
    assert r.lvids_mm == pytest.approx(17.0, abs=0.6)
    assert r.ivsd_mm == pytest.approx(5.0, abs=0.6)
    assert r.lvpwd_mm == pytest.approx(5.0, abs=0.6)
    assert r.aortic_root_mm == pytest.approx(20.0, abs=0.6)
    assert r.la_diameter_mm == pytest.approx(30.0, abs=0.8)
    assert r.fs_pct == pytest.approx(100 * (r.lvidd_mm - r.lvids_mm) / r.lvidd_mm)
    assert 0 < r.teichholz_ef_pct < 100


def test_teichholz_reference_value():
    # D = 5.0 cm -> 7 / 7.4 * 125 = 118.24 mL
    assert teichholz_volume_ml(50.0) == pytest.approx(118.243, abs=0.01)


def test_missing_structures_are_none_not_invented():
    m = plax_mask()
    m[m >= 3] = 0
    r = plax_linear(m, None, 0.5)
    assert r.aortic_root_mm is None and r.la_diameter_mm is None and r.lvids_mm is None
    assert r.fs_pct is None and r.teichholz_ef_pct is None
    assert r.lvidd_mm is not None


def test_refusals():
    with pytest.raises(InputError):
        plax_linear(plax_mask(), None, None)
    with pytest.raises(InputError, match="no usable LV cavity"):
        plax_linear(np.zeros((100, 100), np.uint8), None, 1.0)


def test_caliper_edit_recomputes_everything():
    r = plax_linear(plax_mask(), plax_mask(cav_rows=(118, 152)), 0.5)
    (x0, y0), (x1, y1) = r.calipers.lvidd
    r2 = edit_caliper(r, "lvidd", ((x0, y0), (x1, y1 + 10)), 0.5)
    assert r2.lvidd_mm == pytest.approx(r.lvidd_mm + 5.0, abs=0.01)
    assert r2.fs_pct > r.fs_pct and r2.teichholz_ef_pct > r.teichholz_ef_pct
    assert r2.ivsd_mm == r.ivsd_mm
    with pytest.raises(InputError):
        edit_caliper(r, "bogus", ((0, 0), (1, 1)), 0.5)


def test_calipers_alone():
    cal = PlaxCalipers(lvidd=((0, 0), (0, 100)), lvids=((0, 0), (0, 70)))
    r = plax_from_calipers(cal, (0.5, 0.25))
    assert r.lvidd_mm == pytest.approx(50.0) and r.lvids_mm == pytest.approx(35.0)
    assert r.fs_pct == pytest.approx(30.0)
