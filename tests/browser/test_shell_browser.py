"""In real Chromium: sign in, create an exam with a scanned patient ID, and watch the live stream move."""

from __future__ import annotations

import hashlib
import time

import pytest

from tests.browser.conftest import login

pytestmark = pytest.mark.browser


def test_login_create_exam_and_live_stream_moves(browser, cart):
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(cart.url + "/")
    assert "/login" in page.url
    page.fill("#username", "sono")
    page.fill("#pin", "000000")
    page.click("#login-submit")
    assert page.locator("#login-error").is_visible()
    login(page, cart)
    page.click("#nav-new-exam")
    page.wait_for_url(cart.url + "/exams/new")
    # a barcode scanner types the ID and presses Enter: focus moves on, nothing is submitted yet
    page.focus("#patient_id")
    page.keyboard.type("H0099887")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "patient_name"
    page.fill("#patient_name", "Chen Jing")
    page.select_option("#kind", "echo")
    page.click("#exam-submit")
    page.wait_for_url(cart.url + "/live")
    assert "H0099887" in page.inner_text(".panel")

    # the live stream moves: the frame counter from the event stream rises and the picture changes
    page.wait_for_function("() => Number(document.body.dataset.frame || 0) > 0", timeout=30000)
    f0 = int(page.evaluate("document.body.dataset.frame"))
    shot0 = hashlib.sha256(page.locator("#live-img").screenshot()).hexdigest()
    time.sleep(1.5)
    f1 = int(page.evaluate("document.body.dataset.frame"))
    shot1 = hashlib.sha256(page.locator("#live-img").screenshot()).hexdigest()
    assert f1 > f0
    assert shot0 != shot1
    assert page.evaluate("document.getElementById('live-img').naturalWidth") > 100

    # switch to Chinese and back
    page.click("#lang-switch")
    assert "实时" in page.inner_text("header")
    page.click("#lang-switch")
    page.click("#logout")
    assert "/login" in page.url
    page.close()
