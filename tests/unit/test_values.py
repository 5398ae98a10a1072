"""Issue 13, typed values: ASCII digits only, physiological ranges named in the refusal, derived values recomputed
after an edit (QTc from QT and heart rate, SV and EF from EDV and ESV)."""

from __future__ import annotations

import math

import pytest

from device import values
from device.errors import InputError, UserError


@pytest.mark.parametrize("raw", ["1_000", "\u0664\u0661\u0662", "1" * 309, "1e3", "nan", "inf", "0x1F", "", "12.5.1",
                                 "\uff14\uff11\uff12", "412 ms"])
def test_only_plain_ascii_numbers_parse(raw):
    with pytest.raises(InputError, match="not a plain number"):
        values.parse_number(raw)


@pytest.mark.parametrize("raw,want", [("412", 412.0), (" 62.5 ", 62.5), ("62,5", 62.5), ("-30", -30.0)])
def test_plain_numbers_parse(raw, want):
    assert values.parse_number(raw) == want


@pytest.mark.parametrize("name,value,match", [
    ("hr_bpm", -50, r"heart rate must be 20-300 /min; -50 /min is outside"),
    ("qrs_ms", 1000, r"QRS duration must be 30-300 ms"),
    ("rr_ms", 1e12, r"RR interval must be 200-3000 ms"),
    ("a4c_ef_pct", 120, r"ejection fraction must be 3-95 %"),
    ("biplane_edv_ml", 0, r"end-diastolic volume must be 5-800 mL"),
])
def test_out_of_range_values_are_refused_with_the_range(name, value, match):
    with pytest.raises(InputError, match=match):
        values.check(name, value)


def test_every_ecg_measurement_has_a_unit_and_range():
    for name in ("hr_bpm", "pr_ms", "qrs_ms", "qt_ms", "qtc_bazett_ms", "qtc_fridericia_ms", "axis_deg"):
        s = values.spec(name)
        assert s is not None and s.unit and s.low < s.high


def test_qtc_follows_an_edited_qt_and_heart_rate():
    cur = {"qt_ms": 400.0, "hr_bpm": 60.0, "qtc_bazett_ms": 400.0, "qtc_fridericia_ms": 400.0}
    d = values.derived("qt_ms", {**cur, "qt_ms": 480.0})
    assert d == {"qtc_bazett_ms": 480.0, "qtc_fridericia_ms": 480.0}
    d = values.derived("hr_bpm", {**cur, "hr_bpm": 100.0})
    assert d["qtc_bazett_ms"] == pytest.approx(400 / math.sqrt(0.6), abs=0.01)


def test_sv_and_ef_follow_edited_volumes():
    cur = {"a4c_edv_ml": 120.0, "a4c_esv_ml": 50.0, "a4c_sv_ml": 70.0, "a4c_ef_pct": 58.3}
    d = values.derived("a4c_esv_ml", {**cur, "a4c_esv_ml": 80.0})
    assert d == {"a4c_sv_ml": 40.0, "a4c_ef_pct": pytest.approx(33.33, abs=0.01)}


def test_review_measurement_checks_the_range_and_recomputes_qtc(tmp_path):
    from device.reporting import from_store as fs
    from device.store import Store, clinical
    from device.store.db import Tx

    s = Store.open(tmp_path / "data")
    try:
        c = s.conn
        with Tx(c):
            p = clinical.upsert_patient(c, "V0001", "Sun, Yi", "F", "1970-01-01")
            eid = clinical.create_exam(c, p, "ecg", None).id
            ids = {n: clinical.add_measurement(c, eid, None, n, v, u, "ecg_reader", "1") for n, v, u in (
                ("hr_bpm", 60.0, "/min"), ("qt_ms", 400.0, "ms"), ("qtc_bazett_ms", 400.0, "ms"))}
            uid = c.execute("INSERT INTO users(username, display_name, role, pin_hash) VALUES "
                            "('doc', 'Doc', 'physician', 'x')").lastrowid
        with pytest.raises(UserError, match="heart rate must be 20-300"), Tx(c):
            fs.review_measurement(c, eid, ids["hr_bpm"], uid, -50.0)
        with Tx(c):
            fs.review_measurement(c, eid, ids["qt_ms"], uid, 480.0)
        cur = {m.name: m for m in clinical.current_measurements(c, eid)}
        assert cur["qt_ms"].value == 480.0 and cur["hr_bpm"].value == 60.0
        assert cur["qtc_bazett_ms"].value == 480.0 and cur["qtc_bazett_ms"].source == "edited"
    finally:
        s.close()


