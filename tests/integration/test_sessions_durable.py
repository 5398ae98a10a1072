"""Issue 13, sessions: a logout is kept in the database, so a cookie copied before the logout does not work again
after the web UI restarts (it did: the list of ended sessions lived in memory); PINs that are easy to guess (repeats,
repeated blocks, runs, dates) are refused."""

from __future__ import annotations

import pytest

from device.errors import UserError
from device.store import users
from tests.integration.conftest import UiClient


def test_logout_survives_a_web_ui_restart(settings, make_user):
    from webui import create_app

    make_user("doc", "physician", "482913")
    app1 = create_app(settings, {"SSE_MAX_S": 0.5, "STREAM_MAX_S": 0.5})
    ui = UiClient(app1.test_client())
    ui.get("/login")
    assert ui.post("/login", {"username": "doc", "pin": "482913"}).status_code == 302
    cookie = ui.c.get_cookie("cardiocart_session").value
    assert ui.get("/").status_code == 200
    assert ui.post("/logout").status_code == 302
    app2 = create_app(settings, {"SSE_MAX_S": 0.5, "STREAM_MAX_S": 0.5})   # the web UI restarted
    replay = app2.test_client()
    replay.set_cookie("cardiocart_session", cookie)
    r = replay.get("/")
    assert r.status_code == 302 and "/login" in r.location
    assert replay.get("/api/alerts").status_code == 401


def test_a_session_from_before_the_restart_still_works_until_logout(settings, make_user):
    from webui import create_app

    make_user("sono", "sonographer", "582913")
    app1 = create_app(settings, {"SSE_MAX_S": 0.5, "STREAM_MAX_S": 0.5})
    ui = UiClient(app1.test_client())
    ui.get("/login")
    ui.post("/login", {"username": "sono", "pin": "582913"})
    cookie = ui.c.get_cookie("cardiocart_session").value
    c2 = create_app(settings, {"SSE_MAX_S": 0.5, "STREAM_MAX_S": 0.5}).test_client()
    c2.set_cookie("cardiocart_session", cookie)
    assert c2.get("/").status_code == 200


@pytest.mark.parametrize("pin", ["123123", "121212", "111111", "123456", "987654", "901234", "150385", "031285",
                                 "19850315", "15031985", "12345", "\u0664\u0668\u0662\u0669\u0661\u0663"])
def test_easy_pins_are_refused(pin):
    with pytest.raises(UserError, match="PIN"):
        users.validate_pin(pin)


@pytest.mark.parametrize("pin", ["482913", "739164", "529174", "613850"])
def test_ordinary_pins_pass(pin):
    users.validate_pin(pin)
