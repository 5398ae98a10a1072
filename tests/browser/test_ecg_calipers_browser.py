"""In real Chromium on the 1280x800 screen (issue 18 point 3): a labelled ECG photo is read, its median beat is drawn
with four caliper markers; dragging the T-end marker fills the form, saving recomputes QT and QTc on the cart
(the page and the report show the new values, the edit is the sonographer's); a second photo makes a second
reading, the first stays viewable, and the report says which reading it uses."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.browser.conftest import login

pytestmark = pytest.mark.browser


def _printout(tmp_path_factory, hr_bpm: float, seed: int, name: str):
    import cv2

    from device.sim import ecg_paper

    rng = np.random.default_rng(seed)
    page = ecg_paper.render(ecg_paper.synthetic_ecg(rng, hr_bpm=hr_bpm), rng=rng)
    path = tmp_path_factory.mktemp("ecgcal") / name
    cv2.imwrite(str(path), cv2.cvtColor(page.image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    return path


def _ecg_exam(cart) -> int:
    from device.store import Store, clinical
    from device.store.db import Tx

    s = Store.open(cart.data)
    try:
        with Tx(s.conn) as c:
            p = clinical.upsert_patient(c, "B0CAL1", "Qian, Hua", "F", "1961-03-04")
            return clinical.create_exam(c, p, "ecg", None).id
    finally:
        s.close()


def _touch_drag(page, x: float, y: float, dx: float) -> None:
    """A finger drag (Chromium turns CDP touch events into pointer events of type touch)."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x, "y": y}]})
    for f in (0.25, 0.5, 0.75, 1.0):
        cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x + f * dx, "y": y}]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    cdp.detach()


def _num(text: str) -> float:
    """The number a report cell starts with (a flag such as H may follow)."""
    return float(text.split()[0])


def _value(page, name: str) -> float:
    return float(page.get_attribute(f'#ecg-measurements tr[data-name="{name}"] td.num', "data-value"))


