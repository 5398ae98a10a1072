"""Issue 18 in real Chromium: a sonographer's edit survives a later, better clip; the sign dialog lists what is
still unreviewed; the signed report's EF equals (EDV - ESV) / EDV of one clip; a critical alert is seen on every
page and acknowledged (who and when in the store, banner gone). (Capture stopping at a complete protocol is
tests/integration/test_capture_stops.py: the live loop with the simulated probe.)"""

from __future__ import annotations

import pytest

from device.reporting.settings import ReportSettings
from device.services import echo_measure as em
from device.store import Store, clinical, reports
from device.store.db import Tx
from tests.browser.conftest import login

pytestmark = pytest.mark.browser
TABLE = ReportSettings.bundled().case_table


def _clip(s: Store, exam, edv: float, esv: float, quality: float) -> int:
    """A saved A4C clip with its automatic values, stored as the clip measurement job stores them."""
    with Tx(s.conn):
        cid = clinical.add_capture(s.conn, s.blobs, exam.id, "clip", b"clip", "application/octet-stream",
                                   label="A4C", quality=quality).id
        em._store_values(s.conn, exam, cid, {"a4c_edv_ml": edv, "a4c_esv_ml": esv, "a4c_sv_ml": edv - esv,
                                             "a4c_ef_pct": 100 * (edv - esv) / edv},
                         {"model_name": "lv_seg", "model_version": "test"}, (2, 9), "auto", None, TABLE)
    return cid


def _values(section_rows) -> dict[str, float]:
    return {m["name"]: m["value"] for sec in section_rows for m in sec["measurements"]}


def test_edit_survives_later_clip_signed_ef_consistent_and_alert_acknowledged(browser, cart):
    s = Store.open(cart.data)
    with Tx(s.conn):
        p = clinical.upsert_patient(s.conn, "COH0042", "Coherent, Test", "M", "1960-01-01")
        exam = clinical.create_exam(s.conn, p, "echo", None, ["A4C"])
        clinical.close_exam(s.conn, exam.id)         # the live core must not add simulator clips to it
        aid = clinical.add_alert(s.conn, exam.id, "critical", "lv_a4c_ef_pct",
                                 "LV EF (A4C) 28 %: severely abnormal; review the measurement")
    first = _clip(s, exam, 70.0, 31.0, quality=0.7)
    page = browser.new_page(viewport={"width": 1280, "height": 800})

    login(page, cart, "sono", "482913")
    assert page.locator("#alert-banner").is_visible()                      # the alert shows on the first page
    page.goto(f"{cart.url}/exams/{exam.id}/report")
    row = page.locator('tr[data-measurement="a4c_edv_ml"]')
    row.locator('input[name="value"]').fill("63.41")
    row.locator("form.rep-edit button").click()
    page.wait_for_load_state()
    assert "63.41" in page.inner_text('tr[data-measurement="a4c_edv_ml"]')
    page.click("#logout")

    _clip(s, exam, 58.0, 25.08, quality=0.95)                              # a later, better clip, automatic

    login(page, cart, "drli", "573920")
    page.goto(f"{cart.url}/exams/{exam.id}/report")
    open_items = page.inner_text("#sign-open-items")
    assert "not reviewed" in open_items and "1 alert(s)" in open_items     # what is still open, listed
    messages = []
    page.once("dialog", lambda d: (messages.append(d.message), d.accept()))
    page.click("#sign-report")
    page.wait_for_selector('#report-status[data-status="signed"]')
    assert messages and "not reviewed" in messages[0]

    signed = reports.latest(s.conn, exam.id)
    assert signed.status == "signed"
    vals = _values(signed.content["sections"])
    edv, esv, ef = vals["edv_ml"], vals["esv_ml"], vals["lvef_a4c"]
    assert edv == pytest.approx(63.41) and esv == pytest.approx(31.0)      # both from the edited clip
    assert ef == pytest.approx(100 * (edv - esv) / edv, abs=0.01)          # 51.11 %, not 54.74 or 56.76
    assert {m.capture_id for m in clinical.all_measurements(s.conn, exam.id) if m.source == "edited"} == {first}

    page.goto(f"{cart.url}/alerts")
    page.click(f"#ack-{aid}")
    page.wait_for_load_state()
    a = clinical.get_alert(s.conn, aid)
    uid = s.conn.execute("SELECT id FROM users WHERE username = 'drli'").fetchone()[0]
    assert a.acknowledged_by == uid and a.acknowledged_at
    assert page.locator("#alert-banner").count() == 0
    page.close()
    s.close()