def test_e_over_e_prime_mass_and_indexed_values_follow_an_edit():
    cur = {"mv_e_cm_s": 80.0, "e_prime_septal_cm_s": 6.0, "e_prime_lateral_cm_s": 10.0, "mv_e_e_prime": 10.0}
    assert values.derived("mv_e_cm_s", {**cur, "mv_e_cm_s": 120.0}) == {"mv_e_e_prime": 15.0}
    assert values.derived("e_prime_lateral_cm_s", {**cur, "e_prime_lateral_cm_s": 6.0}) == {
        "mv_e_e_prime": pytest.approx(13.33, abs=0.01)}
    # ASE linear LV mass (cm): 0.8 x 1.04 x ((1.0 + 5.0 + 1.0)^3 - 5.0^3) + 0.6 = 181.98 g; its index by BSA 2.0
    plax = {"plax_ivsd_mm": 9.0, "plax_lvidd_mm": 50.0, "plax_lvpwd_mm": 10.0, "plax_lv_mass_g": 150.0,
            "plax_lv_mass_index_g_m2": 75.0}
    d = values.derived("plax_ivsd_mm", {**plax, "plax_ivsd_mm": 10.0}, bsa=2.0)
    assert d == {"plax_lv_mass_g": 181.98, "plax_lv_mass_index_g_m2": 90.99}
    vol = {"biplane_edv_ml": 120.0, "biplane_edv_index_ml_m2": 60.0, "biplane_esv_ml": 50.0}
    assert values.derived("biplane_edv_ml", {**vol, "biplane_edv_ml": 150.0}, bsa=2.0) == {
        "biplane_edv_index_ml_m2": 75.0}
    assert values.derived("biplane_edv_ml", {**vol, "biplane_edv_ml": 150.0}) == {}    # no BSA: nothing invented
    assert values.reindexed(vol, 1.5) == {"biplane_edv_index_ml_m2": 80.0}
    assert values.bsa_m2(180, 80) == pytest.approx(2.0, abs=1e-9) and values.bsa_m2(None, 80) is None


def test_an_edit_whose_derived_value_is_out_of_range_is_refused_with_the_range():
    d = values.derived("a4c_esv_ml", {"a4c_edv_ml": 120.0, "a4c_esv_ml": 2.0, "a4c_ef_pct": 58.0})
    with pytest.raises(InputError, match=r"ejection fraction would be 98.33 %, outside 3-95 %"):
        values.check_derived(d, "a4c_esv_ml")
    d = values.derived("mv_e_cm_s", {"mv_e_cm_s": 250.0, "e_prime_cm_s": 2.0, "mv_e_e_prime": 10.0})
    with pytest.raises(InputError, match=r"E/e' would be 125, outside 1-60"):
        values.check_derived(d, "mv_e_cm_s")


def test_store_recomputes_indexed_values_after_weight_and_refuses_out_of_range_derived(tmp_path):
    from device.reporting import from_store as fs
    from device.store import Store, clinical
    from device.store.db import Tx

    s = Store.open(tmp_path / "data")
    try:
        c = s.conn
        with Tx(c):
            p = clinical.upsert_patient(c, "V0002", "Li, Er", "M", "1960-01-01")
            eid = clinical.create_exam(c, p, "echo", None, height_cm=180.0, weight_kg=80.0).id   # BSA 2.0
            ids = {n: clinical.add_measurement(c, eid, None, n, v, u, "lv", "1") for n, v, u in (
                ("biplane_edv_ml", 120.0, "mL"), ("biplane_esv_ml", 50.0, "mL"), ("biplane_ef_pct", 58.33, "%"),
                ("biplane_edv_index_ml_m2", 60.0, "mL/m2"))}
            uid = c.execute("INSERT INTO users(username, display_name, role, pin_hash) VALUES "
                            "('doc2', 'Doc', 'physician', 'x')").lastrowid
        with Tx(c):
            fs.review_measurement(c, eid, ids["biplane_edv_ml"], uid, 150.0)
        cur = {m.name: m.value for m in clinical.current_measurements(c, eid)}
        assert cur["biplane_edv_index_ml_m2"] == 75.0 and cur["biplane_ef_pct"] == pytest.approx(66.67, abs=0.01)
        with Tx(c):
            clinical.set_exam_body(c, eid, 180.0, 45.0, "")                                 # BSA 1.5
        cur = {m.name: m.value for m in clinical.current_measurements(c, eid)}
        assert cur["biplane_edv_index_ml_m2"] == 100.0
        # an ESV of 3 mL would make EF 98 %: refused with the range, nothing stored
        esv_id = next(m.id for m in clinical.current_measurements(c, eid) if m.name == "biplane_esv_ml")
        with pytest.raises(InputError, match="ejection fraction would be 98 %, outside 3-95 %"), Tx(c):
            fs.review_measurement(c, eid, esv_id, uid, 3.0)
        assert {m.name: m.value for m in clinical.current_measurements(c, eid)} == cur
    finally:
        s.close()