def test_drag_t_end_on_the_median_beat_then_a_second_photo(browser, cart, tmp_path_factory):
    first = _printout(tmp_path_factory, 72, 3, "rest.jpg")
    second = _printout(tmp_path_factory, 96, 5, "IMG_2041.jpg")
    eid = _ecg_exam(cart)
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    login(page, cart, "sono", "482913")
    page.goto(f"{cart.url}/exams/{eid}/ecg")
    page.fill("#ecg-label", "at rest")
    page.set_input_files("#ecg-file", str(first))                          # reads as soon as it is chosen
    page.wait_for_selector('#ecg-result[data-version="1"]', timeout=60000)
    assert page.inner_text("#ecg-reading-label") == "at rest"

    # the median beat is drawn with its four markers where the automatic intervals put them
    assert page.locator("#ecg-beat-svg polyline.ecg-beat-trace").get_attribute("points").count(",") > 150
    assert page.locator("#ecg-beat-svg .ecg-marker").count() == 4
    model_line = page.inner_text("#ecg-beat-model")
    assert "ecg_calipers 1 · ecg_reader" in model_line and "Not for diagnostic use without review" in model_line
    qt0, qtc0, rr = _value(page, "qt_ms"), _value(page, "qtc_bazett_ms"), _value(page, "rr_ms")
    on0, t0 = float(page.input_value('input[name="qrs_onset_ms"]')), float(page.input_value('input[name="t_end_ms"]'))
    assert abs((t0 - on0) - qt0) <= 1.0
    page.select_option("#ecg-beat-lead", "V2")                              # another lead's beat, same markers
    assert page.get_attribute("#ecg-beat-svg", "data-lead") == "V2"

    # drag the T-end marker 40 ms later with the pointer (pointer events: mouse, pen and touch alike)
    svg = page.locator("#ecg-beat-svg")
    svg.scroll_into_view_if_needed()
    knob = page.locator('[data-marker="t_end_ms"] .ecg-marker-knob').bounding_box()
    px_per_ms = svg.bounding_box()["width"] / float(svg.get_attribute("viewBox").split()[2])
    assert knob["width"] >= 24 and page.locator('[data-marker="t_end_ms"] rect').bounding_box()["width"] >= 40
    x, y = knob["x"] + knob["width"] / 2, knob["y"] + knob["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 20 * px_per_ms, y, steps=3)
    page.mouse.move(x + 40 * px_per_ms, y, steps=3)
    page.mouse.up()
    t1 = float(page.input_value('input[name="t_end_ms"]'))
    assert abs((t1 - t0) - 40) <= 2
    # and by touch (the cart's touchscreen): the QRS-offset marker 10 ms later with a finger
    page.evaluate("document.getElementById('ecg-beat-svg').addEventListener('pointerdown', "
                  "e => { window.lastPointer = e.pointerType; })")
    off0 = float(page.input_value('input[name="qrs_offset_ms"]'))
    j = page.locator('[data-marker="qrs_offset_ms"] .ecg-marker-knob').bounding_box()
    _touch_drag(page, j["x"] + j["width"] / 2, j["y"] + j["height"] / 2, 10 * px_per_ms)
    assert page.evaluate("window.lastPointer") == "touch"
    off1 = float(page.input_value('input[name="qrs_offset_ms"]'))
    assert abs((off1 - off0) - 10) <= 2
    assert f"QT {round(t1 - on0)} ms" in page.inner_text("#ecg-beat-preview")

    page.click("#ecg-cal-save")                                             # the cart recomputes and stores
    page.wait_for_selector("#ecg-measurements")
    qt1, qtc1 = _value(page, "qt_ms"), _value(page, "qtc_bazett_ms")
    assert _value(page, "qrs_ms") == pytest.approx(off1 - on0, abs=0.6)
    assert qt1 == pytest.approx(t1 - on0, abs=0.6) and qt1 - qt0 == pytest.approx(40, abs=2.5)
    assert qtc1 == pytest.approx(qt1 / math.sqrt(rr / 1000.0), abs=1.0) and qtc1 > qtc0
    assert "corrected" in page.inner_text('#ecg-measurements tr[data-name="qt_ms"]')
    assert float(page.input_value('input[name="t_end_ms"]')) == pytest.approx(t1, abs=0.6)   # markers stay put

    from device.store import Store, clinical, users
    s = Store.open(cart.data)
    try:
        qt_row = next(m for m in clinical.current_measurements(s.conn, eid) if m.name == "qt_ms")
        sono = next(u for u in users.list_users(s.conn) if u.username == "sono")
    finally:
        s.close()
    assert qt_row.source == "edited" and qt_row.edited_by == sono.id and qt_row.model_name == "ecg_calipers"

    page.goto(f"{cart.url}/exams/{eid}/report")
    report = page.inner_text("#report-sections")
    assert "ECG reading in this report: at rest (version 1; the newest reading; 1 reading(s)" in report
    assert _num(page.inner_text('#report-sections tr[data-name="qt_ms"] td.num')) == pytest.approx(qt1, abs=0.6)
    assert _num(page.inner_text('#report-sections tr[data-name="qtc_bazett_ms"] td.num')) == \
        pytest.approx(qtc1, abs=0.6)
    assert "Not for diagnostic use without review" in report and "ecg_calipers" in report
    assert f"edited by {sono.display_name}" in page.inner_text('#report-sections tr[data-name="qt_ms"]')

    # a second photo is a second reading; the first is still there to view; the report says which one it uses
    page.goto(f"{cart.url}/exams/{eid}/ecg")
    page.set_input_files("#ecg-file", str(second))
    page.wait_for_selector('#ecg-readings tr[data-in-report="1"] >> text=IMG_2041.jpg', timeout=60000)
    assert page.inner_text("#ecg-reading-label") == "IMG_2041.jpg"
    assert page.locator("#ecg-readings tbody tr").count() == 2
    assert abs(_value(page, "hr_bpm") - 96) < 4
    page.click('#ecg-readings tr:has-text("at rest") [data-view-reading]')
    page.wait_for_selector('#ecg-reading-label:text-is("at rest")')
    assert _value(page, "qt_ms") == pytest.approx(qt1, abs=0.6) and page.is_visible("#ecg-not-in-report")
    page.goto(f"{cart.url}/exams/{eid}/report")
    report = page.inner_text("#report-sections")
    assert "ECG reading in this report: IMG_2041.jpg (version 1; the newest reading; 2 reading(s)" in report
    assert page.locator('#report-sections tr[data-name="qt_ms"]').count() == 1                 # not merged
    assert not errors, errors
    page.close()
