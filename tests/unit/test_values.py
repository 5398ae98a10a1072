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
