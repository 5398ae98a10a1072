"""Alerts a clinician sees (issue 18 part 2): a banner with the count of waiting alerts on every page (context
processor), the alert list, and acknowledging one (who and when stored, audited). Every route needs a login; the
POST needs the CSRF token (the app's global checks)."""

from __future__ import annotations

from flask import Blueprint, g, redirect, render_template, request, url_for

from device.errors import UserError
from device.store.db import Tx
from device.usecases import alerts as uc
from webui.views.common import audit_log, conn, flash_key, pop_flash

bp = Blueprint("alerts", __name__)
NAV = [("alerts.page", "alerts_nav", None)]


@bp.app_context_processor
def _banner() -> dict:
    """``alerts_waiting``: (critical, all) alerts waiting for acknowledgement, for the banner in base.html."""
    if g.get("user") is None:
        return {"alerts_waiting": (0, 0)}
    try:
        return {"alerts_waiting": uc.waiting_count(conn())}
    except Exception:  # noqa: BLE001 - an error page must render even when the store cannot be read
        return {"alerts_waiting": (0, 0)}


@bp.route("/alerts")
def page():
    show_all = request.args.get("all") == "1"
    rows = uc.alert_list(conn(), include_acknowledged=show_all)
    audit_log("view", "alert_list", "", {"alert_ids": [v.alert.id for v in rows],
                                         "exam_ids": sorted({v.alert.exam_id for v in rows if v.alert.exam_id})})
    return render_template("alerts.html", rows=rows, show_all=show_all, flash=pop_flash())


@bp.route("/alerts/<int:alert_id>/acknowledge", methods=["POST"])
def acknowledge(alert_id: int):
    c = conn()
    try:
        with Tx(c):
            a = uc.acknowledge(c, alert_id, g.user.id)
            audit_log("edit", "alert", alert_id, {"event": "acknowledged", "code": a.code, "exam_id": a.exam_id,
                                                  "at": a.acknowledged_at})
    except UserError as exc:
        flash_key("alerts_ack_failed", reason=str(exc))
        return redirect(url_for("alerts.page"))
    flash_key("alerts_acked", id=alert_id)
    return redirect(url_for("alerts.page"))
