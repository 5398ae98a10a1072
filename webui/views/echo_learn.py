"""Site learning in the UI: the one-touch clip view label on the exam page, and the admin page that teaches the cart
its site's views from the confirmed clips (a background job in the worker role), promotes the new model only when it
was better on held-back patients, and rolls back. Every change is audited."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, g, redirect, render_template, request, url_for

from device.errors import UserError
from device.store import clinical
from device.store.clip_labels import LABEL_CHOICES, get_label, set_label
from device.store.db import Tx
from webui.security import roles_required
from webui.views.common import audit_log, conn, flash_key, pop_flash, settings

bp = Blueprint("echo_learn", __name__)
NAV = [("echo_learn.page", "el_nav", ("admin",))]
LABELLERS = ("sonographer", "physician")


@bp.app_context_processor
def _clip_label_helpers():
    """For exam.html: the confirmed/corrected label of a clip and the views a clip may be labelled with."""
    def clip_label_of(capture_id: int):
        try:
            return get_label(conn(), capture_id)
        except Exception:  # noqa: BLE001 - a database without migration 0003 shows no label, the page still works
            return None
    return {"clip_label_of": clip_label_of, "clip_label_choices": LABEL_CHOICES}


@bp.route("/exams/<int:exam_id>/clips/<int:capture_id>/label", methods=["POST"])
@roles_required(*LABELLERS)
def clip_label(exam_id: int, capture_id: int):
    """One touch: confirm the view the clip was saved under, or correct it to the chosen view."""
    c = conn()
    cap = clinical.get_capture(c, capture_id)
    if cap.exam_id != exam_id or cap.kind != "clip":
        abort(404)
    f = request.form
    view = f.get("corrected", "") if f.get("action") == "correct" else f.get("view", "")
    try:
        with Tx(c):
            lab = set_label(c, capture_id, view, g.user.id, g.user.username)
            audit_log("edit", "clip_label", capture_id, {"exam_id": exam_id, "view": lab.view,
                                                         "saved_view": lab.saved_view, "state": lab.state})
    except UserError as exc:
        return render_template("error.html", code=400, message=str(exc)), 400
    flash_key("el_label_saved", view=lab.view)
    return redirect(url_for("exams.detail", exam_id=exam_id) + f"#clip-{capture_id}")


def _page_state():
    from device.usecases import echo_learn as uc

    s, c = settings(), conn()
    return {"model": uc.model_status(s.data_dir, s.models_dir), "ready": uc.store_readiness(c),
            "job": uc.latest_job(c)}


@bp.route("/admin/echo-learn")
@roles_required("admin")
def page():
    error = None
    try:
        state = _page_state()
    except UserError as exc:
        state, error = None, str(exc)
    audit_log("view", "echo_learn")
    return render_template("echo_learn.html", state=state, error=error, flash=pop_flash())


@bp.route("/admin/echo-learn/learn", methods=["POST"])
@roles_required("admin")
def learn():
    from device.usecases import echo_learn as uc

    s, c = settings(), conn()
    ready = uc.store_readiness(c)
    if not uc.model_status(s.data_dir, s.models_dir)["learnable"]:
        ready["problem"] = ("the active view model has no view head on backbone features (a v1 model); site "
                            "learning needs view model v2: update the cart's models")
    if ready["problem"]:
        return render_template("error.html", code=400, message=ready["problem"]), 400
    with Tx(c):
        job_id = uc.start_job(c)
        audit_log("create", "echo_learn_job", job_id, {"clips": ready["clips"], "patients": ready["patients"]})
    flash_key("el_started")
    return redirect(url_for("echo_learn.page"))


@bp.route("/admin/echo-learn/promote", methods=["POST"])
@roles_required("admin")
def promote():
    from device.usecases import echo_learn as uc

    s, c = settings(), conn()
    try:
        job_id = int(request.form.get("job_id", ""))
        model_id = uc.promote_job_result(c, s.data_dir, s.models_dir, job_id)
    except ValueError:
        return render_template("error.html", code=400, message="no site-learning run was named; reload the page"), 400
    except UserError as exc:
        return render_template("error.html", code=400, message=str(exc)), 400
    with Tx(c):
        audit_log("edit", "echo_view_model", model_id, {"event": "promoted", "job_id": job_id})
    current_app.logger.info("site view model %s promoted by %s", model_id, g.user.username)
    flash_key("el_promoted")
    return redirect(url_for("echo_learn.page"))


@bp.route("/admin/echo-learn/rollback", methods=["POST"])
@roles_required("admin")
def rollback():
    from device.usecases import echo_learn as uc

    s, c = settings(), conn()
    try:
        a = uc.rollback(s.data_dir)
    except UserError as exc:
        return render_template("error.html", code=400, message=str(exc)), 400
    with Tx(c):
        audit_log("edit", "echo_view_model", a.active or "shipped", {"event": "rolled_back", "from": a.previous})
    flash_key("el_rolled_back")
    return redirect(url_for("echo_learn.page"))
