"""The UI shell through Flask's test client: login, roles, CSRF, lock-out, timeout, exams, i18n, audit."""

from __future__ import annotations

import re
import time

from device.store import Store, audit, clinical
from tests.integration.conftest import UiClient


def test_first_start_asks_for_an_administrator_and_has_no_default_pin(app, settings):
    c = UiClient(app.test_client())
    r = c.get("/login")
    assert r.status_code == 302 and r.location.endswith("/setup")
    c.get("/setup")
    r = c.post("/setup", {"username": "admin", "display_name": "IT", "pin": "482913", "pin2": "482914"})
    assert r.status_code == 400
    r = c.post("/setup", {"username": "admin", "display_name": "IT", "pin": "482913", "pin2": "482913"})
    assert r.status_code == 302
    # setup is closed once an administrator exists
    assert c.get("/setup").location.endswith("/login")
    s = Store.open(settings.data_dir)
    assert [(u.username, u.role) for u in __import__("device.store.users", fromlist=["x"]).list_users(s.conn)] == [
        ("admin", "admin")]
    assert (settings.data_dir / "secret_key").stat().st_mode & 0o077 == 0


def test_every_page_needs_login_except_health(app, make_user):
    make_user()
    c = app.test_client()
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.arguments or rule.endpoint == "static":
            continue
        r = c.get(rule.rule)
        if rule.endpoint in ("api.health", "auth.login", "auth.setup"):
            assert r.status_code in (200, 302), rule.rule
        else:
            assert r.status_code in (302, 401), (rule.rule, r.status_code)
            if r.status_code == 302:
                assert "/login" in r.location


def test_every_state_changing_route_needs_csrf(login, app):
    ui = login()
    for rule in app.url_map.iter_rules():
        if "POST" not in rule.methods:
            continue
        url = rule.rule
        for arg in rule.arguments:
            url = url.replace(f"<int:{arg}>", "1").replace(f"<{arg}>", "en")
        r = ui.c.post(url, data={"x": "1"})
        assert r.status_code == 400, (url, r.status_code)
        r = ui.c.post(url, data={"x": "1", "csrf_token": "forged"})
        assert r.status_code == 400, url


def test_lockout_after_wrong_pins(app, make_user):
    make_user("sono", "sonographer", "482913")
    ui = UiClient(app.test_client())
    ui.get("/login")
    codes = [ui.post("/login", {"username": "sono", "pin": "999999"}) for _ in range(3)]
    assert [r.status_code for r in codes] == [401, 401, 401]
    assert b"locked" in codes[-1].data
    r = ui.post("/login", {"username": "sono", "pin": "482913"})
    assert r.status_code == 401 and b"locked" in r.data


def test_login_page_does_not_tell_which_user_names_exist(app, make_user):
    make_user("sono", "sonographer", "482913")
    ui = UiClient(app.test_client())
    ui.get("/login")
    strip = re.compile(rb'(name="csrf[-_]token" (content|value)=")[^"]+')
    wrong_pin = ui.post("/login", {"username": "sono", "pin": "999999"})
    unknown = ui.post("/login", {"username": "nobody", "pin": "999999"})
    assert wrong_pin.status_code == unknown.status_code == 401
    assert strip.sub(rb"\1", wrong_pin.data) == strip.sub(rb"\1", unknown.data)


def test_session_cookie_flags_and_idle_timeout(login, app):
    ui = login()
    r = ui.get("/")
    assert r.status_code == 200
    cookie = ui.c.get_cookie("cardiocart_session")
    assert cookie.http_only and cookie.same_site == "Strict"
    app.config["SESSION_IDLE_S"] = 0.2
    time.sleep(0.3)
    r = ui.get("/")
    assert r.status_code == 302 and "/login" in r.location


def test_create_exam_with_scanned_patient_id_and_audit(login, settings):
    ui = login("sono", "sonographer")
    ui.get("/exams/new")
    r = ui.post("/exams/new", {"patient_id": " H0012345\r\n", "name": "Wang Fang", "sex": "F", "kind": "ecg"})
    assert r.status_code == 302
    s = Store.open(settings.data_dir)
    [exam] = clinical.list_exams(s.conn)
    assert exam.patient.patient_id == "H0012345" and exam.kind == "ecg"
    r = ui.get(f"/exams/{exam.id}")
    assert r.status_code == 200 and b"H0012345" in r.data
    actions = [(e.action, e.object_type) for e in audit.recent(s.conn)]
    assert ("create", "exam") in actions and ("view", "exam") in actions and ("login", "session") in actions
    r = ui.post("/exams/new", {"patient_id": "<bad id>", "kind": "echo"})
    assert r.status_code == 400 and b"patient ID" in r.data


def test_roles(login):
    ui = login("sono", "sonographer")
    assert ui.get("/admin/users").status_code == 403
    assert ui.get("/admin/audit").status_code == 403


def test_language_switch_to_chinese(login):
    ui = login()
    r = ui.post("/lang/zh-CN", {"next": "/"})
    assert r.status_code == 302
    r = ui.get("/")
    assert "检查".encode() in r.data and "未经医生审核".encode() in r.data


def test_api_errors_are_json_without_traceback(login):
    ui = login()
    r = ui.get("/api/nothing-here")
    assert r.status_code == 404 and r.is_json and "error" in r.json
    r = ui.get("/exams/999")
    assert r.status_code in (400, 404) and b"Traceback" not in r.data


def test_event_stream_delivers_stored_events(login, settings):
    ui = login()
    s = Store.open(settings.data_dir)
    from device.store.db import Tx
    with Tx(s.conn):
        clinical.add_event(s.conn, "standard_view", {"view": "A4C", "text": "A4C standard view"})
    r = ui.c.get("/api/events?after=0")
    body = r.get_data(as_text=True)
    assert "event: standard_view" in body and '"view": "A4C"' in body and "event: state" in body
