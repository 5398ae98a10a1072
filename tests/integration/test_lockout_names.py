"""Issue 13: the lock-out revealed which user names exist. After `lockout_attempts` wrong PINs an existing name was
answered "locked for N min" while a name that does not exist kept getting "wrong user name or PIN", so anyone could
probe for user names. Now both get the same answer at every attempt, the lock-out included."""

from __future__ import annotations

import re

from tests.integration.conftest import UiClient

TOKEN = re.compile(rb'(name="csrf[-_]token" (content|value)=")[^"]+')


def _answers(app, username: str, n: int) -> list[tuple[int, bytes]]:
    ui = UiClient(app.test_client())
    ui.get("/login")
    out = []
    for _ in range(n):
        r = ui.post("/login", {"username": username, "pin": "999999"})
        out.append((r.status_code, TOKEN.sub(rb"\1", r.data).replace(username.encode(), b"NAME")))
    return out


def test_lockout_answers_the_same_for_known_and_unknown_names(app, make_user, settings):
    make_user("sono", "sonographer", "482913")
    n = settings.web.lockout_attempts + 2       # past the lock-out
    known, unknown = _answers(app, "sono", n), _answers(app, "nobody", n)
    assert [c for c, _ in known] == [c for c, _ in unknown]
    assert [b for _, b in known] == [b for _, b in unknown]
    assert known[-1][0] != 302                   # still refused (no sign-in with a wrong PIN)
