"""Export, the use case: encrypted USB bundles of exams written (``export.usb_bundle``) or checked
(``export.usb_verify``) as jobs in the worker role, never in a web request.

The web UI resolves the drive (it sees the mounts the person chose from) and queues the job with the drive's
description; the worker reads the passphrase from its own settings (``[usb] passphrase_file``, else the one an administrator
set on the USB page, :func:`passphrase_file`; never stored in the job), writes the bundle under a name fixed when it was queued (a job resumed after a kill rewrites the same file
through its temp file, never a second bundle) and records the audit row as the person who asked. One job per drive
at a time.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from device.errors import UserError
from device.store import audit, clinical
from device.store.db import Tx

log = logging.getLogger(__name__)
EXPORT = "export.usb_bundle"
VERIFY = "export.usb_verify"
PHASES = {"prepare": (0.0, 0.3), "write": (0.3, 0.85), "verify": (0.85, 1.0)}


def passphrase(path_setting: str) -> str:
    """The bundle passphrase from ``[usb] passphrase_file`` (UserError saying what to fix when unusable)."""
    from device.sync.bundle import MIN_PASSPHRASE
    if not path_setting:
        raise UserError("USB export is off: an administrator must set [usb] passphrase_file to a file (mode 0600) "
                        "holding the export passphrase")
    path = Path(path_setting)
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise UserError(f"the USB passphrase file {path} cannot be read ({exc.strerror}); an administrator must "
                        "fix [usb] passphrase_file") from None
    if mode & 0o007:
        raise UserError(f"the USB passphrase file {path} is readable by every user; an administrator must run "
                        f"chmod 600 {path}")
    if len(text) < MIN_PASSPHRASE:
        raise UserError(f"the USB passphrase is shorter than {MIN_PASSPHRASE} characters; an administrator must "
                        "set a longer one")
    return text


SITE_KEY_FILE = "usb_passphrase"      # in the data directory: the passphrase an administrator set on the USB page


def passphrase_file(settings) -> str:
    """The passphrase file in use: ``[usb] passphrase_file`` when the configuration names one, else the one an
    administrator set on the USB page (``<data_dir>/usb_passphrase``) when it exists, else "" (export off)."""
    if settings is None:
        return ""
    if settings.usb.passphrase_file:
        return str(settings.usb.passphrase_file)
    site = Path(settings.data_dir) / SITE_KEY_FILE
    return str(site) if site.exists() else ""


def set_passphrase(settings, new: str, again: str) -> Path:
    """An administrator sets the export passphrase on the USB page (issue 18 point 8: USB export without editing
    the configuration): written to ``<data_dir>/usb_passphrase``, mode 0600, atomically. Refused when the
    configuration names a passphrase file (that one rules), when the two entries differ or it is too short."""
    from device.fsutil import atomic_write_text
    from device.sync.bundle import MIN_PASSPHRASE
    if settings.usb.passphrase_file:
        raise UserError("the export passphrase is set in the configuration ([usb] passphrase_file); change it there")
    if new != again:
        raise UserError("the two passphrases differ; type the same passphrase twice")
    if len(new.strip()) < MIN_PASSPHRASE:
        raise UserError(f"the USB passphrase must have at least {MIN_PASSPHRASE} characters; choose a longer one")
    return atomic_write_text(Path(settings.data_dir) / SITE_KEY_FILE, new.strip() + "\n", mode=0o600)


def _drive_json(drive) -> dict[str, Any]:
    return {**asdict(drive), "mountpoint": str(drive.mountpoint)}


def _drive(d: dict[str, Any]):
    from device.sync.usb import UsbDrive
    return UsbDrive(**{**d, "mountpoint": Path(d["mountpoint"])})


def usb_busy(conn: sqlite3.Connection, device: str) -> bool:
    return conn.execute("SELECT 1 FROM jobs WHERE dedupe_key = ? AND state IN ('queued', 'running')",
                        (f"usb:{device}",)).fetchone() is not None


def _enqueue(conn: sqlite3.Connection, kind: str, drive, payload: dict, user: tuple[int | None, str]) -> int:
    from device.jobs import enqueue
    if usb_busy(conn, drive.device):
        raise UserError("this drive is already being written or checked; wait until that finishes")
    return enqueue(conn, kind, {**payload, "drive": _drive_json(drive), "user_id": user[0], "username": user[1]},
                   dedupe_key=f"usb:{drive.device}")


def enqueue_usb_export(conn: sqlite3.Connection, blobs, drive, exam_ids: list[int], language: str, report_settings,
                       user: tuple[int | None, str]) -> int:
    """Draft reports for the exams that have none, queue the bundle, audit the start (one transaction)."""
    from device.reporting import from_store as fs
    if not exam_ids:
        raise UserError("choose at least one exam to export")
    with Tx(conn):
        for i in exam_ids:
            clinical.get_exam(conn, i)
            fs.ensure_draft(conn, blobs, i, language, None, report_settings)
        name = "cardiocart_" + time.strftime("%Y%m%d_%H%M%S")
        job_id = _enqueue(conn, EXPORT, drive, {"exam_ids": list(exam_ids), "name": name}, user)
        audit.record(conn, user_id=user[0], username=user[1], action="export", object_type="usb_bundle",
                     object_id=job_id, detail={"event": "start", "drive": drive.device, "label": drive.label,
                                               "exams": list(exam_ids)})
    return job_id


def enqueue_usb_verify(conn: sqlite3.Connection, drive, name: str, user: tuple[int | None, str]) -> int:
    with Tx(conn):
        job_id = _enqueue(conn, VERIFY, drive, {"bundle": name}, user)
        audit.record(conn, user_id=user[0], username=user[1], action="export", object_type="usb_bundle",
                     object_id=job_id, detail={"event": "verify", "drive": drive.device, "bundle": name})
    return job_id


def _progress(progress):
    """(phase, done, total) callbacks of the bundle writer -> the job's progress (0..1) and phase name."""
    def cb(phase: str, done: int, total: int) -> None:
        lo, hi = PHASES.get(phase, (0.0, 1.0))
        progress(lo + (hi - lo) * (done / total if total else 0.0), phase)
    return cb


