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


def _ended_sessions() -> dict[str, float]:
    """Session ids ended by a logout in this process -> when their cookie would have expired anyway."""
    return current_app.extensions.setdefault("cardiocart.ended_sessions", {})


def start_session(uid: int) -> None:
    """A new session (new id) for ``uid``: called at login, after ``session.clear()``."""
    session["uid"] = uid
    session["sid"] = secrets.token_urlsafe(16)
    session["seen"] = time.time()


def end_session() -> None:
    """Logout: the session's id is refused from now on, so a copy of the cookie taken before is worth nothing."""
    sid = session.get("sid")
    if sid:
        ended = _ended_sessions()
        now = time.time()
        for k in [k for k, until in ended.items() if until < now]:
            del ended[k]
        ended[sid] = now + current_app.permanent_session_lifetime.total_seconds() + 60
    session.clear()


def enforce_login() -> object | None:
    """Run before every request: idle timeout, then a login for everything but the public endpoints."""
    now = time.time()
    timeout_s = current_app.config["SESSION_IDLE_S"]
    uid = session.get("uid")
    if uid is not None and session.get("sid", "") in _ended_sessions():
        session.clear()
        uid = None
    if uid is not None and now - session.get("seen", 0) > timeout_s:
        session.clear()
        session["flash_key"] = "session_expired"
        uid = None
    if uid is not None:
        session["seen"] = now
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
