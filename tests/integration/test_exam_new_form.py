"""Issue 18 point 8, the new-exam form: scanning a known patient ID looks the patient up (name, sex, birth date
from the store; the lookup is audited), an unknown or malformed ID finds nothing; the PIN rules are on the user
forms before any error."""

from __future__ import annotations

from device.store import Store, audit, clinical
from device.store.db import Tx


def test_scanned_known_patient_id_is_looked_up(login, settings):
    s = Store.open(settings.data_dir)
    with Tx(s.conn):
        clinical.upsert_patient(s.conn, "H0042042", "王小明", "M", "1958-03-04")
    s.close()
    sono = login("sono", "sonographer", "482913")
    page = sono.get("/exams/new").data.decode()
    assert 'data-lookup="/exams/new/patient"' in page and 'id="patient-known"' in page
    r = sono.get("/exams/new/patient?patient_id=H0042042%0D")                  # what a scanner types (CR)
    assert r.status_code == 200 and r.json == {"found": True, "patient_id": "H0042042", "name": "王小明", "sex": "M",
                                               "birth_date": "1958-03-04"}
    assert sono.get("/exams/new/patient?patient_id=H0099999").json == {"found": False}
    assert sono.get("/exams/new/patient?patient_id=%3Cscript%3E").json == {"found": False}
    s = Store.open(settings.data_dir)
    rows = [a for a in audit.recent(s.conn, 50, object_type="patient") if a.action == "view"]
    s.close()
    assert len(rows) == 1 and rows[0].detail["patient_id"] == "H0042042"
    admin = login("root", "admin", "573920")
    assert admin.get("/exams/new/patient?patient_id=H0042042").status_code == 403   # clinical roles only


def test_pin_rules_shown_before_any_error(login):
    admin = login("root", "admin", "573920")
    page = admin.get("/admin/users").data.decode()
    assert 'id="pin-rules"' in page and "6 to 12 digits" in page and 'class="error"' not in page
    admin.post("/lang/zh-CN", {"next": "/"})
    assert "6 至 12 位数字" in admin.get("/admin/users").data.decode()


def test_user_created_is_a_confirmation_not_an_error(login):
    import re
    admin = login("root", "admin", "573920")
    r = admin.post("/admin/users", {"username": "nurse1", "display_name": "Nurse One", "role": "sonographer",
                                    "pin": "739146", "pin2": "739146"})
    assert r.status_code == 302
    page = admin.get("/admin/users").data.decode()
    assert re.search(r'<p class="flash" role="status">User created\.?</p>', page), page[:2000]
    assert 'class="error"' not in page
