"""Issue 13: an administrator cannot create a physician and sign as one. A physician account an admin creates
starts inactive; the same admin's activation is refused (and audited); a second admin's activation works."""

from __future__ import annotations

from device.store import Store, audit


def test_physician_created_by_an_admin_needs_a_second_admin(login, settings):
    a = login("root", "admin", "739164")
    r = a.post("/admin/users", {"username": "drx", "display_name": "Dr X", "role": "physician", "pin": "482913",
                                "pin2": "482913"})
    assert r.status_code == 302
    s = Store.open(settings.data_dir)
    try:
        uid, active = s.conn.execute("SELECT id, active FROM users WHERE username = 'drx'").fetchone()
    finally:
        s.close()
    assert active == 0
    r = a.post(f"/admin/users/{uid}/active", {"active": "1"})
    assert r.status_code == 400 and b"another administrator must activate it" in r.data
    from tests.integration.conftest import UiClient

    ui = UiClient(a.c.application.test_client())
    ui.get("/login")
    assert ui.post("/login", {"username": "drx", "pin": "482913"}).status_code == 401    # cannot sign in yet
    b = login("root2", "admin", "246813")
    assert b.post(f"/admin/users/{uid}/active", {"active": "1"}).status_code == 302
    ui2 = UiClient(a.c.application.test_client())
    ui2.get("/login")
    assert ui2.post("/login", {"username": "drx", "pin": "482913"}).status_code == 302
    s = Store.open(settings.data_dir)
    try:
        events = [e.detail.get("event") for e in audit.recent(s.conn, 50) if e.object_type == "user"]
    finally:
        s.close()
    assert "activation refused" in events and "activated (unlocked)" in events


def test_other_roles_are_active_at_once(login, settings):
    a = login("root", "admin", "739164")
    assert a.post("/admin/users", {"username": "sono9", "display_name": "S", "role": "sonographer", "pin": "482913",
                                   "pin2": "482913"}).status_code == 302
    s = Store.open(settings.data_dir)
    try:
        assert s.conn.execute("SELECT active FROM users WHERE username = 'sono9'").fetchone()[0] == 1
    finally:
        s.close()
