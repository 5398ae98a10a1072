"""Signing, correcting and PACS sync of an exam's report: the signed content, the signature and the signed
report's DICOM objects (as blobs + outbox rows) are written in one transaction."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable, Sequence

from device.errors import InputError, UserError
from device.reporting.exports import exam_objects
from device.reporting.from_store import doc_of, doc_to_content, ensure_draft
from device.reporting.settings import ReportSettings
from device.reports.dicom.common import DicomObject
from device.reports.model import ReportDoc, SignedReportError, correct, sign
from device.store import outbox, reports
from device.store.blobs import BlobStore, put_blob
from device.store.db import Tx
from device.sync.state import ExamSyncState, exam_sync_state


def sign_and_queue(conn: sqlite3.Connection, blobs: BlobStore, exam_id: int, *, signer_id: int, signer_role: str,
                   signer_name: str, now: dt.datetime, settings: ReportSettings, target: str = "none",
                   language: str = "en",
                   on_commit: Callable[[reports.ReportVersion, list[DicomObject]], None] | None = None
                   ) -> tuple[reports.ReportVersion, ReportDoc, list[DicomObject]]:
    """Sign the exam's draft. The signed content, the signature and (when ``target`` is not ``"none"``) the
    signed report's DICOM objects as blobs + outbox rows are written in ONE transaction, which this function
    opens (call it outside a Tx); ``language`` is used only when the exam has no report yet. ``on_commit(row, objects)`` runs inside that transaction (e.g. the audit row).
    The PDF and objects are rendered before the transaction; if the draft changed meanwhile, nothing is signed.
    """
    if signer_role != "physician":
        raise UserError("only a physician can sign a report; ask a physician to sign it")
    with Tx(conn):
        draft = ensure_draft(conn, blobs, exam_id, language, signer_id, settings)
    if draft.status == "signed":
        raise SignedReportError(f"version {draft.version} is already signed; use Correct to start a new version")
    doc = sign(doc_of(blobs, draft), signer_name, now)
    objects: list[DicomObject] = []
    if target != "none":
        from device.reports.pdf import render_pdf
        objects = exam_objects(conn, blobs, exam_id, doc, render_pdf(doc))
    with Tx(conn):
        cur = reports.latest(conn, exam_id)
        if cur is None or cur.id != draft.id or cur.status != "draft" or cur.content != draft.content:
            raise UserError("the report changed while it was being signed; review it and sign again")
        reports.save_draft(conn, exam_id, doc_to_content(conn, blobs, doc), cur.author_id)
        row = reports.sign(conn, exam_id, signer_id, signer_role)
        enqueue_objects(conn, blobs, exam_id, objects, target)
        if on_commit:
            on_commit(row, objects)
    return row, doc, objects


def enqueue_objects(conn: sqlite3.Connection, blobs: BlobStore, exam_id: int, objects: Sequence[DicomObject],
                    target: str) -> int:
    """Write each object as a blob and queue it for ``target`` (an object already queued is not queued again).
    Returns how many were newly queued. Run inside a Tx."""
    n = 0
    for o in objects:
        sha = put_blob(conn, blobs, o.to_bytes(), "application/dicom")
        n += outbox.enqueue(conn, exam_id, target, o.kind, o.sop_instance_uid, sha)
    return n


def queue_signed(conn: sqlite3.Connection, blobs: BlobStore, exam_id: int, target: str) -> int:
    """Queue the latest signed version's objects (e.g. it was signed while sync was off). Opens its own Tx."""
    if target == "none":
        raise UserError("PACS sync is off ([sync] target = none); an administrator must configure a PACS first")
    signed = [v for v in reports.versions(conn, exam_id) if v.status == "signed"]
    if not signed:
        raise UserError("this exam has no signed report; only signed reports are sent to the PACS")
    doc = doc_of(blobs, signed[-1])
    from device.reports.pdf import render_pdf
    objects = exam_objects(conn, blobs, exam_id, doc, render_pdf(doc))
    with Tx(conn):
        return enqueue_objects(conn, blobs, exam_id, objects, target)


def start_correction(conn: sqlite3.Connection, blobs: BlobStore, exam_id: int, reason: str,
                     author_id: int | None) -> reports.ReportVersion:
    """A new draft version amending the signed latest one, with ``reason``. Run inside a Tx."""
    cur = reports.latest(conn, exam_id)
    if cur is None or cur.status != "signed":
        raise InputError("only a signed report can be corrected; edit the draft instead")
    new = correct(doc_of(blobs, cur), reason)
    return reports.save_draft(conn, exam_id, doc_to_content(conn, blobs, new), author_id)


def sync_summary(conn: sqlite3.Connection, exam_id: int) -> ExamSyncState:
    """The exam's PACS sync state from its outbox rows (see device.sync.state)."""
    rows = conn.execute("SELECT state, next_attempt_at, last_error FROM outbox WHERE exam_id = ? ORDER BY id",
                        (exam_id,)).fetchall()
    return exam_sync_state((r["state"], r["next_attempt_at"] if r["state"] == "failed" else None, r["last_error"])
                           for r in rows)
