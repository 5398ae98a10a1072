"""Sign in with user + PIN, lock-out, sign out, first-run administrator, language switch."""

from __future__ import annotations

import math

from flask import Blueprint, abort, redirect, render_template, request, session, url_for

from device.errors import UserError
from device.store import users as users_repo
from device.store.db import Tx
from webui.i18n import LANGUAGES
from webui.security import end_session, is_local_request, safe_local_path, start_session
from webui.views.common import audit_log, conn, flash_key, pop_flash, settings

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str:
    return safe_local_path(target) or url_for("exams.index")


@bp.route("/login", methods=["GET", "POST"])
def login():
    c = conn()
    if users_repo.count_users(c) == 0:
        return redirect(url_for("auth.setup"))
    error = None
    if request.method == "POST":
        web = settings().web
        username = request.form.get("username", "")[:64]
        with Tx(c):
            res = users_repo.authenticate(c, username, request.form.get("pin", "")[:32],
                                          max_attempts=web.lockout_attempts, lockout_s=web.lockout_min * 60,
                                          remote_addr=request.remote_addr or "")
            if res.user is not None:
                audit_log_user = res.user
                from device.store import audit
                audit.record(c, user_id=audit_log_user.id, username=audit_log_user.username, action="login",
                             object_type="session")
            else:
                from device.store import audit
                audit.record(c, user_id=None, username=username or "?", action="login_failed", object_type="session",
                             detail={"reason": res.reason, "address": request.remote_addr or ""})
        if res.user is not None:
            lang = session.get("lang")
            session.clear()
            start_session(res.user.id)
            session.permanent = True
            if lang:
                session["lang"] = lang
            return redirect(_safe_next(request.args.get("next")))
        if res.reason == "locked":
            error = ("locked", {"m": max(1, math.ceil(res.locked_for_s / 60))})
        elif res.reason == "inactive":
            error = ("inactive", {})
        else:   # a wrong PIN and an unknown user read the same, so the page does not tell which names exist
            error = ("wrong_user_or_pin", {"n": web.lockout_attempts, "m": web.lockout_min})
    flash = pop_flash()
    return render_template("login.html", error=error or flash), (401 if error else 200)


@bp.route("/setup", methods=["GET", "POST"])
def setup():
    c = conn()
    if users_repo.count_users(c) > 0:
        return redirect(url_for("auth.login"))
    if not is_local_request():
        return render_template("error.html", code=403, message_key="setup_remote"), 403
    error = None
    if request.method == "POST":
        pin, pin2 = request.form.get("pin", ""), request.form.get("pin2", "")
        if pin != pin2:
            error = ("pins_differ", {})
        else:
            try:
                with Tx(c):
                    if users_repo.count_users(c) > 0:  # lost a race with another first-run request
                        abort(409)
                    u = users_repo.create_user(c, request.form.get("username", ""), request.form.get("display_name", ""),
                                               "admin", pin)
                    from device.store import audit
                    audit.record(c, user_id=u.id, username=u.username, action="admin", object_type="user",
                                 object_id=u.id, detail={"event": "first administrator created"})
                flash_key("user_created")
                return redirect(url_for("auth.login"))
            except UserError as exc:
                error = (None, {"text": str(exc)})
    return render_template("setup.html", error=error), (400 if error else 200)


@bp.route("/logout", methods=["POST"])
def logout():
    audit_log("logout", "session")
    lang = session.get("lang")
    end_session()
    if lang:
        session["lang"] = lang
    return redirect(url_for("auth.login"))


@bp.route("/lang/<code>", methods=["POST"])
def set_language(code: str):
    if code not in LANGUAGES:
        abort(404)
    session["lang"] = code
    uid = session.get("uid")
    if uid is not None:
        users_repo.set_language(conn(), uid, code)
    return redirect(_safe_next(request.form.get("next")))
