"""In real Chromium (issue 14): a sonographer uploads a frozen TR Doppler screen on the echo page, the worker reads
it (kind from the screen's label), the page shows the reading; on the report the TR peak velocity is edited and the
report shows the new value with its case-table interpretation, and RVSP recomputed from it (4v^2 + RA pressure)."""

from __future__ import annotations

import cv2
import pytest

from device.sim.doppler import simulate
from device.store import Store, clinical
from device.store.db import Tx
from tests.browser.conftest import login
from tests.cart import Cart

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def doppler_cart(tmp_path_factory):
    c = Cart(tmp_path_factory.mktemp("doppler_cart"), role="webui")
    c.add_user("sono", "sonographer", "482913")
    store = Store.open(c.data)
    with Tx(store.conn):
        p = clinical.upsert_patient(store.conn, "BR0014", "Doppler Test", "F")
        exam = clinical.create_exam(store.conn, p, "echo", None, [])
    store.close()
    c.exam_id = exam.id
    c.start()
    worker = c.start_worker()
    yield c
    c.stop_worker(worker)
    c.stop()


def test_upload_doppler_screen_then_edit_on_report(browser, doppler_cart, tmp_path):
    cart, eid = doppler_cart, doppler_cart.exam_id
    s = simulate("tr", 63, layout="a")
    png = tmp_path / "tr.png"
    cv2.imwrite(str(png), cv2.cvtColor(s.rgb, cv2.COLOR_RGB2BGR))
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    login(page, cart)
    page.goto(f"{cart.url}/exams/{eid}/echo")
    page.set_input_files("#doppler-file", str(png))
    page.click("#doppler-submit")
    page.wait_for_selector('#echo-doppler li[data-status="measured"][data-kind="tr"]', timeout=60_000)
    assert page.locator('tr[data-name="tr_vmax_m_s"]').count() == 1

    page.goto(f"{cart.url}/exams/{eid}/report")
    sections = page.inner_text("#report-sections")
    assert "TR peak velocity" in sections and "RV systolic pressure" in sections
    tr_row = '#report-sections tr[data-name="tr_vmax_m_s"]'
    assert "raised" in page.inner_text(tr_row)               # ~3.9 m/s read: > 2.8 m/s (ASE/EACVI 2016)
    form = page.locator('tr[data-measurement="tr_vmax_m_s"] .rep-edit')
    form.locator('input[name="value"]').fill("2.4")
    form.locator('button[type="submit"]').click()
    page.wait_for_load_state()
    assert "2.4" in page.inner_text('tr[data-measurement="tr_vmax_m_s"]')
    row = page.inner_text(tr_row)
    assert "2.4" in row and "normal" in row and "raised" not in row
    rvsp = page.inner_text('#report-sections tr[data-name="rvsp_mmhg"]')
    assert "31" in rvsp and "normal" in rvsp                 # 4 x 2.4^2 + 8 mmHg RA: recomputed from the edit
    page.close()
