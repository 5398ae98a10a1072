"""POST calipers on an ECG reading: intervals recomputed, stored as the person's edit, shown on the page (en)."""

from __future__ import annotations

from device.store import Store, clinical
from device.store.db import Tx


def test_calipers_route_stores_edit_and_refuses_bad_order(login, settings):
    s = Store.open(settings.data_dir)
    try:
        with Tx(s.conn) as c:
            p = clinical.upsert_patient(c, "E0009", "Cal, Route", "F", "1960-01-01")
            exam = clinical.create_exam(c, p, "ecg", None)
            cap = clinical.add_capture(c, s.blobs, exam.id, "signal", b"x", "application/octet-stream", "12-lead v1")
            for name, v in (("rr_ms", 640.0), ("qt_ms", 575.0), ("qtc_bazett_ms", 719.0)):
                clinical.add_measurement(c, exam.id, cap.id, name, v, "ms", "ecg_reader", "1")
    finally:
        s.close()
    ui = login()
    ui.get("/exams")  # a page for the CSRF token (this fake reading has no images to render)
    url = f"/exams/{exam.id}/ecg/reading/{cap.id}/calipers"
    r = ui.post(url, {"p_onset_ms": "-200", "qrs_onset_ms": "-40", "qrs_offset_ms": "60", "t_end_ms": "360"},
                headers={"Accept": "application/json"})
    assert r.status_code == 200, r.data[:300]
    assert (r.json["qt_ms"], r.json["qtc_ms"], r.json["formula"]) == (400, 500, "bazett")
    r = ui.post(url, {"qrs_onset_ms": "-40", "qrs_offset_ms": "60", "t_end_ms": "300", "formula": "fridericia"})
    assert r.status_code == 302 and r.location.endswith(f"/exams/{exam.id}/ecg?reading={cap.id}")
    with ui.c.session_transaction() as sess:
        assert sess["flash_key"] == "ecg_calipers_saved" and sess["flash_kw"]["qt_ms"] == 340
    s = Store.open(settings.data_dir)
    try:
        cur = {m.name: m for m in clinical.current_measurements(s.conn, exam.id)}
    finally:
        s.close()
    assert cur["qt_ms"].value == 340.0 and cur["qt_ms"].source == "edited" and cur["qt_ms"].edited_by is not None
    assert "qtc_fridericia_ms" in cur
    r = ui.post(url, {"qrs_onset_ms": "60", "qrs_offset_ms": "-40", "t_end_ms": "300"})
    assert r.status_code == 400 and b"QRS onset must come before" in r.data
    r = ui.c.post(url, data={"qrs_onset_ms": "-40", "qrs_offset_ms": "60"})  # no CSRF token
    assert r.status_code == 400
