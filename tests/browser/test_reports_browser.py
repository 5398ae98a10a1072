"""In real Chromium: a sonographer sees the auto-filled draft but no Sign button; a physician opens the report from
the exam page, edits the text, confirms a measurement, signs, and sees version 1 signed and no longer editable."""

from __future__ import annotations

import pytest

from tests.browser.conftest import login
from tests.integration.test_reports_ui import make_exam

pytestmark = pytest.mark.browser


def test_physician_edits_and_signs_sonographer_cannot_sign(browser, cart):
    eid = make_exam(cart.data, "ecg", "B0042")
    page = browser.new_page(viewport={"width": 1280, "height": 800})

    login(page, cart, "sono", "482913")
    page.goto(f"{cart.url}/exams/{eid}/report")
    assert page.get_attribute("#report-status", "data-status") == "draft"
    assert page.locator("#sign-report").count() == 0
    assert page.locator("#free_text").is_visible()                  # a sonographer may edit the draft
    assert "LV ejection fraction" in page.inner_text("#report-sections")  # a human name, not ef_pct
    page.click("#logout")

    login(page, cart, "drli", "573920")
    page.goto(f"{cart.url}/exams/{eid}")
    page.click('[data-action="reports.report_page"]')
    page.wait_for_url(f"{cart.url}/exams/{eid}/report")
    assert page.get_attribute("#report-status", "data-version") == "1"
    page.fill("#free_text", "Sinus rhythm. Normal ECG.")
    page.click("#save-text")
    page.wait_for_load_state()
    assert page.input_value("#free_text") == "Sinus rhythm. Normal ECG."
    page.locator('tr[data-measurement="ef_pct"] .rep-confirm').click()
    page.wait_for_load_state()
    assert "confirmed" in page.inner_text('tr[data-measurement="ef_pct"]')

    box = page.locator("#sign-report").bounding_box()
    assert box["height"] >= 48 and box["width"] >= 48               # a touch target
    page.once("dialog", lambda d: d.accept())
    page.click("#sign-report")
    page.wait_for_selector('#report-status[data-status="signed"]')
    state = page.inner_text("#report-state")
    assert "1" in state and "signed" in state
    assert "drli" in page.inner_text("#report-signer").lower()
    assert page.locator("#sign-report").count() == 0 and page.locator("#free_text").count() == 0
    assert page.locator("#correct-report").is_visible()
    assert "Sinus rhythm. Normal ECG." in page.inner_text("#report-text")
    assert page.locator('tr.rep-version[data-version="1"][data-status="signed"]').count() == 1
    page.close()


@pytest.mark.pacs
@pytest.mark.slow
def test_signing_in_the_ui_sends_to_the_pacs_and_shows_sent(browser, tmp_path):
    """The whole cart (core, web UI, sync roles) with a real Orthanc: sign in the browser, the sync role sends the
    signed report's objects, the report page and the sync page show them sent."""
    from tests.cart import Cart
    from tests.integration.orthanc import ORTHANC, OrthancProcess, find_dicomweb_plugin
    if not ORTHANC.exists() or find_dicomweb_plugin() is None:
        pytest.skip("needs Debian orthanc and orthanc-dicomweb")
    pacs = OrthancProcess(tmp_path / "orthanc")
    pacs.start()
    cart = Cart(tmp_path, extra_toml=f'[sync]\ntarget = "dicomweb"\ndicomweb_url = "{pacs.dicomweb_url}"\n'
                                     'retry_initial_s = 1\n')
    try:
        cart.add_user("drli", "physician", "573920")
        cart.start()
        eid = make_exam(cart.data, "ecg", "B0777")
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        login(page, cart, "drli", "573920")
        page.goto(f"{cart.url}/exams/{eid}/report")
        assert page.get_attribute("#report-sync", "data-sync") == "none"
        page.once("dialog", lambda d: d.accept())
        page.click("#sign-report")
        page.wait_for_selector('#report-status[data-status="signed"]')
        for _ in range(60):
            page.goto(f"{cart.url}/exams/{eid}/report")
            if page.get_attribute("#report-sync", "data-sync") == "sent":
                break
            page.wait_for_timeout(500)
        assert page.get_attribute("#report-sync", "data-sync") == "sent"
        held = pacs.sop_instance_uids()
        assert len(held) == len(set(held)) == 3          # PDF, key image, 12-lead waveform
        page.goto(f"{cart.url}/sync")
        assert page.get_attribute(f'tr[data-exam="{eid}"]', "data-sync") == "sent"
        page.close()
    finally:
        cart.stop()
        pacs.stop()
