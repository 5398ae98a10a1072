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
import os
import re
import subprocess
import time
from pathlib import Path

from flask import Blueprint, Response, abort, current_app, g, jsonify, redirect, render_template, request, url_for

from device.errors import UserError
from device.reporting import exports, rows, signing
from device.reporting import from_store as fs
from device.reporting.settings import ReportSettings
from device.reports.model import SignedReportError
from device.reports.versions import changes
from device.store import clinical, outbox, reports
from device.jobs import find_job
from device.store.db import Tx
from device.usecases import export
from webui.app import current_language
from webui.security import roles_required, safe_local_path
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
                           diffs=diffs, signers=signers, measurements=rows.current_measurements(c, exam_id),
                           sync=signing.sync_summary(c, exam_id), sync_target=settings().sync.target, error=error,
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
    raw = request.form.get("value", "").strip().replace(",", ".")
    try:
        value = None
        if request.form.get("action") != "confirm":
            try:
                value = float(raw)
            except ValueError:
                raise UserError(f"'{raw}' is not a number; type the value with digits and a decimal point") from None
        with Tx(c):
            old = {m.id: m for m in clinical.current_measurements(c, exam_id)}.get(measurement_id)
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


# ---------------------------------------------------------------- exports of one exam

@bp.route("/exams/<int:exam_id>/export")
@roles_required(*EXPORT_ROLES)
def export_page(exam_id: int):
    c, svc = conn(), services()
    exam = clinical.get_exam(c, exam_id)
    vs = reports.versions(c, exam_id)
    signals, problems = exports.signals_of(c, svc.blobs, exam_id)
    with Tx(c):
        audit_log("view", "export", exam_id)
    try:
        chosen = exports.export_version(c, svc.blobs, exam_id, request.args.get("version", type=int))[0] if vs else None
    except UserError:
        chosen = None
    return render_template("export.html", exam=exam, versions=vs, chosen=chosen, signals=list(signals),
                           problems=problems, formats=list(FORMATS))


@bp.route("/exams/<int:exam_id>/export/<fmt>")
@roles_required(*EXPORT_ROLES)
def export_file(exam_id: int, fmt: str):
    if (refused := _local_only()) is not None:
        return refused
    got = export.exam_file(conn(), services().blobs, exam_id, fmt, request.args.get("version", type=int))
    if got is None:
        abort(404)
    data, mime, name, version = got
    audit_log("export", "report", exam_id, {"version": version, "format": fmt, "bytes": len(data)})
    return Response(data, mimetype=mime, headers={"Content-Disposition": f'attachment; filename="{name}"'})


# ---------------------------------------------------------------- PACS sync state

@bp.route("/sync")
def sync_page():
    c = conn()
    exams = clinical.list_exams(c, limit=200)
    with Tx(c):
        audit_log("view", "sync_state")
    signed = {e.id for e in exams if any(v.status == "signed" for v in reports.versions(c, e.id))}
    return render_template("report_sync.html", exams=exams, states={e.id: signing.sync_summary(c, e.id) for e in exams},
                           signed=signed,
                           sync_target=settings().sync.target, flash=pop_flash())


@bp.route("/exams/<int:exam_id>/sync/retry", methods=["POST"])
@roles_required("admin")
def sync_retry(exam_id: int):
    c = conn()
    clinical.get_exam(c, exam_id)
    with Tx(c):
        n = outbox.retry_rejected(c, exam_id)
        audit_log("sync", "exam", exam_id, {"event": "retry rejected", "objects": n})
    flash_key("rep_sync_retried", n=n)
    return redirect(safe_local_path(request.form.get("next")) or url_for("reports.sync_page"))


@bp.route("/exams/<int:exam_id>/sync/queue", methods=["POST"])
@roles_required("admin")
def sync_queue(exam_id: int):
    """Queue the latest signed version for the PACS (a report signed while sync was off)."""
    c = conn()
    clinical.get_exam(c, exam_id)
    try:
        n = signing.queue_signed(c, services().blobs, exam_id, settings().sync.target)
    except UserError as exc:
        flash_key("rep_error", msg=str(exc))
        return redirect(url_for("reports.sync_page"))
    with Tx(c):
        audit_log("sync", "exam", exam_id, {"event": "queued signed report", "objects": n})
    flash_key("rep_sync_queued", n=n)
    return redirect(url_for("reports.sync_page"))