def _audit_end(conn, payload: dict, job_id, detail: dict) -> None:
    with Tx(conn):
        audit.record(conn, user_id=payload.get("user_id"), username=str(payload.get("username") or "worker"),
                     action="export", object_type="usb_bundle", object_id=job_id or "", detail=detail)


def usb_export_job(payload: dict, progress) -> dict:
    """Write the exams' reports, DICOM objects and signals as one encrypted bundle on the drive, and verify it."""
    from device.reporting import exports
    from device.reports.pdf import render_pdf
    from device.sync.export import exam_bundle_files, export_to_drive

    store, settings, job_id = progress.store, progress.settings, getattr(progress, "job_id", None)
    drive, exam_ids = _drive(payload["drive"]), [int(i) for i in payload["exam_ids"]]
    detail = {"event": "bundle", "drive": drive.device, "exams": exam_ids}
    try:
        pw = passphrase(passphrase_file(settings))
        cb = _progress(progress)
        files = []
        for n, exam_id in enumerate(exam_ids):
            cb("prepare", n, len(exam_ids))
            _, doc = exports.export_version(store.conn, store.blobs, exam_id)
            pdf = render_pdf(doc)
            signals, _ = exports.signals_of(store.conn, store.blobs, exam_id)
            files += exam_bundle_files(doc, pdf=pdf, objects=exports.exam_objects(store.conn, store.blobs, exam_id,
                                                                                  doc, pdf), signals=signals)
        res = export_to_drive(drive, files, pw, payload["name"], progress=cb)
    except UserError as exc:
        _audit_end(store.conn, payload, job_id, {**detail, "state": "error", "message": str(exc)})
        raise
    result = {"bundle": res.path.name, "bytes": res.size_bytes, "files": res.n_files}
    _audit_end(store.conn, payload, job_id, {**detail, "state": "done", "message": "", **result})
    return result


