"""The top bar fits one row on the cart's 1280x800 touchscreen for every role, in English and zh-CN (the admin's menu
used to wrap onto a second row at 1280 px), and every menu item keeps a >= 44 px touch target."""

import pytest

from tests.browser.conftest import login


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_admin_header_is_one_row_at_1280(browser, cart, lang):
    if "boss" not in getattr(cart, "_h_users", set()):
        cart.add_user("boss", "admin", "618204")
        cart._h_users = {"boss"}
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    try:
        login(page, cart, "boss", "618204")
        if page.get_attribute("body", "data-lang") != lang:
            page.click("#lang-switch")
            page.wait_for_load_state()
        assert page.get_attribute("body", "data-lang") == lang
        links = page.locator("header.top nav a")
        assert links.count() >= 5
        tops = {round(links.nth(i).bounding_box()["y"]) for i in range(links.count())}
        assert len(tops) == 1, f"menu wraps onto {len(tops)} rows: {sorted(tops)}"
        assert all(links.nth(i).bounding_box()["height"] >= 44 for i in range(links.count()))
        header = page.locator("header.top").bounding_box()
        assert header["height"] <= 72, header
        assert header["width"] <= 1280
    finally:
        page.close()