# ---------------------------------------------------------------- USB bundles

def _drives():
    from device.sync.usb import find_usb_drives
    cfg = current_app.config
    return find_usb_drives(Path(cfg.get("USB_ROOT", "/")), statvfs=cfg.get("USB_STATVFS", os.statvfs),
                           mount_roots=settings().usb.mount_roots)


def _drive(device: str):
    d = next((d for d in _drives() if d.device == device), None)
    if d is None:
        raise UserError(f"USB drive {device or '(none chosen)'} is not connected any more; insert it and reload")
    return d


@bp.route("/usb")
@roles_required(*USB_ROLES)
def usb_page():
    c = conn()
    drives = _drives()
    bundles = {d.device: sorted(p.name for p in Path(d.mountpoint).glob("*.zip") if not p.is_symlink())
               for d in drives}
    exams = clinical.list_exams(c, limit=100)
    latest = {e.id: reports.latest(c, e.id) for e in exams}
    audit_log("view", "usb")
    try:
        export.passphrase(settings().usb.passphrase_file)
        pass_error = None
    except UserError as exc:
        pass_error = str(exc)
    return render_template("usb.html", drives=drives, bundles=bundles, exams=exams, latest=latest,
                           job=_usb_job(request.args.get("job", "")), pass_error=pass_error,
                           unset=not settings().usb.passphrase_file, flash=pop_flash())


def _usb_job(job_id: str) -> dict | None:
    try:
        job = find_job(conn(), int(job_id))
    except (ValueError, OverflowError):
        return None
    return export.usb_job_state(job) if job is not None and job.kind in (export.EXPORT, export.VERIFY) else None


@bp.route("/usb/export", methods=["POST"])
@roles_required(*USB_ROLES)
def usb_export():
    try:
        export.passphrase(settings().usb.passphrase_file)
        drive = _drive(request.form.get("drive", ""))
        ids = sorted({int(x) for x in request.form.getlist("exam_ids") if x.isascii() and x.isdigit()})
        job_id = export.enqueue_usb_export(conn(), services().blobs, drive, ids, settings().web.language,
                                           _report_settings(), (g.user.id, g.user.username))
    except UserError as exc:
        flash_key("rep_error", msg=str(exc))
        return redirect(url_for("reports.usb_page"))
    return redirect(url_for("reports.usb_page", job=job_id))


@bp.route("/usb/verify", methods=["POST"])
@roles_required(*USB_ROLES)
def usb_verify():
    try:
        export.passphrase(settings().usb.passphrase_file)
        drive = _drive(request.form.get("drive", ""))
        name = request.form.get("bundle", "")
        path = Path(drive.mountpoint) / name
        if not re.fullmatch(r"[A-Za-z0-9._-]+\.zip", name) or path.is_symlink() or not path.is_file():
            raise UserError(f"there is no bundle '{name}' on {drive.label}")
        job_id = export.enqueue_usb_verify(conn(), drive, name, (g.user.id, g.user.username))
    except UserError as exc:
        flash_key("rep_error", msg=str(exc))
        return redirect(url_for("reports.usb_page"))
    return redirect(url_for("reports.usb_page", job=job_id))


@bp.route("/usb/jobs/<job_id>")
@roles_required(*USB_ROLES)
def usb_job(job_id: str):
    job = _usb_job(job_id)
    if job is None:
        abort(404)
    return jsonify(job)


@bp.route("/usb/eject", methods=["POST"])
@roles_required(*USB_ROLES)
def usb_eject():
    from device.sync.usb import eject
    try:
        drive = _drive(request.form.get("drive", ""))
        if export.usb_busy(conn(), drive.device):
            raise UserError(f"{drive.label} is still being written or checked; wait until it finishes")
        method = eject(drive, run=current_app.config.get("USB_EJECT_RUN", subprocess.run))
        audit_log("export", "usb_drive", drive.device, {"event": "eject", "method": method})
        flash_key("rep_usb_ejected", label=drive.label)
    except UserError as exc:
        flash_key("rep_error", msg=str(exc))
    return redirect(url_for("reports.usb_page"))
