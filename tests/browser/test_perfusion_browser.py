"""In real Chromium: a sonographer opens a perfusion exam, makes a demo study with an LAD defect, waits for the
background analysis (the page polls and reloads) and sees the bullseye beside the short-axis slices, the LAD
territory at risk with its probability and model, and the disclaimer; an all-zero upload shows its reason."""

from __future__ import annotations

import io

import numpy as np
import pytest

from device import DISCLAIMER_EN
from device.store import Store, clinical
from device.store.db import Tx
from tests.browser.conftest import login

pytestmark = pytest.mark.browser


def _perfusion_exam(data_dir, pid: str) -> int:
    s = Store.open(data_dir)
    try:
        with Tx(s.conn) as c:
            p = clinical.upsert_patient(c, pid, "Zhao, Min", "F", "1966-07-08")
            return clinical.create_exam(c, p, "perfusion", None).id
    finally:
        s.close()


def test_demo_study_shows_bullseye_and_territory_risk(browser, cart, tmp_path):
    eid = _perfusion_exam(cart.data, "PB0001")
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    login(page, cart, "sono", "482913")
    page.goto(f"{cart.url}/exams/{eid}")
    page.click('[data-action="perfusion.page"]')
    page.wait_for_url(f"{cart.url}/exams/{eid}/perfusion")
    assert page.locator("#perf-empty").is_visible()

    page.select_option("#perf-demo-territory", "LAD")
    page.select_option("#perf-demo-severity", "severe")
    box = page.locator("#perf-demo-submit").bounding_box()
    assert box["height"] >= 48 and box["width"] >= 48                 # a touch target
    page.click("#perf-demo-submit")
    page.wait_for_selector("#perf-result", timeout=60_000)            # polled, then reloaded by perfusion.js
    for sel in ("#perf-bullseye-stress", "#perf-bullseye-rest", "#perf-slices"):
        assert page.eval_on_selector(sel, "img => img.complete && img.naturalWidth > 100"), sel
    stress = page.locator("#perf-bullseye-stress").bounding_box()
    slices = page.locator("#perf-slices").bounding_box()
    assert slices["x"] > stress["x"] + stress["width"] - 1            # the slices sit beside the bullseye
    lad = page.locator('#perf-territories tr[data-territory="LAD"]')
    assert lad.get_attribute("data-at-risk") == "1"
    prob = float(lad.locator("td.num").first.inner_text().split()[0])
    assert 0.5 < prob <= 1.0
    assert "perfusion_territory" in page.inner_text("#perf-models")
    assert page.locator("#perf-simulated").is_visible()
    assert DISCLAIMER_EN in page.inner_text("#perf-result")
    assert page.locator("#perf-segments tr[data-segment]").count() == 17

    zeros = tmp_path / "empty.npz"
    buf = io.BytesIO()
    np.savez(buf, stress=np.zeros((24, 24, 24), np.float32), voxel_mm=np.array(4.0))
    zeros.write_bytes(buf.getvalue())
    page.set_input_files("#perf-stress", str(zeros))
    page.click("#perf-upload-submit")
    page.wait_for_selector("#perf-failed-reason", timeout=60_000)
    assert "all counts are zero" in page.inner_text("#perf-failed-reason")
    assert page.locator("#perf-result").is_visible()                 # the earlier result, labelled as earlier
    assert page.locator("#perf-volumes tr[data-phase=stress]").count() == 2
    page.close()
