"""The sync outbox: one row per (target, SOP Instance UID), so an object is queued and sent at most once."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class OutboxItem:
    id: int
    exam_id: int
    target: str
    object_kind: str
    sop_instance_uid: str
    blob_sha256: str
    state: str
    attempts: int
    next_attempt_at: float
    last_error: str


def _row(r: sqlite3.Row) -> OutboxItem:
    return OutboxItem(r["id"], r["exam_id"], r["target"], r["object_kind"], r["sop_instance_uid"], r["blob_sha256"],
                      r["state"], r["attempts"], r["next_attempt_at"], r["last_error"])


def enqueue(conn: sqlite3.Connection, exam_id: int, target: str, object_kind: str, sop_instance_uid: str,
            blob_sha256: str) -> bool:
    """Queue an object; a second enqueue of the same UID for the same target is a no-op. True if newly queued."""
    cur = conn.execute("INSERT OR IGNORE INTO outbox(exam_id, target, object_kind, sop_instance_uid, blob_sha256) "
                       "VALUES (?,?,?,?,?)", (exam_id, target, object_kind, sop_instance_uid, blob_sha256))
    return cur.rowcount == 1


def claim_next(conn: sqlite3.Connection, target: str, now: float | None = None) -> OutboxItem | None:
    """Take the oldest due item. Items left 'sending' by a killed worker are due again (the worker checks the PACS)."""
    now = time.time() if now is None else now
    conn.execute("BEGIN IMMEDIATE")
    try:
        r = conn.execute("SELECT * FROM outbox WHERE target = ? AND state IN ('pending', 'sending', 'failed') "
                         "AND next_attempt_at <= ? ORDER BY id LIMIT 1", (target, now)).fetchone()
        if r is not None:
            conn.execute("UPDATE outbox SET state = 'sending', attempts = attempts + 1 WHERE id = ?", (r["id"],))
            r = conn.execute("SELECT * FROM outbox WHERE id = ?", (r["id"],)).fetchone()
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return _row(r) if r else None


def mark_sent(conn: sqlite3.Connection, item_id: int) -> None:
    conn.execute("UPDATE outbox SET state = 'sent', last_error = '', sent_at = strftime('%Y-%m-%dT%H:%M:%fZ','now') "
                 "WHERE id = ?", (item_id,))


def mark_failed(conn: sqlite3.Connection, item_id: int, error: str, retry_at: float | None) -> None:
    """Sending failed; retry at ``retry_at``. None: the PACS refused the object ('rejected': a person must look)."""
    if retry_at is None:
        conn.execute("UPDATE outbox SET state = 'rejected', last_error = ? WHERE id = ?", (error[:500], item_id))
    else:
        conn.execute("UPDATE outbox SET state = 'failed', last_error = ?, next_attempt_at = ? WHERE id = ?",
                     (error[:500], retry_at, item_id))


def retry_rejected(conn: sqlite3.Connection, exam_id: int) -> int:
    """A person fixed the cause: offer the exam's rejected objects again."""
    return conn.execute("UPDATE outbox SET state = 'pending', next_attempt_at = 0 WHERE exam_id = ? AND state = 'rejected'",
                        (exam_id,)).rowcount


def exam_sync_state(conn: sqlite3.Connection, exam_id: int) -> dict[str, int]:
    rows = conn.execute("SELECT state, count(*) n FROM outbox WHERE exam_id = ? GROUP BY state", (exam_id,))
    return {r["state"]: r["n"] for r in rows}


def items(conn: sqlite3.Connection, target: str | None = None) -> list[OutboxItem]:
    if target:
        return [_row(r) for r in conn.execute("SELECT * FROM outbox WHERE target = ? ORDER BY id", (target,))]
    return [_row(r) for r in conn.execute("SELECT * FROM outbox ORDER BY id")]
