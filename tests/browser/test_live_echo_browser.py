"""In real Chromium: the live page goes from an alarm with a probe hint to "standard view" as the simulated probe
drifts into the protocol's first view, and the best clip of that view is saved to the exam."""

from __future__ import annotations

import pytest

from device.inference import list_models
from tests.browser.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.mark.skipif("echo_view" not in list_models(), reason="echo_view model not built (make models)")
def test_alarm_then_standard_view_then_clip(browser, cart):
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    login(page, cart)
    page.goto(cart.url + "/exams/new")
    page.fill("#patient_id", "LIVE0001")
    page.select_option("#kind", "echo")
    page.click("#exam-submit")
    page.wait_for_url(cart.url + "/live")
    # the core takes up the new exam within ~1 s and the simulated probe starts its script again 6 s before the
    # first view (device/drivers/sim_probe.py LEAD_IN_S): wait for that, then for the search
    page.wait_for_timeout(2000)
    page.wait_for_function("() => document.getElementById('status-banner').dataset.status === 'searching'",
                           timeout=20_000)
    # record every status the banner shows and every event the page receives
    page.evaluate("""() => {
        window.events = [];
        const b = document.getElementById('status-banner');
        window.seen = [b.dataset.status];   // 'searching': waited for above
        new MutationObserver(() => { const s = b.dataset.status; if (window.seen[window.seen.length - 1] !== s) window.seen.push(s); })
            .observe(b, {attributes: true, childList: true, subtree: true});
        new MutationObserver(() => { const li = document.querySelector('#event-log li'); if (li) window.events.push(li.dataset.kind); })
            .observe(document.getElementById('event-log'), {childList: true});
    }""")
    page.wait_for_function("() => window.events.includes('standard_view')", timeout=120_000)
    page.wait_for_function("() => window.seen.includes('standard')", timeout=10_000)
    seen = page.evaluate("window.seen")
    events = page.evaluate("window.events")
    assert "searching" in seen and "standard" in seen
    assert seen.index("searching") < len(seen) - 1 - seen[::-1].index("standard")
    assert "alarm" in events and events.index("alarm") < events.index("standard_view")
    # the hint was in the sonographer's words and the model is named beside the result
    assert page.inner_text("#model-tag").startswith("echo_view")
    page.wait_for_function("() => window.events.includes('clip_saved')", timeout=60_000)
    page.wait_for_function("() => document.querySelector('#protocol-list li.done') !== null", timeout=10_000)
    page.close()
