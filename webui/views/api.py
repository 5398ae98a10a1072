"""JSON endpoints: health (public), metrics, alerts."""

from __future__ import annotations

from flask import Blueprint, jsonify

from device.store import clinical
from device.store.db import Tx
from device.usecases.status import model_metrics
from webui.views.common import audit_log, conn, services

bp = Blueprint("api", __name__, url_prefix="/api")


@bp.route("/health")
def health():
    try:
        conn().execute("SELECT 1").fetchone()
        return jsonify({"status": "ok"})
    except Exception as exc:  # health must answer, whatever is wrong
        return jsonify({"status": "error", "error": str(exc)}), 503


@bp.route("/metrics")
def metrics():
    """Per-model latency statistics from the core (written to run/metrics.json) and from this process."""
    return jsonify(model_metrics(services().run_dir))


@bp.route("/alerts")
def alerts():
    return jsonify({"alerts": clinical.list_alerts(conn())})


@bp.route("/alerts/<int:alert_id>/ack", methods=["POST"])
def ack(alert_id: int):
    from flask import g
    c = conn()
    with Tx(c):
        clinical.acknowledge_alert(c, alert_id, g.user.id)
        audit_log("edit", "alert", alert_id, {"event": "acknowledged"})
    return jsonify({"ok": True})
