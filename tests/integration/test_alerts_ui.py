"""Issue 18 part 2: critical alerts are seen and acknowledged: a banner on every page while one waits, the alert
list, acknowledging (login + CSRF; who and when stored; audited), and the alert with its acknowledgement in the
exam's report."""

from __future__ import annotations

from device.store import Store, audit, clinical
from device.store.db import Tx


def _alert(settings) -> tuple[int, int]:
    s = Store.open(settings.data_dir)
    with Tx(s.conn):
        p = clinical.upsert_patient(s.conn, "AL0001", "Alert Patient", "F")
        exam = clinical.create_exam(s.conn, p, "echo", None, ["A4C"])
        aid = clinical.add_alert(s.conn, exam.id, "critical", "lv_a4c_ef_pct",
                                 "LV EF (A4C) 28 %: severely abnormal; review the measurement")
    s.close()
    return exam.id, aid


def test_banner_list_and_acknowledge_with_csrf_and_audit(settings, app, login):
    eid, aid = _alert(settings)
    ui = login("doc", "physician")
    page = ui.get("/exams").data.decode()
    assert 'id="alert-banner"' in page and "1 critical alert(s) waiting" in page   # on every page
    listing = ui.get("/alerts").data.decode()
    assert f'id="alert-{aid}"' in listing and "LV EF (A4C) 28 %" in listing and f'id="ack-{aid}"' in listing
    assert ui.c.post(f"/alerts/{aid}/acknowledge", data={}).status_code == 400     # no CSRF token: refused
    s = Store.open(settings.data_dir)
    assert clinical.get_alert(s.conn, aid).acknowledged_at is None
    assert ui.post(f"/alerts/{aid}/acknowledge").status_code == 302
    a = clinical.get_alert(s.conn, aid)
    uid = s.conn.execute("SELECT id FROM users WHERE username = 'doc'").fetchone()[0]
    assert a.acknowledged_by == uid and a.acknowledged_at
    rows = [r for r in audit.recent(s.conn, 50, object_type="alert") if str(r.object_id) == str(aid)]
    assert rows and rows[0].username == "doc" and rows[0].detail["event"] == "acknowledged"
    assert 'id="alert-banner"' not in ui.get("/exams").data.decode()                # nothing waits any more
    again = ui.post(f"/alerts/{aid}/acknowledge")                                    # twice: a one-line refusal
    assert again.status_code == 302 and "already acknowledged" in ui.get("/alerts").data.decode()
    assert ui.get(f"/exams/{eid}/report").status_code == 200                        # the report lists it
    from device.store import reports
    titles = [x["title"] for x in reports.latest(s.conn, eid).content["sections"]]
    assert any("LV EF (A4C) 28 %" in t and "acknowledged by Doc at" in t for t in titles), titles
    shown = ui.get("/alerts?all=1").data.decode()
    assert f'id="alert-{aid}"' in shown and 'data-acknowledged="1"' in shown and "Doc" in shown
    s.close()


def test_banner_in_chinese(settings, app, login):
    _alert(settings)
    ui = login("doc", "physician")
    ui.post("/lang/zh-CN", {"next": "/exams"})
    assert "1 条危急警报待确认" in ui.get("/exams").data.decode()


def test_sign_dialog_lists_what_is_open_and_closed_exam_measurements_frozen(settings, app, login):
    import pytest

    from device.errors import UserError
    from device.reporting.settings import ReportSettings
    from device.services import echo_measure as em
    eid, aid = _alert(settings)
    s = Store.open(settings.data_dir)
    exam = clinical.get_exam(s.conn, eid)
    with Tx(s.conn):
        cid = clinical.add_capture(s.conn, s.blobs, eid, "clip", b"clip", "application/octet-stream", label="A4C",
                                   quality=0.9).id
        em._store_values(s.conn, exam, cid, {"a4c_edv_ml": 100.0, "a4c_esv_ml": 50.0, "a4c_sv_ml": 50.0,
                                             "a4c_ef_pct": 50.0}, {"model_name": "lv_seg", "model_version": "t"},
                         (1, 5), "auto", None, ReportSettings.bundled().case_table)
    ui = login("doc", "physician")
    page = ui.get(f"/exams/{eid}/report").data.decode()
    assert 'id="sign-open-items"' in page and "The exam is still open" in page
    assert "4 value(s) are automatic and not reviewed" in page and "1 alert(s) of this exam" in page
    with Tx(s.conn):
        clinical.close_exam(s.conn, eid)
    with pytest.raises(UserError, match="frozen"):
        em.measure_exam(s.conn, s.blobs, eid, table=ReportSettings.bundled().case_table, remeasure=True)
    s.close()


def test_sonographer_picks_the_clip_the_report_uses(settings, app, login):
    from device.reporting.echo_sections import measurement_set
    from device.reporting.settings import ReportSettings
    from device.services import echo_measure as em
    s = Store.open(settings.data_dir)
    with Tx(s.conn):
        p = clinical.upsert_patient(s.conn, "PK0001", "Pick Patient", "F")
        exam = clinical.create_exam(s.conn, p, "echo", None, ["PLAX"])
    caps = []
    for q, lvidd in ((0.9, 50.0), (0.6, 46.0)):
        with Tx(s.conn):
            cid = clinical.add_capture(s.conn, s.blobs, exam.id, "clip", b"c", "application/octet-stream",
                                       label="PLAX", quality=q).id
            em._store_values(s.conn, exam, cid, {"lvidd_mm": lvidd, "lvids_mm": 30.0},
                             {"model_name": "lv_seg", "model_version": "t"}, (1, 5), "auto", None,
                             ReportSettings.bundled().case_table)
            clinical.add_finding(s.conn, exam.id, cid, "lv_geometry", "PLAX", None, "lv_seg", "t",
                                 {"status": "refused", "reason": "test", "view": "PLAX", "mode": "plax"})
        caps.append(cid)
    assert measurement_set(s.conn, exam.id).chosen["plax"] == caps[0]          # the better clip by default
    ui = login("sono", "sonographer")
    assert ui.post(f"/exams/{exam.id}/echo/pick", {"capture_id": str(caps[1])}).status_code == 302
    ms = measurement_set(s.conn, exam.id)
    assert ms.chosen["plax"] == caps[1] and ms.why["plax"] == "picked"
    assert clinical.measurement_picks(s.conn, exam.id) == {"PLAX": caps[1]}
    picked = [r for r in audit.recent(s.conn, 50) if r.detail.get("event") == "clip_picked"]
    assert picked and picked[0].detail["capture_id"] == caps[1] and picked[0].username == "sono"
    assert ui.post(f"/exams/{exam.id}/echo/pick", {"capture_id": "999"}).status_code == 302   # refused, one line
    assert clinical.measurement_picks(s.conn, exam.id) == {"PLAX": caps[1]}
    s.close()
