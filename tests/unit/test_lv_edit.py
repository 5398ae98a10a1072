import numpy as np
import pytest

from device.errors import InputError
from device.lv.edit import mask_from_contours, recompute_sax, sax_contours
from device.lv.indices import sax_indices
from device.lv.preprocess import equalise, to_input
from device.lv.records import LvMeasurement, records_from


def ring():
    yy, xx = np.mgrid[:160, :160]
    m = np.zeros((160, 160), np.uint8)
    m[np.hypot(yy - 80, xx - 80) < 40] = 2
    m[np.hypot(yy - 80, xx - 80) < 25] = 1
    return m


def test_contours_round_trip_and_edit_recomputes():
    m = ring()
    endo, epi = sax_contours(m, 48)
    assert len(endo) == 48 and len(epi) == 48
    m2, s2 = recompute_sax(m.shape, endo, epi, 1.0)
    s = sax_indices(m, 1.0)
    assert s2.cavity_area_mm2 == pytest.approx(s.cavity_area_mm2, rel=0.05)
    epi_out = [(80 + 1.2 * (x - 80), 80 + 1.2 * (y - 80)) for x, y in epi]   # drag the epicardium outwards
    _, s3 = recompute_sax(m.shape, endo, epi_out, 1.0)
    assert min(s3.rwt_mm) > max(s2.rwt_mm)
    assert s3.cavity_area_mm2 == pytest.approx(s2.cavity_area_mm2)


def test_too_few_points_refused():
    with pytest.raises(InputError):
        mask_from_contours((50, 50), [(1, 1), (2, 2)], [(0, 0), (9, 0), (0, 9)])


def test_records_carry_model_frames_and_review_state():
    recs = records_from({"ef_pct": 55.0, "edv_ml": None, "lvidd_mm": float("nan"), "esv_ml": 40.0},
                        view="A4C", model="lv_seg 1.0.0 int8", model_version="1.0.0", frames=(3, 11))
    assert [r.name for r in recs] == ["ef_pct", "esv_ml"]
    assert recs[0].unit == "%" and recs[1].unit == "mL" and recs[0].frames == (3, 11)
    assert not recs[0].confirmed and not recs[0].edited
    c = recs[0].confirm()
    assert c.confirmed and not c.edited and c.value == 55.0
    e = recs[0].edit(48.0)
    assert e.edited and e.confirmed and e.value == 48.0 and e.model == recs[0].model
    assert isinstance(e, LvMeasurement)


def test_equalise_spreads_grey_levels_and_refuses_blank():
    img = np.random.default_rng(0).normal(300, 5, (64, 64))
    eq = equalise(img)
    assert eq.dtype == np.uint8 and eq.min() < 10 and eq.max() > 245
    assert abs(float(eq.mean()) - 127.5) < 10
    x = to_input(eq, 32)
    assert x.shape == (1, 1, 32, 32) and x.min() >= -1.0 and x.max() <= 1.0
    with pytest.raises(InputError, match="blank"):
        equalise(np.full((20, 20), 7.0))
    rgb = np.dstack([img, img, img])
    assert np.mean(np.abs(equalise(rgb).astype(int) - eq) <= 2) > 0.99


def test_report_section_rows_and_alerts():
    from device.lv.report import lv_report_section
    recs = records_from({"ef_pct": 32.0, "lvidd_mm": 50.0, "cavity_area_mm2": 900.0}, view="biplane",
                        model="lv_seg 1.0.0 int8", model_version="1.0.0", frames=(0, 8))
    sec = lv_report_section(recs, "male")
    rows = {r.name: r for r in sec.rows}
    assert rows["ef_pct"].alert and rows["ef_pct"].reference == "52-73 %"
    assert rows["lvidd_mm"].interpretation == "normal" and not rows["lvidd_mm"].alert
    assert rows["cavity_area_mm2"].interpretation == "no reference"
    assert len(sec.alerts) == 1 and "ejection fraction" in sec.alerts[0]
    assert sec.disclaimer_en and sec.disclaimer_zh
    assert rows["ef_pct"].model == "lv_seg 1.0.0 int8" and rows["ef_pct"].frames == (0, 8)


def test_sax_records_from_a_series_result():
    from device.lv.sax import SaxFrameResult, SaxSeriesResult, sax_records
    m = ring()
    s = sax_indices(m, 1.0)
    res = SaxSeriesResult((SaxFrameResult("a.dcm", 0, m, s.cavity_area_mm2, s, "diastole", True, False, ""),
                           SaxFrameResult("b.dcm", 0, m, 500.0, None, "systole", False, True, "no myocardium")),
                          "lv_seg 1.1.0 int8", "lv_seg", "1.1.0")
    recs = sax_records(res)
    assert len(recs) == 12 and recs[-1].name == "cavity_area_mm2" and recs[-1].frames == (1,)
    assert all(r.model == "lv_seg 1.1.0 int8" and not r.confirmed for r in recs)
