"""The report blueprint's exports: one exam's files (on the cart's own browser), the PACS sync state, and USB
bundles (written and checked by jobs in the worker role, device.usecases.export). Routes of ``reports.bp``."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from flask import Response, abort, current_app, g, jsonify, redirect, render_template, request, url_for

from device.errors import UserError
from device.jobs import find_job
from device.reporting import exports, signing
from device.store import clinical, outbox, reports
from device.store.db import Tx
from device.usecases import export
from webui.security import roles_required, safe_local_path
from webui.views.common import audit_log, conn, flash_key, pop_flash, services, settings
from webui.views.reports import EXPORT_ROLES, FORMATS, USB_ROLES, _local_only, _report_settings, bp


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
        export.passphrase(export.passphrase_file(settings()))
        pass_error = None
    except UserError as exc:
        pass_error = str(exc)
    return render_template("usb.html", drives=drives, bundles=bundles, exams=exams, latest=latest,
                           job=_usb_job(request.args.get("job", "")), pass_error=pass_error,
                           unset=not export.passphrase_file(settings()),
                           configured=bool(settings().usb.passphrase_file), flash=pop_flash())


@bp.route("/usb/passphrase", methods=["POST"])
@roles_required("admin")
def usb_passphrase():
    """An administrator sets the export passphrase here instead of editing the configuration (audited; the
    passphrase itself is never logged)."""
    try:
        export.set_passphrase(settings(), request.form.get("passphrase", ""), request.form.get("passphrase2", ""))
    except UserError as exc:
        flash_key("rep_error", msg=str(exc))
        return redirect(url_for("reports.usb_page"))
    audit_log("admin", "usb_passphrase", None, {"event": "set"})
    flash_key("rep_usb_passphrase_set")
    return redirect(url_for("reports.usb_page"))


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
        export.passphrase(export.passphrase_file(settings()))
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
        export.passphrase(export.passphrase_file(settings()))
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
