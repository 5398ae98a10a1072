"""Administration: users and the audit log (administrators only)."""

from __future__ import annotations

import time

from flask import Blueprint, g, redirect, render_template, request, url_for

from device.errors import UserError
from device.store import audit, users as users_repo
from device.store.db import Tx
from webui.security import roles_required
from webui.views.common import audit_log, conn, flash_key, pop_flash

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.route("/users", methods=["GET", "POST"])
@roles_required("admin")
def users():
    c = conn()
    error = None
    if request.method == "POST":
        f = request.form
        try:
            if f.get("pin") != f.get("pin2"):
                raise UserError("the two PINs differ; type the same PIN twice")
            with Tx(c):
                u = users_repo.create_user(c, f.get("username", ""), f.get("display_name", ""), f.get("role", ""),
                                           f.get("pin", ""), created_by=g.user.id)
                audit_log("admin", "user", u.id, {"event": "created", "role": u.role, "active": u.active})
            flash_key("user_created")
            return redirect(url_for("admin.users"))
        except UserError as exc:
            error = str(exc)
    return render_template("users.html", users=users_repo.list_users(c), roles=users_repo.ROLES, error=error,
                           flash=pop_flash()), (400 if error else 200)


@bp.route("/users/<int:user_id>/active", methods=["POST"])
@roles_required("admin")
def set_active(user_id: int):
    c = conn()
    active = request.form.get("active") == "1"
    why = users_repo.may_activate(c, user_id, g.user.id) if active else ""
    if why:
        audit_log("admin", "user", user_id, {"event": "activation refused", "reason": why})
        return render_template("users.html", users=users_repo.list_users(c), roles=users_repo.ROLES, error=why,
                               flash=None), 400
    with Tx(c):
        users_repo.set_active(c, user_id, active)
        if active:  # re-activating is also the admin unlock: failed sign-ins of the name are forgotten
            n = users_repo.unlock(c, user_id)
            audit_log("admin", "user", user_id, {"event": "activated (unlocked)", "failed_sign_ins_cleared": n})
        else:
            users_repo.end_user_sessions(c, user_id, time.time())
            audit_log("admin", "user", user_id, {"event": "deactivated"})
    return redirect(url_for("admin.users"))


@bp.route("/audit")
@roles_required("admin")
def audit_view():
    c = conn()
    entries = audit.recent(c, limit=500)
    audit_log("view", "audit_log")
    return render_template("audit.html", entries=entries)
