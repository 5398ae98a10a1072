"""In real Chromium: a sonographer opens an ECG exam's paper-ECG page, uploads a printout, sees the digitised traces
over the rectified printout, the measurements, the screening with its models and the disclaimer; in the correction
tool the box tools work, and re-digitising at 50 mm/s stores version 2 whose numbers change accordingly."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from tests.browser.conftest import login

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def printout_path(tmp_path_factory):
    import cv2

    from device.sim import ecg_paper

    rng = np.random.default_rng(3)
    page = ecg_paper.render(ecg_paper.synthetic_ecg(rng, hr_bpm=72), rng=rng)
    path = tmp_path_factory.mktemp("ecg") / "printout.jpg"
    cv2.imwrite(str(path), cv2.cvtColor(page.image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    return path


def _ecg_exam(cart) -> int:
    from device.store import Store, clinical
    from device.store.db import Tx

    s = Store.open(cart.data)
    try:
        with Tx(s.conn) as c:
            p = clinical.upsert_patient(c, "B0ECG1", "Zhao, Min", "M", "1950-01-02")
            return clinical.create_exam(c, p, "ecg", None).id
    finally:
        s.close()


def _hr(page) -> float:
    return float(page.get_attribute('#ecg-measurements tr[data-name="hr_bpm"] td.num', "data-value"))


def test_upload_see_traces_and_correct_calibration(browser, cart, printout_path):
    eid = _ecg_exam(cart)
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    login(page, cart, "sono", "482913")
    page.goto(f"{cart.url}/exams/{eid}")
    page.click('[data-action="ecg.page"]')
    page.wait_for_url(f"{cart.url}/exams/{eid}/ecg")
    box = page.locator("label.ecg-file").first.bounding_box()
    assert box["height"] >= 48                                              # a touch target
    assert page.get_attribute("#ecg-photo-camera", "capture") == "environment"

    page.set_input_files("#ecg-file", str(printout_path))                  # reads as soon as it is chosen
    page.wait_for_selector('#ecg-result[data-version="1"]', timeout=60000)
    assert page.locator("#ecg-overlay polyline").count() >= 12
    assert page.locator("#ecg-overlay image").evaluate("el => el.getBBox().width") > 1000
    assert abs(_hr(page) - 72) < 3
    screening = page.inner_text("#ecg-screening")
    assert "ecg_signal 1.2.0" in screening and "ecg_rules 1.1.0" in screening  # the signal screen (issue 17) and its rule layer
    assert page.is_visible("#ecg-disclaimer") and "Not for diagnostic use" in page.inner_text("#ecg-disclaimer")
    # the trace layer can be hidden to compare with the printout
    page.locator('input[data-toggle="ecg-traces"]').uncheck()
    assert page.locator("#ecg-overlay .ecg-traces").evaluate("el => getComputedStyle(el).display") == "none"

    page.click("#ecg-correct-link")
    page.wait_for_url(f"{cart.url}/exams/{eid}/ecg/reading/*/correct")
    page.wait_for_load_state("load")
    original = json.loads(page.input_value("#ecg-boxes-input"))
    page.locator('#ecg-overlay .ecg-box[data-lead="V1"] rect').click()
    assert page.inner_text("#ecg-sel-name").startswith("V1")
    page.click('[data-nudge="1,0"]')
    moved = json.loads(page.input_value("#ecg-boxes-input"))
    k = next(i for i, b in enumerate(original) if b["lead"] == "V1")
    assert moved[k]["x0"] == pytest.approx(original[k]["x0"] + 8)           # 1 mm on the 8 px/mm printout
    page.click("#ecg-reset-boxes")
    assert json.loads(page.input_value("#ecg-boxes-input")) == original

    page.select_option("#ecg-speed", "50")
    page.click("#ecg-redigitise")
    page.wait_for_selector('#ecg-result[data-version="2"]', timeout=60000)
    assert page.get_attribute("#ecg-result", "data-source") == "edited"
    assert abs(_hr(page) - 145) < 6                                         # the same beats, twice as close
    assert page.get_attribute("#ecg-calibration", "data-speed") == "50.0"
    assert "corrected" in page.inner_text('#ecg-measurements tr[data-name="hr_bpm"]')
    assert not errors, errors
    page.close()


def test_browser_camera_snapshot_is_stored_and_read(browser, cart, printout_path, tmp_path):
    """The camera page with Chromium's fake camera playing the printout (Y4M): the preview starts under the framing
    guide, 'Take picture' uploads the frame, the cart stores and reads it and the page shows the reading."""
    import cv2

    from tests.browser.conftest import CHROME_ARGS, CHROMIUM

    rgb = cv2.cvtColor(cv2.imread(str(printout_path)), cv2.COLOR_BGR2RGB)
    h, w = 1080, 1920                                                   # what the page asks the camera for
    frame = np.full((h, w, 3), 90, np.uint8)                            # a dark table around the sheet
    sheet = cv2.resize(rgb, (round(1040 * rgb.shape[1] / rgb.shape[0]), 1040), interpolation=cv2.INTER_AREA)
    y0, x0 = (h - sheet.shape[0]) // 2, (w - sheet.shape[1]) // 2
    frame[y0:y0 + sheet.shape[0], x0:x0 + sheet.shape[1]] = sheet
    yuv = cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420)
    video = tmp_path / "printout.y4m"
    video.write_bytes(f"YUV4MPEG2 W{w} H{h} F5:1 Ip A1:1 C420jpeg\n".encode() + b"FRAME\n" + yuv.tobytes())
    eid = _ecg_exam(cart)
    # a second Chromium of the same Playwright, with a fake camera playing the printout
    b = browser.browser_type.launch(executable_path=CHROMIUM, headless=True, args=[
        *CHROME_ARGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={video}"])
    try:
        page = b.new_page(viewport={"width": 1280, "height": 800})
        login(page, cart, "sono", "482913")
        page.goto(f"{cart.url}/exams/{eid}/ecg/camera")
        assert page.is_visible(".ecg-guide-box")
        page.wait_for_selector("#ecg-snap:not([disabled])", timeout=15000)
        assert page.locator("#ecg-video").evaluate("v => v.videoWidth") == 1920
        page.click("#ecg-snap")
        page.wait_for_url(re.compile(re.escape(f"{cart.url}/exams/{eid}/ecg") + r"(\?job=\d+)?$"),
                          timeout=60000)                                # the page follows the read job
        page.wait_for_selector('#ecg-result[data-version="1"]')
        assert abs(_hr(page) - 72) < 4
        assert "browser_camera" in page.inner_text("#ecg-photos")
    finally:
        b.close()
