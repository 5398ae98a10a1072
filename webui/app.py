"""Flask app factory. The UI reads the store; it never reaches into drivers, models or the live pipeline."""

from __future__ import annotations

import logging
import sqlite3
from datetime import timedelta
from typing import Any

from flask import Flask, g, jsonify, render_template, request, session
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter

from device import __version__
from device.config import Settings
from device.errors import UserError
from device.i18n import message
from device.store.blobs import BlobStore
from device.store.db import connect, migrate
from device.store import users as users_repo
from webui.i18n import LANGUAGES, translate
from webui.security import check_csrf, csrf_token, enforce_login, load_or_create_secret

log = logging.getLogger(__name__)


class CartServices:
    """What the views may use: a per-request database connection, the blob store and the run directory."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.db_path = settings.db_path
        self.blobs = BlobStore(settings.blob_dir)
        self.run_dir = settings.run_dir

    def conn(self) -> sqlite3.Connection:
        if "conn" not in g:
            g.conn = connect(self.db_path)
        return g.conn

    def current_user(self, uid: int) -> users_repo.User | None:
        try:
            return users_repo.get_user(self.conn(), uid)
        except UserError:
            return None


class SqliteIntConverter(IntegerConverter):
    """``<int:...>`` URL parts up to SQLite's largest integer: a larger id is "not found", not an OverflowError."""

    def __init__(self, map, fixed_digits=0, min=None, max=2**63 - 1, signed=False):  # noqa: A002 - werkzeug's names
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def create_app(settings: Settings, test_config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.url_map.converters["int"] = SqliteIntConverter
    migrate(settings.db_path)
    app.config.update(
        SECRET_KEY=load_or_create_secret(settings.data_dir),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_NAME="cardiocart_session",
        PERMANENT_SESSION_LIFETIME=timedelta(minutes=settings.web.session_timeout_min),
        SESSION_IDLE_S=settings.web.session_timeout_min * 60,
        MAX_CONTENT_LENGTH=settings.web.max_upload_mb * 1024 * 1024,
        CARDIOCART_SETTINGS=settings,
        SESSION_COOKIE_SECURE=bool(settings.web.tls_cert),  # https on the ward network: cookies never go in clear
    )
    if test_config:
        app.config.update(test_config)
    services = CartServices(settings)
    app.extensions["cardiocart"] = services

    from webui.views import register_blueprints
    register_blueprints(app)

    @app.before_request
    def _guards():
        check_csrf()
        return enforce_login()

    @app.teardown_appcontext
    def _close(_exc):
        conn = g.pop("conn", None)
        if conn is not None:
            conn.close()

    @app.after_request
    def _headers(resp):
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("X-Frame-Options", "DENY")
        resp.headers.setdefault("Referrer-Policy", "no-referrer")
        resp.headers.setdefault("Content-Security-Policy",
                                "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
                                "script-src 'self'; connect-src 'self'; media-src 'self' data:")
        if request.endpoint != "static":
            resp.headers.setdefault("Cache-Control", "no-store")
        if app.config["SESSION_COOKIE_SECURE"]:
            resp.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return resp

    @app.context_processor
    def _ctx():
        lang = current_language()
        return {
            "t": lambda key, **kw: translate(lang, key, **kw),
            "lang": lang,
            "other_lang": "en" if lang == "zh-CN" else "zh-CN",
            "csrf_token": csrf_token,
            "user": g.get("user"),
            "version": __version__,
            "disclaimer": translate(lang, "disclaimer"),
            "nav_items": [n for n in app.config.get("CARDIOCART_NAV", []) if n[0] in app.view_functions],
            "exam_actions": [a for a in app.config.get("CARDIOCART_EXAM_ACTIONS", []) if a[0] in app.view_functions],
        }

    @app.errorhandler(UserError)
    def _user_error(exc: UserError):
        return _error_response(400, message(current_language(), str(exc)))

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        key = {400: exc.description if exc.description in ("csrf_failed",) else "",
               403: "forbidden", 404: "not_found", 413: "too_large"}.get(exc.code or 500, "")
        lang = current_language()
        msg = translate(lang, key) if key else (exc.description or exc.name)
        if exc.code == 401:
            msg = translate(lang, "session_expired")
        return _error_response(exc.code or 500, msg)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):  # never a stack trace to the user; the log has it
        log.exception("unexpected error on %s %s", request.method, request.path)
        return _error_response(500, translate(current_language(), "error") +
                               " — the error was logged; try again, and tell the administrator if it persists.")

    return app


def current_language() -> str:
    lang = session.get("lang")
    if lang in LANGUAGES:
        return lang
    user = g.get("user")
    if user is not None and user.language in LANGUAGES:
        return user.language
    from flask import current_app
    return current_app.config["CARDIOCART_SETTINGS"].web.language


def _error_response(code: int, message: str):
    if request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json":
        return jsonify({"error": message, "status": code}), code
    return render_template("error.html", code=code, message=message), code
