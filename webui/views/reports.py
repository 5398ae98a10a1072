"""Reports, exports, USB bundles and PACS sync state in the UI.

Report page: the draft is auto-filled from the store; sonographers and physicians edit the free text and confirm
or correct measurements; only a physician signs; a signed version is immutable and "Correct" starts a new version
with a reason. Signing queues the signed report's DICOM objects for the configured PACS in the same transaction.
Every view, edit, sign and export is audited. Files leave the box only to the cart's own browser (the touchscreen,
127.0.0.1), the configured PACS, or an encrypted USB bundle.
"""

from __future__ import annotations

import datetime as dt
import logging
import time

from flask import Blueprint, Response, g, redirect, render_template, request, url_for

from device.errors import UserError
from device.values import parse_number
from device.reporting import exports, signing
from device.reporting import from_store as fs
from device.reporting.echo_sections import echo_label
from device.reporting.settings import ReportSettings
from device.reporting.sign_checklist import reported_measurements, sign_checklist
from device.reports.model import SignedReportError, display_number
from device.reports.versions import changes
from device.store import clinical, reports
from device.store.db import Tx
from device.usecases import export
from webui.app import current_language
from webui.security import roles_required
from webui.views.common import audit_log, conn, flash_key, pop_flash, services, settings

log = logging.getLogger(__name__)
bp = Blueprint("reports", __name__)
EDIT_ROLES = ("sonographer", "physician")
EXPORT_ROLES = ("sonographer", "physician", "admin")
USB_ROLES = ("admin", "physician")
NAV = [("reports.usb_page", "rep_usb", USB_ROLES), ("reports.sync_page", "rep_sync", None)]
EXAM_ACTIONS = [("reports.report_page", "rep_report", None, None),
                ("reports.export_page", "rep_export", EXPORT_ROLES, None)]
FORMATS = export.FORMATS


@bp.app_template_filter("b64")
def _b64(data: bytes) -> str:
    import base64
    return base64.b64encode(data).decode("ascii")


@bp.app_context_processor
def _rep_ctx() -> dict:
    return {"rep_now": time.time()}


def _report_settings() -> ReportSettings:
    """The report settings from the app's loaded settings (the --config file's case table), never re-read."""
    return ReportSettings.from_settings(settings())


def _local_only() -> Response | None:
    """Files go only to the cart's own browser; elsewhere the PACS or an encrypted USB bundle is the way."""
    if (request.remote_addr or "") in ("127.0.0.1", "::1"):
        return None
    return Response(render_template("error.html", code=403, message_key="rep_download_local_only"), status=403)


def _diff_rows(old, new) -> list[dict[str, str]]:
    return [{"field": c.field, "old": c.old[:300], "new": c.new[:300]} for c in changes(old, new)]


# ---------------------------------------------------------------- the report page

def _page(exam_id: int, error: str | None = None, code: int = 200):
    c, svc = conn(), services()
    exam = clinical.get_exam(c, exam_id)
    hist = fs.history(c, svc.blobs, exam_id)
    row, doc = hist[-1]
    lang = current_language()
    diffs = {hist[i][0].version: _diff_rows(hist[i - 1][1], hist[i][1]) for i in range(1, len(hist))}
    signers = {u.id: u.display_name for u in _users(c)}
    return render_template("report.html", exam=exam, row=row, doc=exports.in_language(doc, lang), history=hist,
                           diffs=diffs, signers=signers, measurements=reported_measurements(c, exam_id),
                           sync=signing.sync_summary(c, exam_id), sync_target=settings().sync.target, error=error,
                           checklist=sign_checklist(c, exam_id), label=echo_label, fmt=display_number,
                           flash=pop_flash()), code


def _users(c):
    from device.store import users
    return users.list_users(c)


@bp.route("/exams/<int:exam_id>/report")
def report_page(exam_id: int):
    c, svc = conn(), services()
    clinical.get_exam(c, exam_id)
    # assembled before the write lock: decoding clips into key images takes a while, and other writers (the core's
    # clips and events, every page's audit row) would wait for it and time out under load
    fresh = fs.draft_source(c, svc.blobs, exam_id, settings().web.language, _report_settings())
    with Tx(c):
        row = fs.ensure_draft(c, svc.blobs, exam_id, settings().web.language,
                              g.user.id if g.user.role in EDIT_ROLES else None, _report_settings(), fresh=fresh)
        audit_log("view", "report", exam_id, {"version": row.version, "status": row.status})
    return _page(exam_id)


def _fail(exam_id: int, exc: UserError):
    code = 409 if isinstance(exc, SignedReportError) else 400
    if not reports.versions(conn(), exam_id):   # no report yet (the report page makes the draft): just say why
        return render_template("error.html", code=code, message=str(exc)), code
    return _page(exam_id, error=str(exc), code=code)