def usb_verify_job(payload: dict, progress) -> dict:
    """Read a bundle back from the drive and check every file against its manifest."""
    from device.sync.bundle import verify_bundle

    store, settings, job_id = progress.store, progress.settings, getattr(progress, "job_id", None)
    drive = _drive(payload["drive"])
    path = Path(drive.mountpoint) / payload["bundle"]
    detail = {"event": "verify", "bundle": path.name}
    try:
        pw = passphrase(passphrase_file(settings))
        manifest = verify_bundle(path, pw, progress=_progress(progress))
    except UserError as exc:
        _audit_end(store.conn, payload, job_id, {**detail, "state": "error", "message": str(exc)})
        raise
    result = {"bundle": path.name, "files": len(manifest.get("files", []))}
    _audit_end(store.conn, payload, job_id, {**detail, "state": "done", "message": "", **result})
    return result


def usb_job_state(job) -> dict[str, Any]:
    """The USB page's view of a job: state running | done | error, phase, done/total (percent), message, result."""
    state = {"queued": "running", "running": "running", "done": "done", "failed": "error"}[job.state]
    return {"id": job.id, "kind": "export" if job.kind == EXPORT else "verify",
            "device": job.payload.get("drive", {}).get("device", ""), "state": state,
            "phase": job.message or "prepare", "done": round(job.progress * 100), "total": 100,
            "message": job.error or "", "result": job.result if job.state == "done" else {}}


# ---------------------------------------------------------------- one exam's files (downloaded on the cart itself)

FORMATS = {"dicom.zip": "application/zip", "fhir.json": "application/fhir+json",
           "measurements.csv": "text/csv", "measurements.json": "application/json"}


def exam_file(conn: sqlite3.Connection, blobs, exam_id: int, fmt: str, version: int | None
              ) -> tuple[bytes, str, str, int] | None:
    """(bytes, media type, file name, report version) of one export of an exam's report version (the latest signed
    or draft when None): a FORMATS entry or ``signal-<name>.csv|json``; None for an unknown format or signal."""
    import io
    import re
    import zipfile

    from device.reporting import exports
    from device.reports.fhir import bundle_json
    from device.reports.pdf import render_pdf
    from device.reports.tabular import measurements_csv, measurements_json, signal_csv, signal_json

    row, doc = exports.export_version(conn, blobs, exam_id, version)
    base = f"{doc.exam.accession}_v{row.version}"
    m = re.fullmatch(r"signal-(.+)\.(csv|json)", fmt)
    if m:
        signals, _ = exports.signals_of(conn, blobs, exam_id)
        if m.group(1) not in signals:
            return None
        sig = signals[m.group(1)]
        data = (signal_csv(sig) if m.group(2) == "csv" else signal_json(sig)).encode("utf-8")
        return data, ("text/csv" if m.group(2) == "csv" else "application/json"), f"{base}_signal_{fmt[7:]}", \
            row.version
    if fmt not in FORMATS:
        return None
    if fmt == "measurements.csv":
        data = measurements_csv(doc).encode("utf-8")
    elif fmt == "measurements.json":
        data = measurements_json(doc).encode("utf-8")
    else:
        pdf = render_pdf(doc)
        if fmt == "fhir.json":
            data = bundle_json(doc, pdf).encode("utf-8")
        else:
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
                for o in exports.exam_objects(conn, blobs, exam_id, doc, pdf):
                    zf.writestr(f"DICOM/{o.filename()}", o.to_bytes())
            data = buf.getvalue()
    return data, FORMATS[fmt], f"{base}_{fmt}", row.version
