import cv2
import numpy as np
import pytest

from device.errors import InputError
from device.lv.edit import simplify_trace
from device.lv.volumes import ApicalTrace, apical_volumes, discs, trace_from_mask, volume_ml


def half_ellipse_mask(a_px=80, b_px=40, size=300, with_la=True):
    """Apex up: upper half of an ellipse (long semi-axis a_px vertical), base flat at row 150, LA below."""
    m = np.zeros((size, size), np.uint8)
    cv2.ellipse(m, (150, 150), (b_px, a_px), 0, 180, 360, 1, -1)
    if with_la:
        m[152:180, 120:180] = 3
    return m


def analytic_ml(a_mm, b_mm):
    return 2.0 / 3.0 * np.pi * a_mm * b_mm * b_mm / 1000.0


@pytest.mark.parametrize("with_la", [True, False])
def test_single_plane_volume_of_a_half_ellipsoid(with_la):
    t = trace_from_mask(half_ellipse_mask(with_la=with_la))
    d = discs(t, 0.5)
    assert d.length_mm == pytest.approx(40.0, abs=1.0)
    assert volume_ml(d) == pytest.approx(analytic_ml(40, 20), rel=0.05)
    assert t.apex_xy[1] < 80  # the apex is at the top


def test_biplane_with_two_planes_uses_both_diameters():
    wide = discs(trace_from_mask(half_ellipse_mask(b_px=40)), 0.5)
    narrow = discs(trace_from_mask(half_ellipse_mask(b_px=30)), 0.5)
    v = volume_ml(wide, narrow)
    assert volume_ml(narrow) < v < volume_ml(wide)
    assert v == pytest.approx(2 / 3 * np.pi * 40 * 20 * 15 / 1000, rel=0.06)


def test_ef_single_plane_and_biplane():
    ed = trace_from_mask(half_ellipse_mask(b_px=40))
    es = trace_from_mask(half_ellipse_mask(a_px=70, b_px=28))
    single = apical_volumes(ed, es, 0.5)
    assert single.method == "single-plane A4C"
    expected_ef = 100 * (1 - analytic_ml(35, 14) / analytic_ml(40, 20))
    assert single.ef_pct == pytest.approx(expected_ef, abs=3.0)
    assert single.sv_ml == pytest.approx(single.edv_ml - single.esv_ml)
    bi = apical_volumes(ed, es, 0.5, ed, es, 0.5)
    assert bi.method == "biplane" and bi.ef_pct == pytest.approx(single.ef_pct, abs=0.01)
    a2c = apical_volumes(None, None, None, ed, es, 0.5)
    assert a2c.method == "single-plane A2C"


def test_calibration_is_required_and_scales_volume():
    t = trace_from_mask(half_ellipse_mask())
    with pytest.raises(InputError):
        apical_volumes(t, t, None)
    assert volume_ml(discs(t, 1.0)) == pytest.approx(8 * volume_ml(discs(t, 0.5)), rel=1e-6)


def test_dragging_a_point_recomputes():
    ed = simplify_trace(trace_from_mask(half_ellipse_mask()), 24)
    es = trace_from_mask(half_ellipse_mask(a_px=70, b_px=28))
    before = apical_volumes(ed, es, 0.5)
    pts = np.array(ed.contour_xy)
    side = np.argmax(pts[:, 0])           # drag the lateral-most point outwards by 15 px
    pts[side, 0] += 15
    after = apical_volumes(ed.moved(contour_xy=pts), es, 0.5)
    assert after.edv_ml > before.edv_ml and after.ef_pct > before.ef_pct


def test_degenerate_traces_refused():
    with pytest.raises(InputError):
        trace_from_mask(np.zeros((50, 50), np.uint8))
    t = ApicalTrace(((0.0, 0.0), (1.0, 0.0), (0.0, 1.0)), (0.0, 0.0), ((0.0, 1.0), (0.0, 1.0)))
    with pytest.raises(InputError, match="long axis"):
        discs(t, 1.0)
    with pytest.raises(InputError):
        apical_volumes(None, None)