@bp.route("/exams/<int:exam_id>/report/text", methods=["POST"])
@roles_required(*EDIT_ROLES)
def save_text(exam_id: int):
    c, svc = conn(), services()
    try:
        with Tx(c):
            row, old, new = fs.save_text(c, svc.blobs, exam_id, request.form.get("free_text", ""), g.user.id)
            audit_log("edit", "report", exam_id, {"version": row.version, "changes": _diff_rows(old, new)})
    except UserError as exc:
        return _fail(exam_id, exc)
    flash_key("rep_saved")
    return redirect(url_for("reports.report_page", exam_id=exam_id))


@bp.route("/exams/<int:exam_id>/report/measurements/<int:measurement_id>", methods=["POST"])
@roles_required(*EDIT_ROLES)
def review_measurement(exam_id: int, measurement_id: int):
    c, svc = conn(), services()
    raw = request.form.get("value", "")
    try:
        value = None
        if request.form.get("action") != "confirm":
            value = parse_number(raw)  # ASCII digits only: float() took '1_000', Arabic-Indic digits, 1e308
        with Tx(c):
            old = {m.id: m for m in reported_measurements(c, exam_id)}.get(measurement_id)
            new_id = fs.review_measurement(c, exam_id, measurement_id, g.user.id, value)
            row = fs.ensure_draft(c, svc.blobs, exam_id, settings().web.language, g.user.id, _report_settings())
            audit_log("edit", "measurement", new_id, {
                "exam_id": exam_id, "supersedes": measurement_id, "name": old.name if old else "",
                "old": old.value if old else None, "new": value if value is not None else (old.value if old else None),
                "action": "confirm" if value is None else "edit", "report_version": row.version})
    except UserError as exc:
        return _fail(exam_id, exc)
    flash_key("rep_saved")
    return redirect(url_for("reports.report_page", exam_id=exam_id) + "#measurements")


@bp.route("/exams/<int:exam_id>/report/sign", methods=["POST"])
@roles_required("physician")
def sign(exam_id: int):
    c, svc = conn(), services()
    target = settings().sync.target

    def on_commit(row, objects):
        audit_log("sign", "report", exam_id, {"version": row.version, "signer": g.user.display_name,
                                              "queued": [o.sop_instance_uid for o in objects], "target": target})
    try:
        row, _, objects = signing.sign_and_queue(c, svc.blobs, exam_id, signer_id=g.user.id, signer_role=g.user.role,
                                                 signer_name=g.user.display_name, now=dt.datetime.now().astimezone(),
                                                 settings=_report_settings(), target=target,
                                                 language=settings().web.language, on_commit=on_commit)
    except UserError as exc:
        return _fail(exam_id, exc)
    flash_key("rep_signed", v=row.version, n=len(objects))
    return redirect(url_for("reports.report_page", exam_id=exam_id))


@bp.route("/exams/<int:exam_id>/report/correct", methods=["POST"])
@roles_required("physician")
def correct(exam_id: int):
    c, svc = conn(), services()
    reason = request.form.get("reason", "").strip()[:500]
    try:
        with Tx(c):
            row = signing.start_correction(c, svc.blobs, exam_id, reason, g.user.id)
            audit_log("edit", "report", exam_id, {"version": row.version, "event": "correction",
                                                  "amends": row.version - 1, "reason": reason})
    except UserError as exc:
        return _fail(exam_id, exc)
    flash_key("rep_correction_started", v=row.version)
    return redirect(url_for("reports.report_page", exam_id=exam_id))


def _version_doc(exam_id: int, version: int):
    row, doc = exports.export_version(conn(), services().blobs, exam_id, version)
    return row, exports.in_language(doc, current_language())


@bp.route("/exams/<int:exam_id>/report/v<int:version>.html")
def report_html(exam_id: int, version: int):
    from device.reports.html import render_html
    _, doc = _version_doc(exam_id, version)
    c = conn()
    with Tx(c):
        audit_log("view", "report", exam_id, {"version": version, "format": "html", "language": doc.language})
    return Response(render_html(doc), mimetype="text/html")


@bp.route("/exams/<int:exam_id>/report/v<int:version>.pdf")
def report_pdf(exam_id: int, version: int):
    from device.reports.pdf import render_pdf
    if (refused := _local_only()) is not None:
        return refused
    _, doc = _version_doc(exam_id, version)
    pdf = render_pdf(doc)
    c = conn()
    with Tx(c):
        audit_log("export", "report", exam_id, {"version": version, "format": "pdf", "language": doc.language,
                                                "bytes": len(pdf)})
    name = f"report_{doc.exam.accession}_v{version}_{doc.language}.pdf"
    return Response(pdf, mimetype="application/pdf", headers={"Content-Disposition": f'attachment; filename="{name}"'})


# the export, PACS sync and USB routes of this blueprint live in their own module
from webui.views import reports_exports  # noqa: E402,F401
