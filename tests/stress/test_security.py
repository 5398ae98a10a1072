"""Security checks on the real Flask app and CLI (issue 8 item 4), each enumerating what it covers from the app
itself (``app.url_map``) so that a new route is covered, or fails here until it is classified in
``tests/stress/secworld.py`` (REQUESTS, POLICY).

Short version in ``make test``, full under ``make stress`` (more brute-force guesses, every expensive request
repeated for every role, pip-audit of the installed environment too).  Figures: ``security`` section.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import threading
import time
import tomllib
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tests.stress.figures import ROOT, stress_mode
from tests.stress.secworld import (
    BY_ROLE,
    OTHER_ID,
    PATIENT_ID,
    PATIENT_NAME,
    POLICY,
    PUBLIC,
    ROLES,
    USERS,
    Cart,
    Req,
    shared_world,
    csrf_message,
    png_bytes,
    requests_for,
    wait_usb,
)

ALLOWLIST = Path(__file__).with_name("security_allowlist.toml")
STATE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


@pytest.fixture(scope="session")
def world(tmp_path_factory) -> Path:
    return shared_world(tmp_path_factory)


@pytest.fixture()
def make_cart(world, tmp_path):
    n = {"i": 0}

    def make(**sections) -> Cart:
        n["i"] += 1
        d = tmp_path / f"cart{n['i']}"
        d.mkdir()
        return Cart.copy_of(world, d, **sections)
    return make


@pytest.fixture()
def no_jobs():
    """Heavy work (ECG reads, perfusion analyses, USB bundles) is queued as durable jobs that only the worker role
    runs: here nothing runs them, so the guards, not the pipelines, are under test."""
    return []


def _no_patient_data(body: bytes) -> bool:
    return PATIENT_ID.encode() not in body and PATIENT_NAME.encode() not in body and OTHER_ID.encode() not in body


def _to_login(r) -> bool:
    return r.status_code == 302 and "/login" in (r.location or "")


# ---------------------------------------------------------------- 0. the tables cover the app

def test_every_route_is_classified(world, make_cart, figures):
    cart = make_cart()
    rules = {(r.endpoint, m) for r in cart.app.url_map.iter_rules() for m in r.methods - {"HEAD", "OPTIONS"}}
    covered = {(q.endpoint, q.method) for q in requests_for(cart.ids)}
    missing = sorted(rules - covered)
    assert not missing, f"routes without a request in tests/stress/secworld.py requests_for(): {missing}"
    unknown = sorted({e for e, _ in rules} - set(POLICY))
    assert not unknown, f"routes without roles in tests/stress/secworld.py POLICY: {unknown}"
    stale = sorted(covered - rules)
    assert not stale, f"requests for routes the app no longer has: {stale}"
    figures.row("security", check="routes enumerated from app.url_map (classified with roles and a request)",
                items_checked=len(rules), passed=len(rules) - len(missing), findings=0, fixed=0, explained=0)


# ---------------------------------------------------------------- 1. login on every route but the health check

def test_anonymous_gets_login_or_401_never_data(world, make_cart, figures, no_jobs):
    cart = make_cart()
    reqs = requests_for(cart.ids)
    checked = 0
    anon = cart.client()           # no login
    anon.get("/login")             # an anonymous session with a valid CSRF token: only the login stops it
    for q in reqs:
        for tok in ("session", None):
            if q.method == "GET" and tok is None:
                continue
            before, mark = cart.snapshot(), cart.audit_mark()
            r = q.send(anon, token=tok)
            body = r.get_data()
            checked += 1
            where = (q.endpoint, q.method, q.url, tok, r.status_code)
            assert r.status_code < 500, where
            assert _no_patient_data(body), where
            if q.endpoint in PUBLIC:
                if q.endpoint == "auth.setup":       # closed once a user exists
                    assert _to_login(r) or r.status_code == 400, where
                if q.endpoint == "api.health":
                    assert r.status_code == 200 and r.get_json() == {"status": "ok"}, where
                continue
            if tok is None:
                assert r.status_code == 400, where    # the CSRF check comes first
            else:
                assert _to_login(r) or r.status_code == 401, where
            assert cart.snapshot() == before, where
            assert cart.audit_since(mark) == [], where
    # /setup cannot add a user once one exists, whatever is posted
    assert not cart.query("SELECT 1 FROM users WHERE username = 'intruder'")
    # path variants do not slip past the guard
    variants = [f"/exams/{cart.ids['echo']}/", f"//exams/{cart.ids['echo']}", "/static/../exams/1",
                "/api/health/../../exams/1", "/api/health/..%2f..%2fexams/1", "/EXAMS/1", "/exams/1%00",
                "/admin/audit?x=/api/health", "/api/alerts/", "/api/health;/exams/1"]
    for url in variants:
        r = anon.c.get(url)
        checked += 1
        assert r.status_code in (302, 308, 401, 404) and _no_patient_data(r.get_data()), (url, r.status_code)
        if r.status_code in (302, 308) and "/login" not in (r.location or ""):
            r2 = anon.c.get(r.location)      # a canonical redirect must land on the login too
            assert _to_login(r2) or r2.status_code in (401, 404), (url, r.location, r2.status_code)
    figures.row("security", check="anonymous request to every route: login or 401, never data (+ path variants)",
                items_checked=checked, passed=checked, findings=0, fixed=0, explained=0)


def test_setup_is_closed_once_a_user_exists_and_remote_first_run_is_refused(tmp_path, figures):
    from webui import create_app

    cart = Cart(tmp_path)                      # an empty cart: no users yet
    app = create_app(cart.settings)
    remote = app.test_client()
    remote.environ_base["REMOTE_ADDR"] = "10.1.2.3"
    r = remote.get("/setup", headers={"X-Forwarded-For": "127.0.0.1", "X-Real-IP": "127.0.0.1"})
    assert r.status_code == 403
    tok = re.search(rb'name="csrf-token" content="([^"]+)"', r.data)
    if tok is None:
        remote.get("/login")
    r = remote.post("/setup", data={"username": "evil", "display_name": "E", "pin": "739164", "pin2": "739164",
                                    "csrf_token": tok.group(1).decode() if tok else ""})
    assert r.status_code in (400, 403)
    assert cart.query("SELECT count(*) FROM users")[0][0] == 0
    local = cart.client()
    local.get("/setup")
    r = local.post("/setup", {"username": "admin", "display_name": "IT", "pin": "739164", "pin2": "739164"})
    assert r.status_code == 302
    r = local.post("/setup", {"username": "second", "display_name": "X", "pin": "739164", "pin2": "739164"})
    assert _to_login(r) or r.status_code == 400
    assert [x[0] for x in cart.query("SELECT username FROM users")] == ["admin"]
    figures.row("security", check="/setup: remote first run refused, closed once a user exists",
                items_checked=4, passed=4, findings=0, fixed=0, explained=0)


# ---------------------------------------------------------------- 2. CSRF on every state-changing request

def _role_for(endpoint: str) -> str | None:
    allowed = POLICY[endpoint]
    if allowed is None:
        return None
    return "physician" if "physician" in allowed else allowed[0]


def test_csrf_on_every_state_changing_request(world, make_cart, budget, figures, no_jobs):
    cart = make_cart(sync={"target": "dicomweb", "dicomweb_url": "http://127.0.0.1:9/dicom-web"})
    full = stress_mode() == "full"
    clients: dict[str | None, object] = {}

    def client(role):
        if role not in clients:
            clients[role] = cart.client(BY_ROLE[role] if role else None)
            if role is None:
                clients[role].get("/login")
        return clients[role]

    other = cart.client("sono")     # a valid token of someone else's session
    msg = csrf_message(cart.app)
    reqs = [q for q in requests_for(cart.ids) if q.method in STATE_METHODS]
    late = ("admin.set_active", "exams.close", "auth.logout")
    reqs.sort(key=lambda q: late.index(q.endpoint) + 1 if q.endpoint in late else 0)
    checked = positives = rotate = 0
    for q in reqs:
        ui = client(_role_for(q.endpoint))
        near = ui.token[:-1] + ("B" if ui.token.endswith("A") else "A")     # one character off
        forged = [None, "forged", secrets.token_urlsafe(32), other.token, near, ""]
        if not full:
            forged = forged[rotate % 3::3] + [other.token]      # short run: 3 of the 6 per request, in turn
            rotate += 1
        for tok in forged:
            before, mark = cart.snapshot(), cart.audit_mark()
            r = q.send(ui, token=tok)
            checked += 1
            assert r.status_code == 400 and msg in r.get_data(), (q.endpoint, q.url, tok, r.status_code)
            assert cart.snapshot() == before and cart.audit_since(mark) == [], (q.endpoint, tok)
        # the token in the query string instead of the form does not count
        before = cart.snapshot()
        r = Req(q.endpoint, q.method, f"{q.url}?csrf_token={ui.token}", q.data, q.json).send(ui, token=None)
        checked += 1
        assert r.status_code == 400 and cart.snapshot() == before, (q.endpoint, "query string")
        # the positive control: with the session's token the same request gets past the CSRF check
        if q.expensive and not full:
            continue
        r = q.send(ui)
        positives += 1
        assert not (r.status_code == 400 and msg in r.get_data()), (q.endpoint, "refused with a valid token")
    # methods the app does not route are refused without effect
    before = cart.snapshot()
    for rule in cart.app.url_map.iter_rules():
        url = next((q.url for q in requests_for(cart.ids) if q.endpoint == rule.endpoint), None)
        for m in ("PUT", "PATCH", "DELETE"):
            if url is None or m in rule.methods:
                continue
            r = client("physician").c.open(url, method=m)
            checked += 1
            assert r.status_code in (400, 405), (url, m, r.status_code)
    assert cart.snapshot() == before
    figures.row("security", check="CSRF: every POST without, with a wrong, another session's or a query-string token",
                items_checked=checked, passed=checked, findings=0, fixed=0, explained=0)
    figures.note("security", f"CSRF positive control: {positives} state-changing requests accepted with the "
                 "session's token, so the refusals above are the CSRF check and not a bad payload.")


# ---------------------------------------------------------------- 3. lock-out and roles

def test_lockout_holds_across_cookie_jars_and_is_audited(world, make_cart, budget, figures):
    """Issue 13 policy: 3 wrong PINs lock the (name, address) pair for a short, doubling backoff across cookie jars;
    the user's own workstation (an address they signed in from) is not locked out by someone guessing elsewhere;
    over all addresses a name gets at most NAME_LIMIT PIN checks; an unknown name answers exactly like a real one;
    an admin re-activating the user unlocks it, audited."""
    from device.store.users import NAME_LIMIT

    cart = make_cart()                          # lockout_attempts = 3
    uid = cart.user_id("sono")
    pin = USERS["sono"][1]
    cart.client("sono")                         # sono's workstation (127.0.0.1) has signed in before
    mark = cart.audit_mark()
    guesser = "10.0.0.66"

    def attempt(p: str, who: str = "sono", remote: str | None = guesser):
        ui = cart.client(remote=remote)          # a new cookie jar each time
        ui.get("/login")
        return ui, ui.post("/login", {"username": who, "pin": p})

    codes = [attempt("111111")[1].status_code, attempt("222222")[1].status_code]
    _, third = attempt("333333", who=" sono ")
    assert codes == [401, 401] and third.status_code == 401
    ui, r = attempt(pin)                      # the right PIN from a fresh jar at the guessing address: still locked
    assert r.status_code == 401 and b"Traceback" not in r.data
    assert _to_login(ui.get("/"))
    ghost = [attempt(p, who="nobody")[1] for p in ("111111", "222222", "333333", pin)]   # no such user
    assert [x.status_code for x in ghost] == [401] * 4
    assert ghost[2].data.count(b"locked") == third.data.count(b"locked")   # the page says the same thing
    ui, r = attempt(pin, remote="127.0.0.1")  # the owner's workstation is not locked out by the guesser
    assert r.status_code == 302 and ui.get("/").status_code == 200
    # brute force from many jars and addresses: the name gets at most NAME_LIMIT PIN checks in all
    n = budget(short=12, full=120)
    rng = np.random.default_rng(8)
    for i in range(n):
        ui, r = attempt(f"{rng.integers(100000, 999999)}", who=("sono", "sono ", " sono")[i % 3],
                        remote=f"10.9.{i // 250}.{i % 250 + 1}")
        assert r.status_code == 401
        assert _to_login(ui.get("/"))
    checks = cart.query("SELECT count(*) FROM login_failures WHERE username = 'sono'")[0][0]
    assert checks <= NAME_LIMIT, checks
    rows = [x for x in cart.audit_since(mark) if x["action"] == "login_failed" and x["username"].strip() == "sono"]
    reasons = [x["detail"].get("reason") for x in rows]
    assert reasons[:4] == ["wrong_pin", "wrong_pin", "locked", "locked"], reasons[:5]
    assert reasons[-1] == "locked" and all(x["detail"].get("address") for x in rows)
    nobody = [x["detail"].get("reason") for x in cart.audit_since(mark) if x["username"] == "nobody"]
    assert nobody == reasons[:4]                                   # an unknown name answers the same way
    # the owner still gets in from their workstation while the name is locked elsewhere; an admin unlocks it
    ui, r = attempt(pin, remote="127.0.0.1")
    assert r.status_code == 302
    ui, r = attempt(pin)
    assert r.status_code == 401
    adm = cart.client("adm")
    adm.post(f"/admin/users/{uid}/active", {"active": "1"})
    assert any(x["action"] == "admin" and "unlocked" in str(x["detail"]) for x in cart.audit_since(mark))
    ui, r = attempt(pin)
    assert r.status_code == 302 and ui.get("/").status_code == 200
    checked = 4 + 4 + n + 4
    figures.row("security", check="lock-out: 3 wrong PINs per name and address (short backoff), 10 per name over all addresses except the user's own, unknown names alike, admin unlock, audited",
                items_checked=checked, passed=checked, findings=0, fixed=0, explained=0)


def test_roles_on_every_protected_route(world, make_cart, budget, figures, no_jobs):
    cart = make_cart(sync={"target": "dicomweb", "dicomweb_url": "http://127.0.0.1:9/dicom-web"})
    full = stress_mode() == "full"
    clients = {role: cart.client(BY_ROLE[role]) for role in ROLES}
    reqs = [q for q in requests_for(cart.ids) if q.endpoint not in PUBLIC]
    checked = 0
    # refusals first (they change nothing), then the allowed calls (they may close exams, sign, deactivate)
    for q in reqs:
        for role in ROLES:
            if role in POLICY[q.endpoint]:
                continue
            before, mark = cart.snapshot(), cart.audit_mark()
            r = q.send(clients[role])
            checked += 1
            assert r.status_code == 403, (q.endpoint, q.method, role, r.status_code)
            assert cart.snapshot() == before and cart.audit_since(mark) == [], (q.endpoint, role)
    late = ("exams.close", "reports.sign", "reports.correct", "auth.logout", "admin.set_active")
    for q in sorted(reqs, key=lambda q: late.index(q.endpoint) + 1 if q.endpoint in late else 0):
        allowed = POLICY[q.endpoint]
        for role in allowed:
            if not full and (q.expensive or role != ("physician" if "physician" in allowed else allowed[0])):
                continue        # short run: one allowed role per route, pipelines left to make stress
            r = q.send(clients[role])
            if _to_login(r) or (r.status_code == 400 and b"csrf" in r.get_data().lower()):
                clients[role] = cart.client(BY_ROLE[role])   # logged out by an earlier allowed request
                r = q.send(clients[role])
            checked += 1
            assert r.status_code != 403, (q.endpoint, q.method, role)
            if q.endpoint == "auth.logout":
                clients[role] = cart.client(BY_ROLE[role])
    assert POLICY["reports.sign"] == ("physician", ), "only a physician signs"
    figures.row("security", check="roles: every route x every role (403 and nothing stored when not allowed)",
                items_checked=checked, passed=checked, findings=0, fixed=0, explained=0)


# ---------------------------------------------------------------- 4. path traversal

def _tree(root: Path) -> dict[str, str]:
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            p = Path(dirpath) / f
            try:
                out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
            except OSError:
                out[str(p.relative_to(root))] = "?"
    return out


def _new_files_outside(before: dict[str, str], after: dict[str, str], allowed: tuple[str, ...]) -> list[str]:
    return sorted(k for k, v in after.items() if before.get(k) != v and not k.startswith(allowed))


BLOB_OR_DB = ("var/blobs/", "var/cardiocart.db", "var/run/", "var/secret_key")
EVIL_NAMES = ["../../evil1.png", "/tmp/evil2.png", "..\\..\\evil3.png", "evil4\x00.png", "C:\\evil5.png",
              "%2e%2e%2fevil6.png", "....//....//evil7.png", "~/evil8.png", "\u2025/evil9.png", ""]


def test_upload_file_names_cannot_choose_a_path(world, make_cart, figures, monkeypatch, tmp_path):
    import tempfile

    cart = make_cart()
    doc = cart.client("doc")
    db_name = cart.settings.db_path.name
    allowed = tuple(x.replace("cardiocart.db", db_name) for x in BLOB_OR_DB)
    tmp_before = set(os.listdir(tempfile.gettempdir()))
    scope = cart.root.parent
    before = _tree(scope)
    checked = 0
    g, p = cart.ids["ecg"], cart.ids["perf"]
    for name in EVIL_NAMES:
        r = doc.post(f"/exams/{g}/ecg/upload", {"photo": (io.BytesIO(png_bytes(seed=len(name))), name)})
        checked += 1
        assert r.status_code < 500, (name, r.status_code)
    for row in cart.query("SELECT meta FROM captures WHERE kind = 'photo'"):
        fn = json.loads(row["meta"]).get("filename", "")
        assert "/" not in fn and fn not in ("..", "."), fn     # a label, never used as a path
    # perfusion: names inside the stored zip and a zip-slip archive are not paths either
    npy = io.BytesIO()
    np.save(npy, np.zeros((6, 12, 12), np.float32))
    slip = io.BytesIO()
    with zipfile.ZipFile(slip, "w") as zf:
        for arc in ("../../evil_zip1.dcm", "/tmp/evil_zip2.dcm", "a/../../../evil_zip3.dcm", "..\\evil_zip4.dcm"):
            zf.writestr(arc, b"DICM" * 40)
    uploads = [{"stress": (io.BytesIO(npy.getvalue()), "../../evil_p1.npy"), "voxel_mm": "3"},
               {"stress": [(io.BytesIO(b"x" * 300), "../../evil_p2.dcm"), (io.BytesIO(b"y" * 300), "/tmp/evil_p3.dcm")]},
               {"stress": (io.BytesIO(slip.getvalue()), "../evil_slip.zip")}]
    from tests.stress.secworld import wait_perfusion
    for form in uploads:
        r = doc.post(f"/exams/{p}/perfusion/upload", form)
        checked += 1
        assert r.status_code in (302, 400), r.status_code
        wait_perfusion(doc, p, r.location)              # the real analysis unpacks the archive in a work folder
    from device.usecases.perfusion_volumes import load_capture
    from device.store import Store, clinical
    s = Store.open(cart.settings.data_dir)
    try:
        for cap in clinical.list_captures(s.conn, p):
            if cap.meta.get("format") == "zip":
                work = tmp_path / "work" / f"w{cap.id}"
                work.mkdir(parents=True)
                try:
                    load_capture(s.blobs, cap, work)
                except Exception:  # noqa: BLE001 - garbage slices: only where files went matters here
                    pass
                written = [str(x.relative_to(work)) for x in work.rglob("*") if x.is_file()]
                assert all(re.fullmatch(rf"cap{cap.id}/\d{{5}}\.dcm", w) for w in written), written
                for n in cap.meta.get("filenames", []):
                    assert "/" not in n, n
                checked += 1
    finally:
        s.close()
    after = _tree(scope)
    outside = _new_files_outside(before, after, tuple(str(cart.root.relative_to(scope) / a) for a in allowed)
                                 + ("work/",))
    assert outside == [], outside
    assert not [k for k in after if "evil" in Path(k).name], "an uploaded name became a file name"
    tmp_new = [n for n in set(os.listdir(tempfile.gettempdir())) - tmp_before if "evil" in n]
    assert tmp_new == [], tmp_new
    figures.row("security", check="upload names (../, absolute, NUL, backslash, zip-slip) choose no path",
                items_checked=checked, passed=checked, findings=0, fixed=0, explained=0)


def test_blobs_served_only_by_their_sha256_and_only_to_their_exam(world, make_cart, figures):
    cart = make_cart()
    ui = cart.client("doc")
    ids = cart.ids
    g = ids["ecg"]
    own = ids["photo_sha"]
    r = ui.get(f"/exams/{g}/ecg/blob/{own}")
    assert r.status_code == 200 and hashlib.sha256(r.data).hexdigest() == own
    secret = (cart.settings.data_dir / "secret_key").read_bytes()
    probes = [ids["other_photo_sha"], own.upper(), own[:-1], own + "0", "../secret_key", "..%2fsecret_key",
              "%2e%2e%2f%2e%2e%2fcardiocart.toml", hashlib.sha256(secret).hexdigest(),
              hashlib.sha256(cart.settings.db_path.read_bytes()).hexdigest(), "g" * 64, "0" * 64,
              f"{own[:2]}%2f{own}", "..", "."]
    for sha in probes:
        r = ui.c.get(f"/exams/{g}/ecg/blob/{sha}")
        assert r.status_code == 404, (sha, r.status_code)
        assert secret not in r.data
    # the other patient's photo through this exam, and this exam's photo through the other exam
    assert ui.get(f"/exams/{ids['other_ecg']}/ecg/blob/{own}").status_code == 404
    # echo frames: only this exam's clips, only frames that exist
    e = ids["echo"]
    assert ui.get(f"/exams/{e}/echo/clip/{ids['clip']}/frame/0.png").status_code == 200
    for url in (f"/exams/{e}/echo/clip/{ids['other_clip']}/frame/0.png",
                f"/exams/{ids['other_echo']}/echo/clip/{ids['clip']}/frame/0.png",
                f"/exams/{e}/echo/clip/{ids['clip']}/frame/-1.png", f"/exams/{e}/echo/clip/{ids['clip']}/frame/99999.png",
                f"/exams/{e}/echo/clip/{ids['key_frame']}/frame/0.png"):
        r = ui.c.get(url)
        assert r.status_code == 404, (url, r.status_code)
    # blob paths are made from validated digests only
    from device.store.blobs import BlobStore
    bs = BlobStore(cart.settings.blob_dir)
    for bad in ("../" * 10 + "etc/passwd", "a" * 63, "A" * 64, "/" + "a" * 63, "a" * 62 + "/.", "\x00" * 64):
        with pytest.raises(ValueError):
            bs.path_for(bad)
    n = len(probes) + 6 + 6 + 2
    figures.row("security", check="blobs: served only by sha256 of this exam's captures (14 forged names)",
                items_checked=n, passed=n, findings=0, fixed=0, explained=0)


def test_exports_and_usb_write_only_to_the_chosen_target(world, make_cart, figures, tmp_path):
    cart = make_cart()
    adm, doc = cart.client("adm"), cart.client("doc")
    e = cart.ids["echo"]
    secret = (cart.settings.data_dir / "secret_key").read_bytes()
    checked = 0
    for fmt in ("../../secret_key", "..%2f..%2fsecret_key", "signal-../../x.csv", "signal-%2e%2e%2fsecret_key.csv",
                "measurements.csv%2f..%2f..%2fsecret_key", "signal-.csv", "signal-*.json", "%00measurements.csv",
                "dicom.zip/..", "fhir.json%00.txt"):
        r = doc.c.get(f"/exams/{e}/export/{fmt}")
        checked += 1
        assert r.status_code in (400, 404), (fmt, r.status_code)
        assert secret not in r.data
    # USB: only mounted removable drives under [usb] mount_roots; bundle names are plain names on that drive
    scope = cart.root
    before = _tree(scope)
    mark = cart.audit_mark()
    for drive in ("/dev/sda2", "/dev/sdc1", "../../dev/sdb1", "/dev/sdb1/../sda2", ""):
        r = adm.post("/usb/export", {"drive": drive, "exam_ids": [str(e)]})
        checked += 1
        assert r.status_code == 302 and "job=" not in (r.location or ""), drive
    for bundle in ("../../var/secret_key.zip", "/etc/passwd", "..", "a/../../x.zip", "x.zip/../../../y.zip",
                   ".zip", "STICK/../../x.zip"):
        r = adm.post("/usb/verify", {"drive": "/dev/sdb1", "bundle": bundle})
        checked += 1
        assert r.status_code == 302 and "job=" not in (r.location or ""), bundle
    assert [x for x in cart.audit_since(mark) if x["action"] == "export"] == []
    assert _tree(scope) == before, "a refused USB request wrote something"
    # a real bundle lands on the stick and nowhere else (make stress; the audit test writes one in make test)
    if stress_mode() == "full":
        r = adm.post("/usb/export", {"drive": "/dev/sdb1", "exam_ids": [str(e)]})
        job = wait_usb(adm, r.location)
        checked += 1
        assert job["state"] == "done", job
        after = _tree(scope)
        changed = _new_files_outside(before, after, ("var/",))
        assert changed and all(re.fullmatch(r"fakeroot/media/STICK/cardiocart_[0-9_]+\.zip", k) for k in changed), \
            changed
    # CLI: --name cannot leave --to; DICOM file names come from UIDs, not from the report's text
    from device.__main__ import main
    out = tmp_path / "out"
    rep = tmp_path / "r.json"
    assert main(["export", "sample", str(rep)]) == 0
    doc_json = json.loads(rep.read_text())
    doc_json["exam"]["accession"] = "../../evil_acc"
    doc_json["exam"]["study_uid"] = "../../../evil_uid"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc_json))
    os.environ["CARDIOCART_EXPORT_PASSPHRASE"] = "correct horse battery staple"
    try:
        before = _tree(tmp_path)
        names = ["../evil_bundle", "/tmp/evil_bundle", "a/b", "..", "x\x00y", "nul\\evil"]
        for name in names if stress_mode() == "full" else names[:2]:
            rc = main(["export", "bundle", str(bad), "--to", str(out), "--name", name])
            checked += 1
            assert rc == 2 or (rc == 0 and all(Path(k).parent == Path("out") for k in
                                               set(_tree(tmp_path)) - set(before))), (name, rc)
        rc = main(["export", "render", str(bad), "--dicom", str(out / "dicom")])
        checked += 1
        assert rc in (0, 2)
        new = set(_tree(tmp_path)) - set(before)
        assert all(k.startswith("out/") and "evil" not in k for k in new), sorted(new)
    finally:
        os.environ.pop("CARDIOCART_EXPORT_PASSPHRASE", None)
    figures.row("security", check="exports and USB: forged formats, drives and bundle names; CLI --name/--dicom",
                items_checked=checked, passed=checked, findings=0, fixed=0, explained=0)


def test_regression_usb_stick_links_cannot_redirect_the_export(world, make_cart, figures, tmp_path):
    """Defect found: a USB stick holding a symbolic link named like the bundle's temp file
    (``.cardiocart_<time>.zip.part`` -> the cart's database) made the export write the bundle through the link,
    outside the drive; a link named ``*.zip`` made "check bundle" read a file outside the drive. Fixed: the temp file
    is opened with O_EXCL|O_NOFOLLOW after removing any stale one (device/sync/bundle.py), and linked bundles are
    neither listed nor checked (webui/views/reports.py)."""
    from device.sync.bundle import BundleFile, verify_bundle, write_bundle
    from tests.stress.secworld import PASSPHRASE

    victim = tmp_path / "victim.bin"
    victim.write_bytes(b"precious patient database")
    stick = tmp_path / "stick"
    stick.mkdir()
    (stick / ".evil.zip.part").symlink_to(victim)
    res = write_bundle([BundleFile("a/report.json", b"{}")], stick, "evil", PASSPHRASE)
    assert victim.read_bytes() == b"precious patient database"
    assert not res.path.is_symlink() and verify_bundle(res.path, PASSPHRASE)["files"]
    checked = 1
    # through the UI: links for every name the next seconds could give, and a linked "bundle"
    cart = make_cart()
    db_before = cart.settings.db_path.read_bytes()[:4096]
    drive = cart.usb_root / "media" / "STICK"
    t0 = time.time()
    for k in range(-2, 30):
        name = time.strftime(".cardiocart_%Y%m%d_%H%M%S.zip.part", time.localtime(t0 + k))
        (drive / name).symlink_to(victim)
    (drive / "linked.zip").symlink_to(cart.settings.db_path)
    adm = cart.client("adm")
    assert b"linked.zip" not in adm.get("/usb").data
    r = adm.post("/usb/verify", {"drive": "/dev/sdb1", "bundle": "linked.zip"})
    assert r.status_code == 302 and "job=" not in (r.location or "")
    r = adm.post("/usb/export", {"drive": "/dev/sdb1", "exam_ids": [str(cart.ids["echo"])]})
    job = wait_usb(adm, r.location)
    checked += 3
    assert job["state"] == "done", job
    assert victim.read_bytes() == b"precious patient database"
    assert cart.settings.db_path.read_bytes()[:4096][:16] == db_before[:16]
    written = [p for p in drive.iterdir() if p.suffix == ".zip" and not p.is_symlink()]
    assert len(written) == 1 and verify_bundle(written[0], PASSPHRASE)["files"]
    figures.row("security", check="USB stick links cannot redirect the bundle write or the bundle check",
                items_checked=checked, passed=checked, findings=2, fixed=2, explained=0)
    figures.note("security", "Fixed: a USB stick holding a symbolic link named like the bundle's temp file made the "
                 "export write through it, outside the drive (e.g. over the cart's database), and a linked *.zip "
                 "made the bundle check read a file outside the drive. The temp file is now opened O_EXCL|O_NOFOLLOW "
                 "and linked bundles are ignored; regression test "
                 "test_security.py::test_regression_usb_stick_links_cannot_redirect_the_export.")


# ---------------------------------------------------------------- 5. session cookie, rotation, timeout, headers

def _set_cookies(r) -> list[str]:
    return r.headers.getlist("Set-Cookie")


def test_session_cookie_flags_rotation_and_idle_timeout(world, make_cart, figures):
    cart = make_cart()
    checked = 0
    ui = cart.client()
    r = ui.get("/login")
    seen = list(_set_cookies(r))
    pre_cookie = ui.c.get_cookie("cardiocart_session").value
    pre_token = ui.token
    r = ui.post("/login", {"username": "doc", "pin": USERS["doc"][1]})
    seen += _set_cookies(r)
    post_cookie = ui.c.get_cookie("cardiocart_session").value
    for url in ("/", f"/exams/{cart.ids['echo']}", "/sync"):
        seen += _set_cookies(ui.get(url))
    seen += _set_cookies(ui.post("/lang/en", {"next": "/"}))
    assert seen
    for h in seen:
        attrs = {a.strip().split("=")[0].lower(): a.strip() for a in h.split(";")[1:]}
        checked += 1
        assert "httponly" in attrs, h
        assert attrs.get("samesite", "").lower() in ("samesite=strict", "samesite=lax"), h
        assert "domain" not in attrs, h
    # the session changes at login: the pre-login cookie and token are worth nothing afterwards
    assert post_cookie != pre_cookie
    r = ui.c.post("/exams/new", data={"patient_id": "H0055555", "kind": "ecg", "csrf_token": pre_token})
    assert r.status_code == 400
    fix = cart.client()
    fix.c.set_cookie("cardiocart_session", pre_cookie)     # an attacker who planted the pre-login cookie
    assert _to_login(fix.get("/"))
    checked += 3
    # TLS: the [web] section has no TLS option (the UI serves http on 127.0.0.1 by default)
    from device.config import Web
    tls_keys = [k for k in Web.model_fields if any(w in k for w in ("tls", "ssl", "cert", "https", "secure"))]
    if tls_keys:   # issue 13: [web] tls_cert/tls_key; https, Secure cookies and HSTS: tests/integration/test_tls.py
        assert cart.app.config.get("SESSION_COOKIE_SECURE") == bool(cart.settings.web.tls_cert), tls_keys
        figures.note("security", "Secure cookie flag: set when [web] tls_cert/tls_key are configured (the UI then "
                     "serves https only and sends HSTS; tests/integration/test_tls.py); the default UI on 127.0.0.1 "
                     "serves plain http without it.")
    else:
        figures.note("security", "Secure cookie flag: the [web] settings have no TLS option (the UI serves plain "
                     "http, bound to 127.0.0.1 by default), so the session cookie is not marked Secure. A site that "
                     "opens the UI to the ward network sends PINs and patient data in clear; a TLS proxy in front "
                     "must not run on the cart itself, or every client would look local to the download and "
                     "first-run checks (they use the socket's address; forwarded-for headers are ignored).")
    # idle timeout: a person's actions keep the session, silence ends it (pages -> login, API -> 401); a page
    # polling on its own (the live ECG page asks every 300 ms) does not keep it open (issue 13)
    cart.app.config["SESSION_IDLE_S"] = 0.6
    ui = cart.client("doc")
    for _ in range(5):
        time.sleep(0.2)
        assert ui.get("/").status_code == 200
    polls = []
    for _ in range(4):
        time.sleep(0.25)
        polls.append(ui.c.get("/api/alerts", headers={"Accept": "application/json"}).status_code)
    assert polls[:2] == [200, 200] and polls[-1] == 401, polls
    checked += 4
    ui2 = cart.client("doc")
    time.sleep(0.8)
    assert _to_login(ui2.get("/"))
    checked += 7
    # a deactivated user's open session ends at its next request
    sono, adm = cart.client("sono"), cart.client("adm")
    assert sono.get("/").status_code == 200
    adm.post(f"/admin/users/{cart.user_id('sono')}/active", {"active": "0"})
    assert _to_login(sono.get("/"))
    checked += 1
    assert cart.app.permanent_session_lifetime.total_seconds() == cart.settings.web.session_timeout_min * 60
    figures.row("security", check="session cookie HttpOnly+SameSite on every Set-Cookie, new at login, ends at "
                "logout and when idle", items_checked=checked, passed=checked, findings=0, fixed=0, explained=0)


def test_regression_logout_ends_the_session_cookie(world, make_cart, figures):
    """Defect found: the session lived only in the signed cookie, so a copy of it taken before logout kept working
    after logout (until the idle timeout). Fixed in webui/security.py: each login gets a session id and logout
    refuses it from then on."""
    cart = make_cart()
    ui = cart.client("doc")
    logged_in = ui.c.get_cookie("cardiocart_session").value
    assert ui.post("/logout").status_code == 302
    replay = cart.client()
    replay.c.set_cookie("cardiocart_session", logged_in)
    assert _to_login(replay.get("/")), "a session cookie captured before logout still works after logout"
    assert replay.c.get("/api/alerts").status_code == 401
    # another session of the same user is not ended by this logout
    a, b = cart.client("doc"), cart.client("doc")
    a.post("/logout")
    assert b.get("/").status_code == 200
    figures.row("security", check="logout ends the session (a copy of the cookie is refused afterwards)",
                items_checked=3, passed=3, findings=1, fixed=1, explained=0)
    figures.note("security", "Fixed: a session cookie copied before logout stayed valid after logout (sessions live "
                 "in the signed cookie). Each login now gets a session id that logout revokes (webui/security.py); "
                 "regression test test_security.py::test_regression_logout_ends_the_session_cookie.")


BAD_NEXT = ["/\t/evil.example", "/\n/evil.example", "/\r\nSet-Cookie: x=1", "//evil.example", "/\\evil.example",
            "https://evil.example/", "https:evil.example", "/ /evil.example", "/\x00/evil.example", "javascript:alert(1)",
            "/\x7f/evil.example", "\t//evil.example"]


def _local_location(r) -> bool:
    loc = r.location or ""
    return loc.startswith("/") and not loc.startswith("//") and "\\" not in loc and \
        not any(ord(ch) <= 32 or ord(ch) == 127 for ch in loc) and "evil" not in loc


def test_regression_redirect_targets_stay_on_the_cart(world, make_cart, figures):
    """Defect found: /login?next=/%09/evil.example sent the user to //evil.example after signing in (browsers drop
    the tab), and a newline in ``next`` gave a 500. Fixed: webui.security.safe_local_path, used by the login, the
    language switch and the PACS retry form."""
    cart = make_cart()
    checked = 0
    for nxt in BAD_NEXT:
        ui = cart.client()
        ui.get("/login")
        r = ui.c.post("/login", query_string={"next": nxt},
                      data={"username": "doc", "pin": USERS["doc"][1], "csrf_token": ui.token})
        assert r.status_code == 302 and _local_location(r), (nxt, r.status_code, r.location)
        ui.get("/")
        r = ui.post("/lang/en", {"next": nxt})
        assert r.status_code == 302 and _local_location(r), (nxt, r.status_code, r.location)
        checked += 2
    adm = cart.client("adm")
    for nxt in BAD_NEXT:
        r = adm.post(f"/exams/{cart.ids['ecg']}/sync/retry", {"next": nxt})
        checked += 1
        assert r.status_code == 302 and _local_location(r), (nxt, r.status_code, r.location)
    ui = cart.client()
    ui.get("/login")
    r = ui.c.post("/login", query_string={"next": "/exams/2?tab=ecg"},
                  data={"username": "doc", "pin": USERS["doc"][1], "csrf_token": ui.token})
    assert r.location == "/exams/2?tab=ecg"           # a real page of the cart is still honoured
    figures.row("security", check="redirect targets (login next, language, PACS retry) stay on the cart",
                items_checked=checked + 1, passed=checked + 1, findings=2, fixed=2, explained=0)
    figures.note("security", "Fixed: /login?next=/%09/evil.example redirected to //evil.example after sign-in (open "
                 "redirect: browsers drop the tab), and a newline in next gave a 500. Redirect targets now go "
                 "through webui.security.safe_local_path; regression test "
                 "test_security.py::test_regression_redirect_targets_stay_on_the_cart.")


XSS = "<script>alert('cc')</script><img src=x onerror=alert(1)>"


def test_stored_markup_is_escaped_on_every_page(world, make_cart, figures):
    """A patient name and report text holding markup are shown as text on every page that shows them."""
    import sqlite3
    cart = make_cart()
    c = sqlite3.connect(cart.db_path)
    c.execute("UPDATE patients SET name = ? WHERE patient_id = ?", (XSS, PATIENT_ID))
    c.commit()
    c.close()
    doc = cart.client("doc")
    assert doc.post(f"/exams/{cart.ids['echo']}/report/text", {"free_text": XSS}).status_code == 302
    pages = shown = 0
    for q in requests_for(cart.ids):
        if q.method != "GET" or q.endpoint in PUBLIC:
            continue
        roles = POLICY[q.endpoint]
        ui = doc if "physician" in roles else cart.client(BY_ROLE[roles[0]])
        r = q.send(ui)
        body = r.get_data()
        pages += 1
        assert b"<script>alert(" not in body and b"<img src=x onerror" not in body, q.url
        shown += b"&lt;script&gt;alert(" in body or b"\\u003cscript\\u003e" in body
    assert shown >= 3, "the markup did not reach the pages: the check proves nothing"
    figures.row("security", check="stored markup (patient name, report text) escaped on every page",
                items_checked=pages, passed=pages, findings=0, fixed=0, explained=0)


def test_security_headers_on_every_response(world, make_cart, figures):
    cart = make_cart()
    uis = {role: cart.client(BY_ROLE[role]) for role in ROLES}
    anon = cart.client()
    checked = 0
    problems = []

    def check(r, where):
        nonlocal checked
        checked += 1
        h = r.headers
        csp = h.get("Content-Security-Policy", "")
        directives = {d.strip().split(" ")[0]: d.strip() for d in csp.split(";") if d.strip()}
        if "default-src" not in directives or "'self'" not in directives["default-src"]:
            problems.append((where, "CSP default-src"))
        script = directives.get("script-src", directives.get("default-src", ""))
        if "'unsafe-inline'" in script or "'unsafe-eval'" in csp or "*" in script.split():
            problems.append((where, "CSP script-src"))
        for k, v in (("X-Content-Type-Options", "nosniff"), ("X-Frame-Options", "DENY"),
                     ("Referrer-Policy", "no-referrer")):
            if h.get(k) != v:
                problems.append((where, k))
        cc = h.get("Cache-Control", "")
        if "/static/" not in where and not ("no-store" in cc or "private" in cc):
            problems.append((where, f"Cache-Control {cc!r}"))

    for q in requests_for(cart.ids):
        if q.method != "GET":
            continue
        roles = POLICY[q.endpoint] or ("physician",)
        r = q.send(uis[roles[0]])
        check(r, q.url)
        check(q.send(anon), q.url + " (anonymous)")
    for url in ("/nothing", "/api/nothing", f"/exams/{cart.ids['echo']}/export/bogus", "/admin/users"):
        check(uis["sonographer"].c.get(url), url)
    check(uis["physician"].c.post("/exams/new", data={}), "POST without CSRF")
    assert problems == [], problems
    figures.row("security", check="security headers (CSP, nosniff, DENY, no-referrer, no public caching) on every "
                "GET route, logged in and anonymous, and on error pages", items_checked=checked, passed=checked,
                findings=0, fixed=0, explained=0)


# ---------------------------------------------------------------- 7. patient data leaves only to configured targets

SPOOF = {"X-Forwarded-For": "127.0.0.1", "X-Real-IP": "127.0.0.1", "Forwarded": "for=127.0.0.1"}


class _NetGuard:
    """Records every outgoing connection of this process (and refuses it)."""

    def __init__(self, monkeypatch):
        self.calls: list[tuple] = []
        real = socket.socket.connect
        guard = self

        def connect(sock, address):
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                guard.calls.append(tuple(address)[:2])
                raise ConnectionRefusedError("blocked by the test")
            return real(sock, address)
        monkeypatch.setattr(socket.socket, "connect", connect)


def _run_sync_for(settings, seconds: float) -> None:
    from device.services.runtime import StopFlag
    from device.services.sync_service import run_sync
    stop = StopFlag()
    t = threading.Thread(target=run_sync, args=(settings, stop), daemon=True)
    t.start()
    time.sleep(seconds)
    stop.event.set()
    t.join(10)
    assert not t.is_alive()


def test_patient_data_leaves_only_to_the_configured_target(world, make_cart, figures, monkeypatch):
    from device.services.sync_service import build_target
    checked = 0
    # no target: signing queues nothing, queueing is refused, the sync role sends nothing
    off = make_cart()
    assert off.settings.sync.target == "none" and build_target(off.settings) is None
    doc, adm = off.client("doc"), off.client("adm")
    r = doc.post(f"/exams/{off.ids['ecg']}/report/sign")
    assert r.status_code == 302
    assert off.query("SELECT status FROM reports WHERE exam_id = ? ORDER BY version DESC", off.ids["ecg"])[0][0] == \
        "signed"
    adm.post(f"/exams/{off.ids['ecg']}/sync/queue")
    assert off.query("SELECT count(*) FROM outbox")[0][0] == 0
    checked += 2
    # objects queued while a PACS was configured stay on the box once sync is off
    on = make_cart(sync={"target": "dicomweb", "dicomweb_url": "http://127.0.0.1:9/dicom-web",
                         "retry_initial_s": 1, "retry_max_s": 1})
    d2 = on.client("doc")
    assert d2.post(f"/exams/{on.ids['ecg']}/report/sign").status_code == 302
    queued = on.query("SELECT count(*) FROM outbox")[0][0]
    assert queued > 0
    net = _NetGuard(monkeypatch)
    from device.config import load_settings
    none_settings = load_settings(on.root / "cardiocart.toml").model_copy(
        update={"sync": on.settings.sync.model_copy(update={"target": "none"})})
    _run_sync_for(none_settings, 0.3)
    assert net.calls == [], net.calls
    checked += 1
    # with the PACS configured, the only address contacted is the PACS
    _run_sync_for(on.settings, 0.6)
    assert net.calls and set(net.calls) == {("127.0.0.1", 9)}, set(net.calls)
    assert on.query("SELECT count(*) FROM outbox WHERE sent_at IS NOT NULL")[0][0] == 0
    checked += 1
    # downloads go only to the cart's own browser: every attachment route refuses a remote client
    local, remote = on.client("doc"), on.client("doc", remote="10.20.30.40")
    downloads = 0
    for q in requests_for(on.ids):
        if q.method != "GET" or q.endpoint in PUBLIC:
            continue
        for url in {q.url, q.url.replace("measurements.csv", "dicom.zip"), q.url.replace("measurements.csv",
                                                                                          "fhir.json")}:
            r = local.c.get(url)
            if "attachment" not in r.headers.get("Content-Disposition", ""):
                continue
            downloads += 1
            mark = on.audit_mark()
            rr = remote.c.get(url, headers=SPOOF)            # forwarded-for headers do not make it local
            checked += 1
            assert rr.status_code == 403 and "attachment" not in rr.headers.get("Content-Disposition", ""), url
            assert [x for x in on.audit_since(mark) if x["action"] == "export"] == [], url
    assert downloads >= 4, downloads
    figures.row("security", check="patient data leaves only to the configured PACS / the cart's own browser / "
                "a USB drive (sync off: 0 connections; on: only the PACS address)", items_checked=checked,
                passed=checked, findings=0, fixed=0, explained=0)


def test_regression_pacs_transfer_is_audited(world, make_cart, figures):
    """Defect found: the sync role sent signed reports to the PACS without an audit row (only the outbox state
    changed), so the audit log did not show that patient data left the box. Fixed in
    device/services/sync_service.py: marking an object sent writes an ``export`` row in the same transaction."""
    from device.services.sync_service import SqliteOutbox
    from device.store import Store
    from device.sync.worker import Backoff, SyncWorker

    cart = make_cart(sync={"target": "dicomweb", "dicomweb_url": "http://127.0.0.1:9/dicom-web"})
    assert cart.client("doc").post(f"/exams/{cart.ids['ecg']}/report/sign").status_code == 302
    queued = {r[0] for r in cart.query("SELECT sop_instance_uid FROM outbox WHERE exam_id = ?", cart.ids["ecg"])}
    assert queued

    class Pacs:
        def __init__(self):
            self.got: dict[str, bytes] = {}

        def send(self, data, study_uid, sop_uid):
            self.got[sop_uid] = data

        def holds(self, study_uid, sop_uid):
            return sop_uid in self.got

    pacs, store = Pacs(), Store.open(cart.settings.data_dir)
    mark = cart.audit_mark()
    try:
        SyncWorker(SqliteOutbox(store, "dicomweb"), pacs, Backoff(0.01, 0.01)).drain()
    finally:
        store.close()
    assert set(pacs.got) == queued
    rows = [x for x in cart.audit_since(mark) if x["action"] == "export"]
    assert {x["detail"]["sop_instance_uid"] for x in rows} == queued
    assert all(x["object_type"] == "exam" and x["object_id"] == str(cart.ids["ecg"]) and x["username"] == "sync"
               and x["detail"]["target"] == "dicomweb" for x in rows)
    figures.row("security", check="each object sent to the PACS leaves an export audit row (sync role)",
                items_checked=len(queued), passed=len(rows), findings=1, fixed=1, explained=0)
    figures.note("security", "Fixed: objects sent to the PACS by the sync role left no audit row (only the outbox "
                 "state changed). SqliteOutbox.mark_sent now writes an export row naming the exam, target and SOP "
                 "Instance UID in the same transaction; regression test "
                 "test_security.py::test_regression_pacs_transfer_is_audited.")


def test_services_run_unprivileged_and_patient_data_stays_private(tmp_path, figures):
    """The units that touch patient data run as the cart's user with no new privileges, a read-only system and a
    umask that keeps new files from other users; the data directory is 0750; under that umask nothing the cart
    writes (database, blobs, session key, run state) is readable by other users."""
    checked = 0
    for unit in sorted((ROOT / "systemd").glob("cardiocart-*.service")):
        kv = {}
        for line in unit.read_text().splitlines():
            if "=" in line and not line.startswith("#"):
                k, v = line.split("=", 1)
                kv.setdefault(k.strip(), v.strip())
        checked += 1
        assert kv.get("User") not in (None, "", "root"), unit.name
        if unit.name == "cardiocart-kiosk.service":      # the browser: no patient files of its own
            continue
        assert kv.get("NoNewPrivileges") == "yes" and kv.get("ProtectSystem") == "strict", unit.name
        assert int(kv.get("UMask", "0022"), 8) & 0o007 == 0o007, (unit.name, kv.get("UMask"))
        assert kv.get("ReadWritePaths") == "@DATA@", unit.name
    prov = (ROOT / "provisioning" / "provision.sh").read_text()
    assert re.search(r'install -d -m 0750 .*"\$DATA"', prov), "the data directory must be created 0750"
    old = os.umask(0o027)
    try:
        from device.store import Store, clinical, users
        from device.store.db import Tx
        cart = Cart(tmp_path)                      # a fresh cart: every file made under the unit's umask
        st = Store.open(cart.settings.data_dir)
        with Tx(st.conn) as c:
            users.create_user(c, "doc", "Doc", "physician", USERS["doc"][1])
            exam = clinical.create_exam(c, clinical.upsert_patient(c, PATIENT_ID, PATIENT_NAME), "ecg", None)
        st.close()
        ui = cart.client("doc")
        ui.post(f"/exams/{exam.id}/ecg/upload", {"photo": (io.BytesIO(png_bytes(seed=9)), "p.png")})
        ui.get(f"/exams/{exam.id}/report")
        files = [p for p in (tmp_path / "var").rglob("*") if p.is_file()]
        assert cart.settings.db_path in files and any("blobs" in p.parts for p in files), files
        for p in files:
            checked += 1
            assert p.stat().st_mode & 0o007 == 0, (str(p.relative_to(tmp_path)), oct(p.stat().st_mode & 0o777))
    finally:
        os.umask(old)
    assert (cart.settings.data_dir / "secret_key").stat().st_mode & 0o077 == 0
    figures.row("security", check="services unprivileged (NoNewPrivileges, read-only system, umask 027); data "
                "files not readable by other users", items_checked=checked, passed=checked, findings=0, fixed=0,
                explained=0)


# ---------------------------------------------------------------- 8. dependency audit and static scan

def _allowlist() -> dict[str, dict[str, str]]:
    return tomllib.loads(ALLOWLIST.read_text(encoding="utf-8"))


def _pinned_requirements() -> list[str]:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    reqs = list(meta["dependencies"])
    for extra in meta.get("optional-dependencies", {}).values():
        reqs += extra
    bad = [r for r in reqs if not re.fullmatch(r"[A-Za-z0-9._\[\]-]+==[A-Za-z0-9.+!-]+", r)]
    assert not bad, f"dependencies in pyproject.toml without an exact pin: {bad}"
    return sorted(set(reqs))


def test_dependency_audit_pip_audit(figures, tmp_path):
    try:
        import pip_audit  # noqa: F401
    except ImportError:
        pytest.fail("pip-audit is not installed: install the test extra (pip-audit==2.10.1)")
    reqs = _pinned_requirements()
    req_file = tmp_path / "requirements.txt"
    req_file.write_text("\n".join(reqs) + "\n")
    cmd = [sys.executable, "-m", "pip_audit", "-r", str(req_file), "--no-deps", "--disable-pip", "--format", "json",
           "--progress-spinner", "off", "--timeout", "20"]
    if stress_mode() == "full":
        cmd_env = [sys.executable, "-m", "pip_audit", "--format", "json", "--progress-spinner", "off",
                   "--timeout", "20", "--skip-editable"]
    else:
        cmd_env = None
    findings: list[tuple[str, str, str]] = []
    audited = 0
    for c in filter(None, (cmd, cmd_env)):
        p = subprocess.run(c, capture_output=True, text=True, timeout=600)
        try:
            out = json.loads(p.stdout)
        except ValueError:
            if "ConnectionError" in p.stderr or "Failed to resolve" in p.stderr or "Max retries" in p.stderr:
                figures.note("security", "pip-audit was skipped in this run: its vulnerability services (PyPI's "
                             "per-release JSON API, api.osv.dev) were unreachable from this machine; run make stress "
                             "where they are reachable to audit the pinned packages.")
                pytest.skip("pip-audit cannot reach the vulnerability service (PyPI / OSV): no network; "
                            "run it where PyPI's JSON API or OSV is reachable")
            pytest.fail(f"pip-audit failed (exit {p.returncode}): {p.stderr.strip().splitlines()[-1:]}")
        deps = out.get("dependencies", [])
        skipped = [d for d in deps if d.get("skip_reason")]
        if deps and len(skipped) == len(deps):
            figures.note("security", "pip-audit was skipped in this run: its vulnerability services (PyPI's "
                         "per-release JSON API, api.osv.dev) were unreachable from this machine; run make stress "
                         "where they are reachable to audit the pinned packages.")
            pytest.skip("pip-audit could not look up any package (the PyPI vulnerability service is unreachable: "
                        f"{skipped[0]['skip_reason']}); run it where PyPI's JSON API or OSV is reachable")
        findings += [(f"unaudited:{d['name'].lower()}", d["name"], d.get("version", "")) for d in skipped]
        audited += len(deps) - len(skipped)
        for d in deps:
            for v in d.get("vulns", []):
                findings.append((v["id"], d["name"], d["version"]))
    allowed = _allowlist().get("pip-audit", {})
    unexplained = sorted({f for f in findings if f[0] not in allowed})
    figures.row("security", check="pip-audit of the pinned (and, in make stress, installed) packages",
                items_checked=audited, passed=audited - len({f[1] for f in findings}), findings=len(set(findings)),
                fixed=0, explained=len(set(findings)) - len(unexplained))
    assert not unexplained, ("vulnerable dependencies: upgrade the pin in pyproject.toml, or explain each id in "
                             f"tests/stress/security_allowlist.toml [pip-audit]: {unexplained}")


def test_dependency_audit_pypi_project_json(figures):
    """Where pip-audit's per-release lookups are unreachable, PyPI's project JSON still lists the known
    vulnerabilities of each project's newest release: a pin that is that release is audited exactly; an older pin
    is reported as not audited (never as clean)."""
    import requests

    audited, older, findings = [], [], []
    for req in _pinned_requirements():
        name, version = req.split("==")
        name = name.split("[")[0]
        try:
            r = requests.get(f"https://pypi.org/pypi/{name}/json", timeout=15)
            r.raise_for_status()
            data = r.json()
        except (requests.RequestException, ValueError) as exc:
            pytest.skip(f"PyPI's project JSON API is unreachable ({exc.__class__.__name__}); run it with network")
        if data["info"]["version"] != version:
            older.append(f"{name} {version} (newest {data['info']['version']})")
            continue
        audited.append(name)
        findings += [(v.get("id", "?"), name, version) for v in data.get("vulnerabilities") or []]
    allowed = _allowlist().get("pip-audit", {})
    unexplained = sorted({f for f in findings if f[0] not in allowed})
    figures.row("security", check="dependency audit from PyPI's project JSON (pins that are the newest release)",
                items_checked=len(audited), passed=len(audited) - len({f[1] for f in findings}),
                findings=len(set(findings)), fixed=0, explained=len(set(findings)) - len(unexplained))
    figures.note("security", f"PyPI project-JSON audit: {len(audited)} pinned packages are their project's newest "
                 f"release and were checked against PyPI's vulnerability list; {len(older)} pins are older releases "
                 f"and are NOT audited by this check: {', '.join(older) or 'none'}.")
    assert audited, "no pinned package could be audited"
    assert not unexplained, ("vulnerable dependencies: upgrade the pin in pyproject.toml, or explain each id in "
                             f"tests/stress/security_allowlist.toml [pip-audit]: {unexplained}")


def _enclosing(path: Path, line: int, cache: dict) -> str:
    import ast
    if path not in cache:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        spans = []
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                spans.append((node.lineno, node.end_lineno or node.lineno, node))
        parents = {}
        for node in ast.walk(tree):
            for ch in ast.iter_child_nodes(node):
                parents[ch] = node
        cache[path] = (spans, parents)
    spans, parents = cache[path]
    inner = [s for s in spans if s[0] <= line <= s[1]]
    if not inner:
        return "<module>"
    node = max(inner, key=lambda s: s[0])[2]
    names = [node.name]
    p = parents.get(node)
    while p is not None:
        if isinstance(p, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(p.name)
        p = parents.get(p)
    return ".".join(reversed(names))


def bandit_findings() -> tuple[list[str], int]:
    """Bandit over device/ and webui/ as ids ``<test id> <path>::<enclosing function>`` (stable across edits)."""
    p = subprocess.run([sys.executable, "-m", "bandit", "-r", "device", "webui", "-f", "json", "-q"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    out = json.loads(p.stdout)
    assert not out.get("errors"), out["errors"]
    cache: dict = {}
    ids = []
    for r in out["results"]:
        path = Path(r["filename"])
        ids.append(f"{r['test_id']} {path.as_posix()}::{_enclosing(ROOT / path, r['line_number'], cache)}")
    n_files = len([k for k in out.get("metrics", {}) if k.endswith(".py")])
    return ids, n_files


def test_static_scan_bandit(figures):
    try:
        import bandit  # noqa: F401
    except ImportError:
        pytest.fail("bandit is not installed: install the test extra (bandit==1.9.4)")
    ids, n_files = bandit_findings()
    assert n_files > 50, f"bandit scanned only {n_files} files"
    allowed = _allowlist().get("bandit", {})
    unexplained = sorted(set(ids) - set(allowed))
    for k, why in allowed.items():
        assert len(why.strip()) > 20, f"allow-list entry {k!r} needs a one-line justification"
    stale = sorted(set(allowed) - set(ids))
    if stale:
        figures.note("security", f"bandit allow-list entries no longer found (code fixed or moved): {stale}")
    fixed = _allowlist().get("fixed", {})
    figures.row("security", check="bandit static scan of device/ and webui/ (items: files)",
                items_checked=n_files, passed=n_files - len({i.split(" ")[1].split("::")[0] for i in unexplained}),
                findings=len(ids) + len(fixed), fixed=len(fixed), explained=len(ids) - len(unexplained))
    assert not unexplained, ("bandit findings: fix them, or explain each in tests/stress/security_allowlist.toml "
                             f"[bandit] (one line why): {unexplained}")
