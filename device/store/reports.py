"""Report versions. Drafts are edited in place; a signed version is immutable (also enforced by a trigger)."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from device.errors import UserError
from device.store.db import inserted_id


@dataclass(frozen=True)
class ReportVersion:
    id: int
    exam_id: int
    version: int
    content: dict[str, Any]
    status: str
    author_id: int | None
    signer_id: int | None
    signed_at: str | None
    created_at: str


def _row(r: sqlite3.Row) -> ReportVersion:
    return ReportVersion(r["id"], r["exam_id"], r["version"], json.loads(r["content"]), r["status"], r["author_id"],
                         r["signer_id"], r["signed_at"], r["created_at"])


def latest(conn: sqlite3.Connection, exam_id: int) -> ReportVersion | None:
    r = conn.execute("SELECT * FROM reports WHERE exam_id = ? ORDER BY version DESC LIMIT 1", (exam_id,)).fetchone()
    return _row(r) if r else None


def versions(conn: sqlite3.Connection, exam_id: int) -> list[ReportVersion]:
    return [_row(r) for r in conn.execute("SELECT * FROM reports WHERE exam_id = ? ORDER BY version", (exam_id,))]


def save_draft(conn: sqlite3.Connection, exam_id: int, content: dict[str, Any], author_id: int | None) -> ReportVersion:
    """Update the open draft, or start a new version when there is none or the latest one is signed."""
    cur = latest(conn, exam_id)
    body = json.dumps(content, ensure_ascii=False, default=float)
    if cur is not None and cur.status == "draft":
        conn.execute("UPDATE reports SET content = ?, author_id = ? WHERE id = ?", (body, author_id, cur.id))
        rid = cur.id
    else:
        version = 1 if cur is None else cur.version + 1
        rid = inserted_id(conn.execute("INSERT INTO reports(exam_id, version, content, author_id) VALUES (?,?,?,?)",
                                       (exam_id, version, body, author_id)))
    return _row(conn.execute("SELECT * FROM reports WHERE id = ?", (rid,)).fetchone())


def sign(conn: sqlite3.Connection, exam_id: int, signer_id: int, signer_role: str) -> ReportVersion:
    if signer_role != "physician":
        raise UserError("only a physician can sign a report; ask a physician to sign it")
    cur = latest(conn, exam_id)
    if cur is None:
        raise UserError("there is no report to sign; fill in the report first")
    if cur.status == "signed":
        raise UserError(f"version {cur.version} is already signed; edit to start a corrected version")
    conn.execute("UPDATE reports SET status = 'signed', signer_id = ?, signed_at = strftime('%Y-%m-%dT%H:%M:%fZ','now') "
                 "WHERE id = ?", (signer_id, cur.id))
    return _row(conn.execute("SELECT * FROM reports WHERE id = ?", (cur.id,)).fetchone())
