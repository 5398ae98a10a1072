"""In real Chromium (issue 14 part 2): a sonographer measures an exam holding a subcostal IVC clip, sees the IVC
calipers over the frames on the echo page, drags the end of the maximal-diameter caliper; the value is recomputed
on the server, shown as edited, and the report shows the new value with the collapse recomputed from it. Issue 14's
"done when": a TR Doppler screen and an A4C (RV) clip are measured, the RV basal caliper is dragged, the report
shows the new RV value beside the TR velocity."""

from __future__ import annotations

import pytest

import cv2

from device.domain.codecs import encode_clip
from device.eval.echo_2d_chambers import HR, PHASES, sim_clip
from device.eval.echo_2d_ivc import ivc_clip
from device.sim.doppler import simulate
from device.store import Store, clinical
from device.store.db import Tx
from tests.browser.conftest import login
from tests.cart import Cart

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def ivc_cart(tmp_path_factory):
    c = Cart(tmp_path_factory.mktemp("ivc_cart"), role="webui")
    c.add_user("sono", "sonographer", "482913")
    clip, _, _ = ivc_clip(0, vary=False)
    store = Store.open(c.data)
    with Tx(store.conn):
        p = clinical.upsert_patient(store.conn, "BR2D01", "Vena Cava", "M")
        exam = clinical.create_exam(store.conn, p, "echo", None, ["SC-IVC"])
        cap = clinical.add_capture(store.conn, store.blobs, exam.id, "clip", encode_clip(clip.frames, clip.fps),
                                   "application/x-cardiocart-clip", label="SC-IVC", quality=0.9,
                                   meta={"mm_per_px": list(clip.mm_per_px), "fps": clip.fps})
    store.close()
    c.exam_id, c.capture_id = exam.id, cap.id
    c.start()
    worker = c.start_worker()
    yield c
    c.stop_worker(worker)
    c.stop()


def _value(page, sel: str) -> float:
    return float(page.inner_text(sel).split()[0])


def _drag_longer(page, name: str, frac: float) -> None:
    """Drag the second end of caliper ``name`` away from the first by ``frac`` of its length."""
    handle = page.locator(f'svg.overlay2d circle[data-name="{name}"][data-index="1"]')
    assert handle.count() == 1
    handle.scroll_into_view_if_needed()
    a = page.locator(f'svg.overlay2d circle[data-name="{name}"][data-index="0"]').bounding_box()
    b = handle.bounding_box()
    x, y = b["x"] + b["width"] / 2, b["y"] + b["height"] / 2
    dx, dy = (x - a["x"] - a["width"] / 2) * frac, (y - a["y"] - a["height"] / 2) * frac
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + dx / 2, y + dy / 2, steps=3)
    page.mouse.move(x + dx, y + dy, steps=3)
    page.mouse.up()


def test_measure_drag_ivc_caliper_and_report_follows(browser, ivc_cart):
    cart, eid, cap = ivc_cart, ivc_cart.exam_id, ivc_cart.capture_id
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    login(page, cart)
    page.goto(f"{cart.url}/exams/{eid}/echo")
    page.click("#echo-measure")
    page.wait_for_selector(f'#clip2d-{cap}[data-status="measured"]', timeout=60_000)
    page.wait_for_selector("#job-list", state="detached", timeout=60_000)   # no job left to reload the page
    page.wait_for_selector('body[data-echo2d-state="ready"]')
    row = f'#rows2d-{cap} tr[data-name="ivc_max_mm"]'
    before = _value(page, f"{row} .v")
    collapse_before = _value(page, f'#rows2d-{cap} tr[data-name="ivc_collapse_pct"] .v')
    assert "echo_2d 1.0.0" in page.inner_text(f"#clip2d-{cap}")
    _drag_longer(page, "ivc_max_mm", 0.4)
    page.wait_for_selector('body[data-echo2d-state="saved"], body[data-echo2d-state="error"]', timeout=15_000)
    assert page.get_attribute("body", "data-echo2d-state") == "saved", page.inner_text("#echo-error")
    after = _value(page, f"{row} .v")
    assert after > before * 1.2, (before, after)
    assert page.get_attribute(row, "data-source") == "edited"
    collapse_after = _value(page, f'#rows2d-{cap} tr[data-name="ivc_collapse_pct"] .v')
    assert collapse_after > collapse_before                      # derived from the edited maximum

    page.goto(f"{cart.url}/exams/{eid}/report")
    rep = page.inner_text('#report-sections tr[data-name="ivc_max_mm"]')
    assert f"{after:.1f}" in rep, (rep, after)
    assert "Inferior vena cava" in page.inner_text("#report-sections")
    page.close()


