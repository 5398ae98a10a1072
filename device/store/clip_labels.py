"""Clip view labels: the view a clip was saved under, confirmed or corrected by a sonographer (migration 0003).

Only confirmed or corrected clips teach the cart its site's views (device/usecases/echo_learn.py).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from device.echo.protocol import STANDARD_VIEWS
from device.errors import InputError, UserError

LABEL_CHOICES: tuple[str, ...] = (*STANDARD_VIEWS, "OTHER")


@dataclass(frozen=True)
class ClipLabel:
    capture_id: int
    view: str          # the label that teaches: saved_view when confirmed, the correction otherwise
    saved_view: str    # the protocol item the clip was saved under
    state: str         # 'confirmed' | 'corrected'
    username: str
    at: str


@dataclass(frozen=True)
class LabelledClip:
    capture_id: int
    blob_sha256: str
    view: str
    patient_id: str
    exam_id: int


def set_label(conn: sqlite3.Connection, capture_id: int, view: str, user_id: int | None, username: str) -> ClipLabel:
    """Confirm (view == the saved view) or correct (another view) one clip's label. Call inside a transaction."""
    if view not in LABEL_CHOICES:
        raise InputError(f"unknown view '{view}'; choose one of {', '.join(LABEL_CHOICES)}")
    r = conn.execute("SELECT kind, label FROM captures WHERE id = ?", (int(capture_id),)).fetchone()
    if r is None or r["kind"] != "clip":
        raise UserError(f"no echo clip with id {capture_id}; reload the exam page")
    saved = str(r["label"])
    state = "confirmed" if view == saved else "corrected"
    conn.execute("INSERT INTO clip_labels(capture_id, view, saved_view, state, user_id, username) VALUES (?,?,?,?,?,?) "
                 "ON CONFLICT(capture_id) DO UPDATE SET view = excluded.view, state = excluded.state, "
                 "user_id = excluded.user_id, username = excluded.username, "
                 "at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
                 (int(capture_id), view, saved, state, user_id, username))
    r = conn.execute("SELECT * FROM clip_labels WHERE capture_id = ?", (int(capture_id),)).fetchone()
    return _row(r)


def _row(r: sqlite3.Row) -> ClipLabel:
    return ClipLabel(int(r["capture_id"]), r["view"], r["saved_view"], r["state"], r["username"], r["at"])


def get_label(conn: sqlite3.Connection, capture_id: int) -> ClipLabel | None:
    r = conn.execute("SELECT * FROM clip_labels WHERE capture_id = ?", (int(capture_id),)).fetchone()
    return _row(r) if r else None


def labels_for_exam(conn: sqlite3.Connection, exam_id: int) -> dict[int, ClipLabel]:
    """capture id -> its confirmed/corrected label, for the clips of one exam."""
    rows = conn.execute("SELECT l.* FROM clip_labels l JOIN captures c ON c.id = l.capture_id WHERE c.exam_id = ?",
                        (int(exam_id),))
    return {int(r["capture_id"]): _row(r) for r in rows}


def confirmed_clips(conn: sqlite3.Connection) -> list[LabelledClip]:
    """Every echo clip whose label a sonographer confirmed or corrected, with its patient (for the split)."""
    rows = conn.execute(
        "SELECT c.id, c.blob_sha256, l.view, p.patient_id, e.id AS exam_id FROM clip_labels l "
        "JOIN captures c ON c.id = l.capture_id JOIN exams e ON e.id = c.exam_id "
        "JOIN patients p ON p.id = e.patient_ref WHERE c.kind = 'clip' ORDER BY c.id")
    return [LabelledClip(int(r["id"]), r["blob_sha256"], r["view"], r["patient_id"], int(r["exam_id"])) for r in rows]
