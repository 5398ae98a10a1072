"""Login sessions, roles, idle timeout, CSRF tokens and the per-install secret key."""

from __future__ import annotations

import hmac
import os
import secrets
import time
from functools import wraps
from pathlib import Path
from urllib.parse import urlsplit
from collections.abc import Callable

from flask import abort, current_app, g, redirect, request, session, url_for

from device.errors import UserError
from device.fsutil import atomic_write_bytes

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
PUBLIC_ENDPOINTS = {"auth.login", "auth.setup", "auth.set_language", "api.health", "static"}


def load_or_create_secret(data_dir: Path) -> bytes:
    """A random key made on first start and kept in the data directory (0600). There is no default secret."""
    path = Path(data_dir) / "secret_key"
    try:
        if path.is_file():
            key = path.read_bytes()
            if len(key) >= 32:
                return key
        key = secrets.token_bytes(48)
        atomic_write_bytes(path, key, mode=0o600)
        return key
    except OSError as exc:
        raise UserError(f"cannot create the session key in {data_dir} ({exc.strerror}); make the data directory "
                        "writable by the cart's user") from exc


def csrf_token() -> str:
    tok = session.get("csrf")
    if not tok:
        tok = session["csrf"] = secrets.token_urlsafe(32)
    return tok


def check_csrf() -> None:
    """Every state-changing request must carry the session's token (form field or X-CSRF-Token header)."""
    if request.method in SAFE_METHODS:
        return
    sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token", "")
    expected = session.get("csrf", "")
    if not expected or not hmac.compare_digest(str(sent), str(expected)):
        abort(400, description="csrf_failed")


def _conn():
    return current_app.extensions["cardiocart"].conn()


def is_user_action() -> bool:
    """A request a person made (a page, a form), not a page polling: GETs to /api/, for JSON, event streams or
    pictures are polling (the live ECG page asks every 300 ms) and do not restart the idle timeout."""
    if request.method not in SAFE_METHODS:
        return True
    accept = request.headers.get("Accept", "")
    if request.path.startswith("/api/") or "application/json" in accept or "text/event-stream" in accept:
        return False
    return not request.path.endswith((".jpg", ".png", ".mjpg"))


def start_session(uid: int) -> None:
    """A new session (new id) for ``uid``, recorded in the database: called at login, after ``session.clear()``."""
    from device.store import users as users_repo
    from device.store.db import Tx

    sid = secrets.token_urlsafe(24)
    c = _conn()
    with Tx(c):
        users_repo.create_session(c, sid, uid, time.time(), request.remote_addr or "")
    session["uid"] = uid
    session["sid"] = sid
    session["seen"] = time.time()


def end_session() -> None:
    """Logout: the session ends in the database, so a copy of the cookie is refused from now on, after a restart
    of the web UI too."""
    from device.store import users as users_repo
    from device.store.db import Tx

    sid = session.get("sid")
    if sid:
        c = _conn()
        with Tx(c):
            users_repo.end_session(c, str(sid), time.time())
    session.clear()


def enforce_login() -> object | None:
    """Run before every request: the server-side session (ended, idle since the last user action), then a login for
    everything but the public endpoints."""
    from device.store import users as users_repo
    from device.store.db import Tx

    now = time.time()
    timeout_s = current_app.config["SESSION_IDLE_S"]
    uid = session.get("uid")
    if uid is not None:
        sid = str(session.get("sid", ""))
        c = _conn()
        row = users_repo.get_session(c, sid) if sid else None
        if row is None or row["ended_at"] is not None or row["user_id"] != uid:
            session.clear()
            uid = None
        elif now - float(session.get("seen", row["last_action_at"])) > timeout_s:
            with Tx(c):
                users_repo.end_session(c, sid, now)
            session.clear()
            session["flash_key"] = "session_expired"
            uid = None
        elif is_user_action():
            session["seen"] = now  # in the signed cookie: a request that is refused writes nothing to the store
    if uid is not None:
        g.user = current_app.extensions["cardiocart"].current_user(uid)
        if g.user is None or not g.user.active:
            session.clear()
            uid = None
    if uid is None:
        g.user = None
        if request.endpoint in PUBLIC_ENDPOINTS:
            return None
        if request.path.startswith("/api/"):
            abort(401)
        return redirect(url_for("auth.login", next=request.path))
    return None


def roles_required(*roles: str) -> Callable:
    def deco(fn: Callable) -> Callable:
        @wraps(fn)
        def wrapper(*a, **kw):
            if g.get("user") is None or g.user.role not in roles:
                abort(403)
            return fn(*a, **kw)
        return wrapper
    return deco


def safe_local_path(target: str | None) -> str | None:
    """``target`` when it is a path on this site ("/exams/3"), else None: no scheme or host, no "//" start, no
    backslash (browsers read a backslash as a slash), no whitespace or control characters (browsers drop a tab, so
    slash-tab-slash-host would become "//host"; a newline cannot go into a header)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    if any(ord(ch) <= 32 or ord(ch) == 127 for ch in target):
        return None
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else None


def is_local_request() -> bool:
    return (request.remote_addr or "") in ("127.0.0.1", "::1") or os.environ.get("CARDIOCART_ALLOW_REMOTE_SETUP") == "1"
