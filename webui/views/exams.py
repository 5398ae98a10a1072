"""Exam list, new exam (patient ID from a barcode scanner), exam detail."""

from __future__ import annotations

import json

from flask import Blueprint, Response, g, jsonify, redirect, render_template, request, url_for

from device.errors import UserError
from device.i18n import message
from device.jobs import jobs_of_exam
from device.reporting.echo_sections import echo_label
from device.reporting.ecg_sections import reading_measurements, reading_used_section
from device.reporting.ecg_readings import report_reading
from device.reporting.signing import sync_summary
from device.reports.model import display_number
from device.store import clinical, reports
from device.store.db import Tx
from device.values import parse_number
from webui.app import current_language
from webui.security import roles_required
from webui.views.common import audit_log, conn, flash_key, pop_flash, settings

bp = Blueprint("exams", __name__)
CLINICAL = ("sonographer", "physician", "admin")


@bp.route("/")
def index():
    c = conn()
    exams = clinical.list_exams(c, limit=200)
    sync = {e.id: sync_summary(c, e.id) for e in exams}
    audit_log("view", "exam_list")
    return render_template("exams.html", exams=exams, sync=sync, flash=pop_flash())


@bp.route("/exams/new", methods=["GET", "POST"])
@roles_required("sonographer", "physician")
def new():
    error = None
    form = request.form
    if request.method == "POST":
        try:
            c = conn()
            with Tx(c):
                p = clinical.upsert_patient(c, form.get("patient_id", ""), form.get("name", ""), form.get("sex", "U"),
                                            form.get("birth_date", ""))
                kind = form.get("kind", "echo")
                protocol = settings().echo.protocol if kind == "echo" else []
                e = clinical.create_exam(c, p, kind, g.user.id, protocol, height_cm=_number(form, "height_cm"),
                                         weight_kg=_number(form, "weight_kg"),
                                         indication=form.get("indication", ""))
                audit_log("create", "exam", e.id, {"patient_id": p.patient_id, "kind": kind})
            flash_key("exam_created")
            return redirect(url_for("live.page") if e.kind == "echo" else url_for("exams.detail", exam_id=e.id))
        except UserError as exc:
            from webui.app import current_language
            error = message(current_language(), str(exc))
    return render_template("exam_new.html", error=error, form=form), (400 if error else 200)


@bp.route("/exams/new/patient")
@roles_required("sonographer", "physician")
def patient_lookup():
    """A scanned (or typed) patient ID: the patient's name, sex and birth date when the cart knows the ID, so the
    new-exam form fills itself (audited as a view of the patient); {"found": false} otherwise."""
    c = conn()
    try:
        p = clinical.get_patient_by_pid(c, clinical.normalise_patient_id(request.args.get("patient_id", "")))
    except UserError:
        return jsonify({"found": False})
    audit_log("view", "patient", p.id, {"patient_id": p.patient_id, "event": "lookup"})
    body = json.dumps({"found": True, "patient_id": p.patient_id, "name": p.name, "sex": p.sex,
                       "birth_date": p.birth_date}, ensure_ascii=False)
    # HTML-safe JSON: stored markup in a name never appears as markup, even where the response is shown as a page
    body = body.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Response(body, mimetype="application/json")


def _number(form, name: str) -> float | None:
    """An optional typed number of the form (blank: not recorded); InputError names a malformed one."""
    raw = form.get(name, "").strip()
    return parse_number(raw) if raw else None


@bp.route("/exams/<int:exam_id>")
def detail(exam_id: int):
    c = conn()
    exam = clinical.get_exam(c, exam_id)
    audit_log("view", "exam", exam_id, {"patient_id": exam.patient.patient_id})
    choice = report_reading(c, exam_id)        # ECG: only the reading the report uses, and a line saying which
    ecg_used = reading_used_section(choice, current_language()).title if choice and choice.n_readings > 1 else ""
    return render_template("exam.html", exam=exam, captures=clinical.list_captures(c, exam_id),
                           measurements=reading_measurements(c, exam_id), ecg_used=ecg_used,
                           findings=clinical.list_findings(c, exam_id), report=reports.latest(c, exam_id),
                           sync=sync_summary(c, exam_id), jobs=jobs_of_exam(c, exam_id, active_only=True),
                           flash=pop_flash(), label=echo_label, fmt=display_number)


@bp.route("/exams/<int:exam_id>/close", methods=["POST"])
@roles_required(*CLINICAL)
def close(exam_id: int):
    c = conn()
    with Tx(c):
        clinical.close_exam(c, exam_id)
        audit_log("edit", "exam", exam_id, {"status": "closed"})
    return redirect(url_for("exams.detail", exam_id=exam_id))
