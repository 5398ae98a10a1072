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
    shown = ui.get("/alerts?all=1").data.decode()
    assert f'id="alert-{aid}"' in shown and 'data-acknowledged="1"' in shown and "Doc" in shown
    s.close()


def test_banner_in_chinese(settings, app, login):
    _alert(settings)
    ui = login("doc", "physician")
    ui.post("/lang/zh-CN", {"next": "/exams"})
    assert "1 条危急警报待确认" in ui.get("/exams").data.decode()
