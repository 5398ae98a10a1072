from __future__ import annotations

import shutil

import pytest

from tests.cart import Cart

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROME_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required"]


@pytest.fixture(scope="module")
def browser():
    pw_mod = pytest.importorskip("playwright.sync_api")
    if not shutil.which("chromium"):
        pytest.skip("Debian chromium is not installed (make test installs it)")
    with pw_mod.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROME_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def cart(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cart")
    c = Cart(tmp, extra_toml="[echo]\nhold_s = 0.5\n")
    c.add_user("sono", "sonographer", "482913")
    c.add_user("drli", "physician", "573920")
    c.start()
    yield c
    c.stop()


def login(page, cart, user="sono", pin="482913"):
    page.goto(cart.url + "/login")
    page.fill("#username", user)
    page.fill("#pin", pin)
    page.click("#login-submit")
    page.wait_for_url(cart.url + "/")