@pytest.fixture(scope="module")
def rv_cart(tmp_path_factory):
    """An echo exam holding a simulated A4C clip (one beat in 10 frames; H5's right-heart measurer reads it)."""
    c = Cart(tmp_path_factory.mktemp("rv_cart"), role="webui")
    c.add_user("sono", "sonographer", "482913")
    clip, _ = sim_clip("A4C", 1)
    fps = len(PHASES) / (60.0 / HR)          # the 10 frames span one beat
    store = Store.open(c.data)
    with Tx(store.conn):
        p = clinical.upsert_patient(store.conn, "BR2D02", "Right Heart", "F")
        exam = clinical.create_exam(store.conn, p, "echo", None, ["A4C"])
        cap = clinical.add_capture(store.conn, store.blobs, exam.id, "clip", encode_clip(clip.frames, fps),
                                   "application/x-cardiocart-clip", label="A4C", quality=0.9,
                                   meta={"mm_per_px": list(clip.mm_per_px), "fps": fps})
    store.close()
    c.exam_id, c.capture_id = exam.id, cap.id
    c.start()
    worker = c.start_worker()
    yield c
    c.stop_worker(worker)
    c.stop()


def test_doppler_screen_and_rv_view_measured_rv_edited_report_follows(browser, rv_cart, tmp_path):
    """Issue 14 'Done when': a Doppler screen and a RV view measured, one 2-D value edited, the report changes."""
    cart, eid, cap = rv_cart, rv_cart.exam_id, rv_cart.capture_id
    s = simulate("tr", 63, layout="a")
    png = tmp_path / "tr.png"
    cv2.imwrite(str(png), cv2.cvtColor(s.rgb, cv2.COLOR_RGB2BGR))
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    login(page, cart)
    page.goto(f"{cart.url}/exams/{eid}/echo")
    page.set_input_files("#doppler-file", str(png))
    page.click("#doppler-submit")
    page.wait_for_selector('#echo-doppler li[data-status="measured"][data-kind="tr"]', timeout=60_000)
    page.click("#echo-measure")
    page.wait_for_selector(f'#clip2d-{cap}[data-status="measured"]', timeout=60_000)
    page.wait_for_selector("#job-list", state="detached", timeout=60_000)   # no job left to reload the page
    page.wait_for_selector('body[data-echo2d-state="ready"]')
    card = page.inner_text(f"#clip2d-{cap}")
    assert "echo_2d 1.0.0" in card
    row = f'#rows2d-{cap} tr[data-name="rv_basal_mm"]'
    before = _value(page, f"{row} .v")
    assert 20 < before < 60, before
    _drag_longer(page, "rv_basal_mm", 0.3)
    page.wait_for_selector('body[data-echo2d-state="saved"], body[data-echo2d-state="error"]', timeout=15_000)
    assert page.get_attribute("body", "data-echo2d-state") == "saved", page.inner_text("#echo-error")
    after = _value(page, f"{row} .v")
    assert after > before * 1.15, (before, after)
    assert page.get_attribute(row, "data-source") == "edited"

    page.goto(f"{cart.url}/exams/{eid}/report")
    rep = page.inner_text('#report-sections tr[data-name="rv_basal_mm"]')
    assert f"{after:.1f}" in rep or f"{after:.0f}" in rep, (rep, after)
    assert "TR peak velocity" in page.inner_text("#report-sections")
    page.close()
