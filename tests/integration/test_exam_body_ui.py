"""New-exam form takes height, weight and indication (stored, checked); the exam page lists measurements by their
human names (in the UI language), rounded by unit, not raw keys such as lvidd_mm or sax_ed_rwt4_mm."""

from __future__ import annotations

from device.store import Store, clinical
from device.store.db import Tx


def test_exam_form_body_size_and_exam_page_names(login, settings):
    ui = login("sono", "sonographer", "482913")
    r = ui.post("/exams/new", {"patient_id": "BODY0001", "name": "Body Test", "sex": "F", "kind": "ecg",
                               "height_cm": "1650", "weight_kg": "60"})
    assert r.status_code == 400 and "height must be 30-250 cm" in r.data.decode()
    r = ui.post("/exams/new", {"patient_id": "BODY0001", "name": "Body Test", "sex": "F", "kind": "ecg",
                               "height_cm": "165", "weight_kg": "60.5", "indication": "palpitations"})
    assert r.status_code == 302
    s = Store.open(settings.data_dir)
    exam = clinical.list_exams(s.conn)[0]
    assert (exam.height_cm, exam.weight_kg, exam.indication) == (165.0, 60.5, "palpitations")
    with Tx(s.conn):
        clinical.add_measurement(s.conn, exam.id, None, "lvidd_mm", 52.35, "mm", "lv_echo", "1.0.0")
        clinical.add_measurement(s.conn, exam.id, None, "sax_ed_rwt4_mm", 9.87, "mm", "lv_echo", "1.0.0")
        clinical.add_measurement(s.conn, exam.id, None, "a4c_ef_pct", 58.04, "%", "lv_echo", "1.0.0")
    s.close()
    page = ui.get(f"/exams/{exam.id}").data.decode()
    assert "LV internal diameter, diastole (LVIDd)" in page and "ED wall thickness AL" in page
    assert "LV ejection fraction (A4C)" in page and ">58<" in page and ">52.4<" in page
    assert ">lvidd_mm<" not in page and ">sax_ed_rwt4_mm<" not in page
    assert ui.post("/lang/zh-CN").status_code in (200, 302, 303)
    page = ui.get(f"/exams/{exam.id}").data.decode()
    assert "左心室舒张末期内径（LVIDd）" in page and "舒张末期 室壁厚度（前侧壁）" in page
    assert "左心室射血分数（A4C）" in page or "左心室射血分数 (A4C)" in page
    r = ui.post("/exams/new", {"patient_id": "BODY0002", "kind": "ecg", "weight_kg": "1_000"})
    assert r.status_code == 400 and "“1_000”不是有效数字" in r.data.decode()
    r = ui.post("/exams/new", {"patient_id": "BODY0002", "kind": "ecg", "height_cm": "1650"})
    assert r.status_code == 400 and "身高应为 30-250 cm；1650 cm 超出此范围" in r.data.decode()
