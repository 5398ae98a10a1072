"""In real Chromium: a sonographer opens an echo exam with a saved A4C clip, presses Measure on the exam page, then
"Measure clips"; the ED and ES frames show the LV trace; dragging a point of the ES contour outwards makes the
server recompute the volumes, the page shows the lower EF marked "edited", and the store holds the edited value
superseding the automatic one. A finger (touch events) on the ED frame works the same way."""

from __future__ import annotations

import numpy as np
import pytest

from device.inference import list_models
from device.services.live_sink import encode_clip
from device.sim.echo_probe import Segment, SimulatedProbe
from device.store import Store, clinical
from device.store.db import Tx
from tests.browser.conftest import login
from tests.cart import Cart

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif("lv_seg" not in list_models(), reason="the lv_seg model is not built (make models)")]


@pytest.fixture(scope="module")
def webui_cart(tmp_path_factory):
    """The web UI role only (no live loop competing for the CPU), with one echo exam holding an A4C clip."""
    c = Cart(tmp_path_factory.mktemp("echo_cart"), role="webui")
    c.add_user("sono", "sonographer", "482913")
    probe = SimulatedProbe(script=(Segment("A4C", approach_s=0.05, hold_s=10, leave_s=0.05),), size=(480, 360),
                           fps=20, hr_bpm=75, seed=5)
    shots = [probe.next() for _ in range(22)][2:]
    truth = shots[-1][1]
    store = Store.open(c.data)
    with Tx(store.conn):
        p = clinical.upsert_patient(store.conn, "BR0007", "Browser Test", "M")
        exam = clinical.create_exam(store.conn, p, "echo", None, ["A4C"])
        clinical.add_capture(store.conn, store.blobs, exam.id, "clip", encode_clip(np.stack([s[0] for s in shots]), 20),
                             "application/x-cardiocart-clip+npz", label="A4C", quality=0.9,
                             meta={"mm_per_px": truth.mm_per_px, "sector_bbox": list(truth.sector_bbox)})
    store.close()
    c.exam_id = exam.id
    c.start()
    worker = c.start_worker()                    # the job worker measures the clip the page asks for
    yield c
    c.stop_worker(worker)
    c.stop()


def test_drag_contour_point_changes_ef(browser, webui_cart):
    cart, eid = webui_cart, webui_cart.exam_id
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    login(page, cart)
    page.goto(f"{cart.url}/exams/{eid}")
    page.click('[data-action="echo_report.page"]')
    page.wait_for_url(f"{cart.url}/exams/{eid}/echo")
    box = page.locator("#echo-measure").bounding_box()
    assert box["height"] >= 48 and box["width"] >= 48
    page.click("#echo-measure")
    page.wait_for_selector('tr[data-name="a4c_ef_pct"]', timeout=60_000)
    page.wait_for_function("() => document.body.dataset.echoState === 'ready'")
    assert page.inner_text('tr[data-name="a4c_ef_pct"] .model').startswith("lv_seg ")
    assert "Not for diagnostic use" in page.inner_text("#clip-1")
    assert page.locator("#echo-report-link").get_attribute("href") == f"/exams/{eid}/report"
    ef_before = float(page.inner_text('tr[data-name="a4c_ef_pct"] .v'))

    es = page.locator('svg.overlay[data-phase="es"]')
    es.scroll_into_view_if_needed()
    handles = es.locator("circle.handle.contour")
    boxes = [handles.nth(i).bounding_box() for i in range(handles.count())]
    centres = np.array([[b["x"] + b["width"] / 2, b["y"] + b["height"] / 2] for b in boxes])
    mid = centres.mean(axis=0)
    i = int(np.argmax(np.abs(centres[:, 0] - mid[0])))          # a point of the lateral or septal wall
    x, y = centres[i]
    out = np.sign(x - mid[0]) * 28.0                             # pull it outwards: a bigger ES cavity
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + out / 2, y, steps=4)
    page.mouse.move(x + out, y, steps=4)
    page.mouse.up()
    page.wait_for_function("() => document.body.dataset.echoState === 'saved'", timeout=20_000)
    row = page.locator('tr[data-name="a4c_ef_pct"]')
    ef_after = float(row.locator(".v").inner_text())
    assert ef_after < ef_before - 0.5, (ef_before, ef_after)
    assert row.get_attribute("data-source") == "edited"

    # the same with a finger (touch events) on the ED frame: pull a wall point inwards, EDV goes down
    edv_before = float(page.inner_text('tr[data-name="a4c_edv_ml"] .v'))
    ed = page.locator('svg.overlay[data-phase="ed"]')
    ed.scroll_into_view_if_needed()
    handles = ed.locator("circle.handle.contour")
    boxes = [handles.nth(k).bounding_box() for k in range(handles.count())]
    centres = np.array([[b["x"] + b["width"] / 2, b["y"] + b["height"] / 2] for b in boxes])
    mid = centres.mean(axis=0)
    k = int(np.argmax(np.abs(centres[:, 0] - mid[0])))
    x, y = centres[k]
    step = -np.sign(x - mid[0]) * 8.0
    cdp = page.context.new_cdp_session(page)
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x, "y": y}]})
    for n in range(1, 4):
        cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x + n * step, "y": y}]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    page.wait_for_function("() => document.body.dataset.echoState === 'saved' && "
                           "document.querySelector('tr[data-name=\"a4c_edv_ml\"]').dataset.source === 'edited'",
                           timeout=20_000)
    assert float(page.inner_text('tr[data-name="a4c_edv_ml"] .v')) < edv_before
    ef_shown = float(page.inner_text('tr[data-name="a4c_ef_pct"] .v'))

    store = Store.open(cart.data)
    cur = {m.name: m for m in clinical.current_measurements(store.conn, eid)}
    assert cur["a4c_ef_pct"].source == "edited" and cur["a4c_ef_pct"].supersedes is not None
    assert abs(cur["a4c_ef_pct"].value - ef_shown) <= 0.051 and cur["a4c_edv_ml"].source == "edited"
    store.close()
    page.close()
