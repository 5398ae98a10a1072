import numpy as np
import pytest

from device.errors import InputError
from device.lv.indices import SEGMENTS, SaxOrientation, sax_indices


def ring(size=200, centre=(100.3, 97.6), r_in=25.0, r_out=40.0, shift_out=(0.0, 0.0)):
    yy, xx = np.mgrid[:size, :size]
    m = np.zeros((size, size), np.uint8)
    m[np.hypot(yy - centre[0] - shift_out[0], xx - centre[1] - shift_out[1]) < r_out] = 2
    m[np.hypot(yy - centre[0], xx - centre[1]) < r_in] = 1
    return m


def test_concentric_ring_areas_dims_and_thickness():
    s = sax_indices(ring(), 0.5)
    assert s.cavity_area_mm2 == pytest.approx(np.pi * 12.5 ** 2, rel=0.01)
    assert s.myo_area_mm2 == pytest.approx(np.pi * (20 ** 2 - 12.5 ** 2), rel=0.01)
    assert np.allclose(s.dims_mm, 25.0, atol=0.25)
    assert np.allclose(s.rwt_mm, 7.5, atol=0.25)
    assert s.min_wall_coverage == 1.0


def test_anisotropic_spacing_scales_areas():
    s = sax_indices(ring(), (0.5, 1.0))
    assert s.cavity_area_mm2 == pytest.approx(np.pi * 25 ** 2 * 0.5, rel=0.01)
    # the cavity is an ellipse in mm: 25 mm tall (rows), 50 mm wide (columns)
    o = SaxOrientation(anterior_deg=90.0)
    s = sax_indices(ring(), (0.5, 1.0), o)
    phi = np.radians(np.arange(60.0, 121.0))  # the I-A sector: +-30 deg around vertical
    a, b = 25.0, 12.5
    expected = np.mean(2 * a * b / np.sqrt((b * np.cos(phi)) ** 2 + (a * np.sin(phi)) ** 2))
    assert s.dims_mm[1] == pytest.approx(expected, abs=0.5)
    assert s.dims_mm[1] < s.dims_mm[0] and s.dims_mm[1] < s.dims_mm[2]


def test_thick_wall_lands_in_the_right_segment():
    # epicardium shifted up by 8 px: the wall at the top (anterior in the default display) is thicker
    m = ring(r_out=36.0, shift_out=(-8.0, 0.0))
    s = sax_indices(m, 1.0, SaxOrientation(anterior_deg=90.0, septum_ccw=True))
    rwt = dict(zip(SEGMENTS, s.rwt_mm))
    assert rwt["A"] == max(rwt.values())
    assert rwt["I"] == min(rwt.values())
    # rotate the reference: anterior on the right (0 deg) -> the thick wall is now anteroseptal/septal side
    s2 = sax_indices(m, 1.0, SaxOrientation(anterior_deg=0.0, septum_ccw=True))
    rwt2 = dict(zip(SEGMENTS, s2.rwt_mm))
    assert max(rwt2, key=rwt2.get) in ("AS", "IS")


def test_septum_side_follows_orientation():
    m = ring(r_out=36.0, shift_out=(0.0, -8.0))  # thicker on the image's left
    left = dict(zip(SEGMENTS, sax_indices(m, 1.0, SaxOrientation(90.0, True)).rwt_mm))
    right = dict(zip(SEGMENTS, sax_indices(m, 1.0, SaxOrientation(90.0, False)).rwt_mm))
    assert left["IS"] > left["IL"] and right["IL"] > right["IS"]


def test_orientation_from_dicom_standard_axes():
    # image rows run to the patient's left (+X), columns downward = posterior (+Y): anterior is up on screen
    o = SaxOrientation.from_dicom([1, 0, 0, 0, 1, 0])
    assert o.anterior_deg == pytest.approx(90.0)
    # patient right (-X) is on the image's left, i.e. counter-clockwise of anterior
    assert o.septum_ccw is True
    with pytest.raises(InputError):
        SaxOrientation.from_dicom([1, 0, 0, 0, 0, 1])  # coronal-like: anterior is out of plane
    with pytest.raises(InputError):
        SaxOrientation.from_dicom([1, 0, 0])


@pytest.mark.parametrize("cal", [None, 0.0, -1.0, float("nan"), (1.0,), "x", 50.0])
def test_refused_without_valid_calibration(cal):
    with pytest.raises(InputError):
        sax_indices(ring(), cal)


def test_empty_and_missing_myocardium_refused():
    with pytest.raises(InputError, match="no LV cavity"):
        sax_indices(np.full((50, 50), 2, np.uint8), 1.0)
    m = ring()
    m[m == 2] = 0
    with pytest.raises(InputError, match="no myocardium"):
        sax_indices(m, 1.0)
    with pytest.raises(InputError):
        sax_indices(np.zeros((3, 4, 5), np.uint8), 1.0)


def test_crescent_cavity_refused():
    yy, xx = np.mgrid[:100, :100]
    m = np.zeros((100, 100), np.uint8)
    m[np.hypot(yy - 50, xx - 50) < 40] = 2
    m[(np.hypot(yy - 50, xx - 50) < 30) & (np.hypot(yy - 50, xx - 50) > 20)] = 1
    with pytest.raises(InputError, match="closed"):
        sax_indices(m, 1.0)


def test_as_row_has_cli_columns():
    row = sax_indices(ring(), 0.5).as_row()
    assert list(row) == ["cavity_area_mm2", "myo_area_mm2", "dim1_mm", "dim2_mm", "dim3_mm",
                         "rwt1_mm", "rwt2_mm", "rwt3_mm", "rwt4_mm", "rwt5_mm", "rwt6_mm"]


def test_open_ring_segment_is_not_measurable_never_zero():
    """Issue 13: `lv sax` wrote 0.00 mm wall thickness where the myocardial ring is open; the segment is now NaN
    (not measurable), the CSV cell empty and the segment named, the closed segments unchanged."""
    from device.usecases.sax import index_cells

    m = ring()
    yy, xx = np.mgrid[:200, :200]
    ang = np.degrees(np.arctan2(-(yy - 100.3), xx - 97.6)) % 360.0
    o = SaxOrientation(anterior_deg=90.0)
    open_seg = SEGMENTS[2]
    d = (ang - o.segment_centre_deg(open_seg) + 180.0) % 360.0 - 180.0
    m[(m == 2) & (np.abs(d) < 20.0)] = 0                   # no myocardium +-20 deg around that segment's centre
    s = sax_indices(m, 0.5, o)
    got = dict(zip(SEGMENTS, s.rwt_mm))
    assert np.isnan(got[open_seg])
    assert all(np.isfinite(v) for k, v in got.items() if k != open_seg)
    assert all(v == pytest.approx(7.5, abs=0.3) for v in got.values() if np.isfinite(v))
    cells, not_measurable = index_cells(s)
    assert open_seg in not_measurable
    rwt_cells = [cells[f"rwt{i + 1}_mm"] for i in range(6)]
    assert "0.00" not in rwt_cells and "nan" not in rwt_cells
    assert cells[f"rwt{SEGMENTS.index(open_seg) + 1}_mm"] == ""
