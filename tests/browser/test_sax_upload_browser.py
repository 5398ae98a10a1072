"""In real Chromium (issue 16 point 3): a sonographer opens an echo exam, goes to Short-axis MRI, uploads a synthetic
short-axis cine stack as a .zip, waits for the background job (progress by SSE, then the page reloads), sees the
frame with its cavity contour, the slice x phase grid and EF; types a new EDV, sees it marked in the values and the
report's EF recomputed from it; a single echo DICOM is refused in one line."""

from __future__ import annotations

import pytest

from device.inference import list_models
from device.store import Store, clinical
from device.store.db import Tx
from tests.browser.conftest import login
from tests.cart import Cart
from tests.sax_series import sax_zip, single_file

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif("lv_seg" not in list_models(), reason="the lv_seg model is not built (make models)")]


@pytest.fixture(scope="module")
def sax_cart(tmp_path_factory):
    """The web UI and the job worker (no live loop competing for the CPU), with one open echo exam."""
    c = Cart(tmp_path_factory.mktemp("sax_cart"), role="webui")
    c.add_user("sono", "sonographer", "482913")
    store = Store.open(c.data)
    with Tx(store.conn):
        p = clinical.upsert_patient(store.conn, "BR0016", "Sax, Test", "F")
        c.exam_id = clinical.create_exam(store.conn, p, "echo", None, ["A4C"]).id
    store.close()
    c.start()
    worker = c.start_worker()
    yield c
    c.stop_worker(worker)
    c.stop()


def test_upload_sax_zip_see_contours_edit_edv(browser, sax_cart, tmp_path):
    cart, eid = sax_cart, sax_cart.exam_id
    zip_path = tmp_path / "sax_series.zip"
    sax_zip(zip_path)
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    login(page, cart)
    page.goto(f"{cart.url}/exams/{eid}")
    page.click('[data-action="sax.page"]')
    page.wait_for_url(f"{cart.url}/exams/{eid}/sax")
    assert page.locator("#sax-empty").is_visible()

    echo = tmp_path / "echo.dcm"
    echo.write_bytes(single_file("US"))
    page.set_input_files("#sax-files", str(echo))
    page.click("#sax-upload-submit")
    assert "ultrasound" in page.inner_text("#sax-error")

    page.set_input_files("#sax-files", str(zip_path))
    page.click("#sax-upload-submit")
    page.wait_for_selector("#sax-result", timeout=60_000)       # jobs.js reloads the page when the job is done
    assert page.eval_on_selector("#sax-svg image", "i => i.getBBox().width > 50")
    assert page.locator("#sax-endo").count() == 1
    assert len(page.get_attribute("#sax-endo", "points").split()) >= 8
    assert page.locator("#sax-grid a.sax-thumb").count() == 24
    assert page.locator("#sax-grid a.sax-thumb.ed").count() >= 4
    assert page.eval_on_selector("#sax-grid img", "img => img.complete && img.naturalWidth > 50")
    assert "lv_seg" in page.inner_text("#sax-model")
    ef_auto = float(page.inner_text("#sax-auto-ef").split()[0])
    assert 10 < ef_auto < 90
    # drag a point of the cavity outline outwards on the ED frame: the server redraws it, the EDV grows
    edv_auto = float(page.locator('#sax-values tr[data-name="mri_sax_edv_ml"] .sax-value').inner_text().split()[0])
    c = page.locator("#sax-endo").bounding_box()
    h = page.locator("circle.sax-handle").last.bounding_box()
    cx, cy = c["x"] + c["width"] / 2, c["y"] + c["height"] / 2
    hx, hy = h["x"] + h["width"] / 2, h["y"] + h["height"] / 2
    page.mouse.move(hx, hy)
    page.mouse.down()
    page.mouse.move(hx + 0.6 * (hx - cx), hy + 0.6 * (hy - cy), steps=4)
    page.mouse.up()
    page.wait_for_url("**/sax?k=*", timeout=15_000)
    page.wait_for_selector("#sax-result")
    assert "contour edited" in page.inner_text("#sax-view figcaption")
    assert float(page.locator('#sax-values tr[data-name="mri_sax_edv_ml"] .sax-value').inner_text().split()[0]) \
        > edv_auto

    edv_row = page.locator('#sax-values tr[data-name="mri_sax_edv_ml"]')
    esv = float(page.locator('#sax-values tr[data-name="mri_sax_esv_ml"] .sax-value').inner_text().split()[0])
    assert edv_row.get_attribute("data-confirmed") == "1"             # the dragged outline is the person's

    edv_row.locator('input[name="value"]').fill("80")
    edv_row.locator('button[type="submit"]').click()
    page.wait_for_load_state()
    edv_row = page.locator('#sax-values tr[data-name="mri_sax_edv_ml"]')
    assert edv_row.get_attribute("data-confirmed") == "1"
    assert edv_row.locator(".sax-value").inner_text().startswith("80.0")
    ef = float(page.locator('#sax-values tr[data-name="mri_sax_ef_pct"] .sax-value').inner_text().split()[0])
    assert ef == pytest.approx(100 * (80 - esv) / 80, abs=0.11)

    page.click("#sax-report-link")
    page.wait_for_url(f"{cart.url}/exams/{eid}/report")
    rep_edv = page.locator('#report-sections tr[data-name="mri_sax_edv_ml"] td.num').inner_text()
    rep_ef = page.locator('#report-sections tr[data-name="mri_sax_ef_pct"] td.num').inner_text()
    assert float(rep_edv.split()[0]) == 80.0
    # the report rounds EF to a whole percent (ASE style, display_value): EF = (EDV-ESV)/EDV before rounding
    assert float(rep_ef.split()[0]) == round(100 * (80 - esv) / 80)
    page.close()
