"""Issue 18 part 5 in real Chromium: saved loops play on the exam page (an animated WebP of the stored clip, fetched
only when its player is opened, whose picture changes while it plays), and the Measure page of an exam with many
clips is paged (6 clips a page) with its key frames loaded lazily and a progress line."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from device.inference import list_models
from device.reporting.settings import ReportSettings
from device.services import echo_measure as em
from device.services.live_sink import encode_clip
from device.sim.echo_probe import Segment, SimulatedProbe
from device.store import Store, clinical
from device.store.db import Tx
from tests.browser.conftest import login
from tests.cart import Cart

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif("lv_seg" not in list_models(), reason="the lv_seg model is not built (make models)")]
N_CLIPS = 8


@pytest.fixture(scope="module")
def clips_cart(tmp_path_factory):
    """The web UI role only, one echo exam with 8 saved A4C clips of the simulated probe, measured (the first by
    the LV model; the others hold the same clip, so the same geometry is stored for them without the model)."""
    c = Cart(tmp_path_factory.mktemp("clips_cart"), role="webui")
    c.add_user("sono", "sonographer", "482913")
    probe = SimulatedProbe(script=(Segment("A4C", approach_s=0.05, hold_s=10, leave_s=0.05),), size=(320, 240),
                           fps=20, hr_bpm=75, seed=7)
    shots = [probe.next() for _ in range(16)][2:]
    truth = shots[-1][1]
    blob = encode_clip(np.stack([s[0] for s in shots]), 20)
    meta = {"mm_per_px": truth.mm_per_px, "sector_bbox": list(truth.sector_bbox), "fps": 20}
    store = Store.open(c.data)
    with Tx(store.conn):
        p = clinical.upsert_patient(store.conn, "BR0008", "Loops Test", "F")
        exam = clinical.create_exam(store.conn, p, "echo", None, ["A4C"])
        ids = [clinical.add_capture(store.conn, store.blobs, exam.id, "clip", blob, "application/x-cardiocart-clip+npz",
                                    label="A4C", quality=0.5 + 0.05 * k, meta=meta).id for k in range(N_CLIPS)]
    em.measure_capture(store.conn, store.blobs, ids[0], table=ReportSettings.bundled().case_table)
    geo = em.geometry_findings(store.conn, exam.id)[ids[0]]
    with Tx(store.conn):
        for cid in ids[1:]:
            clinical.add_finding(store.conn, exam.id, cid, em.FINDING_KIND, geo["label"], None, geo["model_name"],
                                 geo["model_version"], geo["detail"])
    store.close()
    c.exam_id, c.clip_ids = exam.id, ids
    c.start()
    yield c
    c.stop()


def test_saved_loop_plays_on_the_exam_page(browser, clips_cart):
    c = clips_cart
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    loops: list[str] = []
    page.on("response", lambda r: loops.append(r.url) if r.url.endswith("loop.webp") and r.status == 200 else None)
    login(page, c)
    page.goto(f"{c.url}/exams/{c.exam_id}")
    assert page.locator("details.loop-player").count() == N_CLIPS
    page.wait_for_timeout(300)
    assert loops == []                                             # nothing fetched before a player is opened
    cid = c.clip_ids[3]
    page.click(f"#loop-{cid} summary")
    img = page.locator(f"#loop-{cid} img.loop")
    page.wait_for_function("i => i.complete && i.naturalWidth > 0", arg=img.element_handle(), timeout=10000)
    assert len(loops) == 1 and f"/clip/{cid}/loop.webp" in loops[0]
    # the picture changes while it plays: two screenshots of the player differ (a canvas drawImage would give the
    # first frame of an animation by the HTML spec, so the screen is what is compared)
    img.scroll_into_view_if_needed()                               # Chromium animates only what is on screen
    shots = []
    for _ in range(2):
        shots.append(np.asarray(Image.open(io.BytesIO(img.screenshot())).convert("L"), dtype=float))
        page.wait_for_timeout(400)
    assert shots[0].shape[1] >= 200 and np.abs(shots[0] - shots[1]).mean() > 1.0
    page.close()


def test_measure_page_is_paged_with_lazy_frames_and_progress(browser, clips_cart):
    c = clips_cart
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    login(page, c)
    page.goto(f"{c.url}/exams/{c.exam_id}/echo")
    assert page.locator("section.echo-clip").count() == 6
    assert page.get_attribute("#clip-pager", "data-pages") == "2"
    assert "1–6" in page.inner_text("#clip-pager") and "8" in page.inner_text("#clip-pager")
    assert page.locator("section.echo-clip .echo-frame img[loading=lazy]").count() == 12    # ED + ES of 6 clips
    n2d = page.locator("section.echo-2d .echo-frame img[loading=lazy]").count()   # 2-D calipers' frames (A4C RV)
    for img in page.locator(".echo-frame img").all():              # the user scrolls down the page
        img.scroll_into_view_if_needed()
    page.wait_for_selector("#frames-progress.done", timeout=20000)
    assert page.get_attribute("#frames-progress", "data-loaded") == str(12 + n2d)
    page.click("#clip-pager a[rel=next]")
    page.wait_for_load_state()
    shown = [int(x) for x in page.locator("section.echo-clip").evaluate_all("s => s.map(e => e.dataset.capture)")]
    assert len(shown) == 2 and set(shown) < set(c.clip_ids)
    page.goto(f"{c.url}/exams/{c.exam_id}/echo?clip={shown[-1]}")        # a clip's own page, e.g. after a pick
    assert page.get_attribute("#clip-pager", "data-page") == "2"
    page.close()
