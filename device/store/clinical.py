"""Patients, exams, captures, findings, measurements, alerts and live events: repository functions."""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from pydicom.uid import generate_uid

from device.domain.records import Alert, Capture, Exam, Finding, Measurement, Patient
from device.errors import UserError
from device.store.blobs import BlobStore, put_blob
from device.store.db import inserted_id

EXAM_KINDS = ("echo", "ecg", "perfusion")
_PID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-/^]{0,63}$")


def normalise_patient_id(raw: str) -> str:
    """Accept what a barcode scanner types (trailing CR/LF/TAB, surrounding spaces); refuse anything else odd."""
    pid = raw.strip().strip("\r\n\t")
    if not _PID.match(pid):
        raise UserError("a patient ID is 1-64 letters, digits or . _ - / ^ (scan the wristband barcode or type it)")
    return pid


def upsert_patient(conn: sqlite3.Connection, patient_id: str, name: str = "", sex: str = "U",
                   birth_date: str = "") -> Patient:
    pid = normalise_patient_id(patient_id)
    sex = (sex or "U").upper()[:1]
    if sex not in "MFOU":
        raise UserError("sex must be M, F, O or U (unknown)")
    if birth_date and not re.match(r"^\d{4}-\d{2}-\d{2}$", birth_date):
        raise UserError("birth date must be YYYY-MM-DD")
    conn.execute("INSERT INTO patients(patient_id, name, sex, birth_date) VALUES (?,?,?,?) "
                 "ON CONFLICT(patient_id) DO UPDATE SET name = CASE WHEN excluded.name != '' THEN excluded.name ELSE name END, "
                 "sex = CASE WHEN excluded.sex != 'U' THEN excluded.sex ELSE sex END, "
                 "birth_date = CASE WHEN excluded.birth_date != '' THEN excluded.birth_date ELSE birth_date END",
                 (pid, name.strip()[:128], sex, birth_date))
    return get_patient_by_pid(conn, pid)


def get_patient_by_pid(conn: sqlite3.Connection, pid: str) -> Patient:
    r = conn.execute("SELECT * FROM patients WHERE patient_id = ?", (pid,)).fetchone()
    if r is None:
        raise UserError(f"no patient with ID {pid}")
    return Patient(r["id"], r["patient_id"], r["name"], r["sex"], r["birth_date"])


def _patient(conn: sqlite3.Connection, ref: int) -> Patient:
    r = conn.execute("SELECT * FROM patients WHERE id = ?", (ref,)).fetchone()
    return Patient(r["id"], r["patient_id"], r["name"], r["sex"], r["birth_date"])


def create_exam(conn: sqlite3.Connection, patient: Patient, kind: str, created_by: int | None,
                protocol: Sequence[str] = (), *, height_cm: float | None = None, weight_kg: float | None = None,
                indication: str = "") -> Exam:
    if kind not in EXAM_KINDS:
        raise UserError(f"exam kind '{kind}' is not valid; choose one of: {', '.join(EXAM_KINDS)}")
    body = _body(height_cm, weight_kg, indication)
    accession = f"CC{time.strftime('%Y%m%d%H%M%S')}{int(time.time() * 1000) % 1000:03d}"
    for _ in range(5):
        try:
            cur = conn.execute("INSERT INTO exams(patient_ref, kind, accession, study_uid, protocol, created_by, "
                               "height_cm, weight_kg, indication) VALUES (?,?,?,?,?,?,?,?,?)",
                               (patient.id, kind, accession, generate_uid(), json.dumps(list(protocol)), created_by,
                                *body))
            return get_exam(conn, inserted_id(cur))
        except sqlite3.IntegrityError:
            accession = accession[:-3] + f"{(int(accession[-3:]) + 1) % 1000:03d}"
    raise UserError("could not allocate an accession number; try again")


def _body(height_cm: float | None, weight_kg: float | None, indication: str) -> tuple[float | None, float | None, str]:
    """Checked (height_cm, weight_kg, indication): each number None or inside its physiological range."""
    from device.values import check
    return (None if height_cm is None else check("height_cm", float(height_cm)),
            None if weight_kg is None else check("weight_kg", float(weight_kg)),
            " ".join((indication or "").split())[:200])


def set_exam_body(conn: sqlite3.Connection, exam_id: int, height_cm: float | None, weight_kg: float | None,
                  indication: str) -> Exam:
    """Record the patient's height, weight and the indication of an exam (InputError for a value out of range)."""
    from device.values import bsa_m2, check_derived, reindexed
    h, w, ind = _body(height_cm, weight_kg, indication)
    conn.execute("UPDATE exams SET height_cm = ?, weight_kg = ?, indication = ? WHERE id = ?", (h, w, ind, exam_id))
    # stored indexed values (by BSA) follow the new height and weight, as edited rows superseding the old ones
    for cap in {m.capture_id for m in current_measurements(conn, exam_id)}:
        cur = {m.name: m for m in current_measurements(conn, exam_id) if m.capture_id == cap}
        new = {k: v for k, v in reindexed({k: m.value for k, m in cur.items()}, bsa_m2(h, w)).items()
               if v != cur[k].value}
        check_derived(new, "weight_kg")
        for k, v in new.items():
            d = cur[k]
            add_measurement(conn, exam_id, d.capture_id, k, v, d.unit, d.model_name, d.model_version, d.frames,
                            source="edited", edited_by=d.edited_by, supersedes=d.id)
    return get_exam(conn, exam_id)


def _exam(conn: sqlite3.Connection, r: sqlite3.Row) -> Exam:
    return Exam(r["id"], _patient(conn, r["patient_ref"]), r["kind"], r["accession"], r["study_uid"], r["status"],
                tuple(json.loads(r["protocol"])), r["created_at"], r["height_cm"], r["weight_kg"], r["indication"])


def _sql_id(i: int) -> int:
    """An id typed or sent by a person, as SQLite can hold it (-1: none is that large, so nothing is found)."""
    return i if -2**63 <= i < 2**63 else -1


def get_exam(conn: sqlite3.Connection, exam_id: int) -> Exam:
    r = conn.execute("SELECT * FROM exams WHERE id = ?", (_sql_id(exam_id),)).fetchone()
    if r is None:
        raise UserError(f"no exam with id {exam_id}")
    return _exam(conn, r)


def list_exams(conn: sqlite3.Connection, limit: int = 100, status: str | None = None) -> list[Exam]:
    if status:
        rows = conn.execute("SELECT * FROM exams WHERE status = ? ORDER BY id DESC LIMIT ?", (status, limit))
    else:
        rows = conn.execute("SELECT * FROM exams ORDER BY id DESC LIMIT ?", (limit,))
    return [_exam(conn, r) for r in rows.fetchall()]


def set_exam_protocol(conn: sqlite3.Connection, exam_id: int, protocol: Sequence[str]) -> None:
    conn.execute("UPDATE exams SET protocol = ? WHERE id = ?", (json.dumps(list(protocol)), exam_id))


def close_exam(conn: sqlite3.Connection, exam_id: int) -> None:
    conn.execute("UPDATE exams SET status = 'closed' WHERE id = ?", (exam_id,))


def active_exam(conn: sqlite3.Connection, kind: str = "echo") -> Exam | None:
    r = conn.execute("SELECT * FROM exams WHERE status = 'open' AND kind = ? ORDER BY id DESC LIMIT 1",
                     (kind,)).fetchone()
    return _exam(conn, r) if r else None


def add_capture(conn: sqlite3.Connection, blobs: BlobStore, exam_id: int, kind: str, data: bytes, media_type: str,
                label: str = "", quality: float | None = None, meta: dict[str, Any] | None = None) -> Capture:
    """Store the payload as a blob and its capture row (call inside a transaction with related rows)."""
    digest = put_blob(conn, blobs, data, media_type)
    cur = conn.execute("INSERT INTO captures(exam_id, kind, blob_sha256, label, quality, meta) VALUES (?,?,?,?,?,?)",
                       (exam_id, kind, digest, label, quality, json.dumps(meta or {})))
    return get_capture(conn, inserted_id(cur))


def _capture(r: sqlite3.Row) -> Capture:
    return Capture(r["id"], r["exam_id"], r["kind"], r["blob_sha256"], r["label"], r["quality"],
                   json.loads(r["meta"]), r["created_at"])


def get_capture(conn: sqlite3.Connection, capture_id: int) -> Capture:
    r = conn.execute("SELECT * FROM captures WHERE id = ?", (_sql_id(capture_id),)).fetchone()
    if r is None:
        raise UserError(f"no capture with id {capture_id}")
    return _capture(r)


def list_captures(conn: sqlite3.Connection, exam_id: int) -> list[Capture]:
    return [_capture(r) for r in conn.execute("SELECT * FROM captures WHERE exam_id = ? ORDER BY id", (exam_id,))]


def add_finding(conn: sqlite3.Connection, exam_id: int, capture_id: int | None, kind: str, label: str,
                score: float | None, model_name: str, model_version: str, detail: dict[str, Any] | None = None) -> int:
    cur = conn.execute("INSERT INTO findings(exam_id, capture_id, kind, label, score, model_name, model_version, detail) "
                       "VALUES (?,?,?,?,?,?,?,?)", (exam_id, capture_id, kind, label, score, model_name, model_version,
                                                     json.dumps(detail or {}, default=float)))
    return inserted_id(cur)


def findings(conn: sqlite3.Connection, exam_id: int) -> list[Finding]:
    """The exam's findings, oldest first."""
    return [Finding(r["id"], r["exam_id"], r["capture_id"], r["kind"], r["label"], r["score"], r["model_name"],
                    r["model_version"], json.loads(r["detail"]), r["confirmed_by"], r["created_at"])
            for r in conn.execute("SELECT * FROM findings WHERE exam_id = ? ORDER BY id", (exam_id,))]


def list_findings(conn: sqlite3.Connection, exam_id: int) -> list[dict[str, Any]]:
    """:func:`findings` as dicts (templates and JSON)."""
    return [asdict(f) for f in findings(conn, exam_id)]


def add_measurement(conn: sqlite3.Connection, exam_id: int, capture_id: int | None, name: str, value: float, unit: str,
                    model_name: str, model_version: str, frames: Sequence[int] = (), source: str = "auto",
                    edited_by: int | None = None, supersedes: int | None = None) -> int:
    if value != value:  # NaN: no invented numbers
        raise UserError(f"measurement {name} has no value; it was not stored")
    cur = conn.execute("INSERT INTO measurements(exam_id, capture_id, name, value, unit, model_name, model_version, "
                       "frames, source, edited_by, supersedes) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                       (exam_id, capture_id, name, float(value), unit, model_name, model_version,
                        json.dumps([int(f) for f in frames]), source, edited_by, supersedes))
    return inserted_id(cur)


def current_measurements(conn: sqlite3.Connection, exam_id: int) -> list[Measurement]:
    """The latest value of each measurement (edited values supersede automatic ones)."""
    rows = conn.execute("SELECT * FROM measurements m WHERE exam_id = ? AND NOT EXISTS "
                        "(SELECT 1 FROM measurements n WHERE n.supersedes = m.id) ORDER BY id", (exam_id,))
    return [Measurement(r["id"], r["exam_id"], r["capture_id"], r["name"], r["value"], r["unit"], r["model_name"],
                        r["model_version"], tuple(json.loads(r["frames"])), r["source"], r["supersedes"],
                        r["created_at"], r["edited_by"]) for r in rows]


def add_alert(conn: sqlite3.Connection, exam_id: int | None, level: str, code: str, message: str,
              detail: dict[str, Any] | None = None) -> int:
    cur = conn.execute("INSERT INTO alerts(exam_id, level, code, message, detail) VALUES (?,?,?,?,?)",
                       (exam_id, level, code, message, json.dumps(detail or {}, default=float)))
    return inserted_id(cur)


def alerts(conn: sqlite3.Connection, unacknowledged_only: bool = True, limit: int = 50) -> list[Alert]:
    """The newest alerts first (only those waiting to be acknowledged, unless ``unacknowledged_only`` is False)."""
    q = "SELECT * FROM alerts" + (" WHERE acknowledged_at IS NULL" if unacknowledged_only else "") + \
        " ORDER BY id DESC LIMIT ?"
    return [Alert(r["id"], r["exam_id"], r["level"], r["code"], r["message"], json.loads(r["detail"]),
                  r["created_at"], r["acknowledged_by"], r["acknowledged_at"]) for r in conn.execute(q, (limit,))]


def list_alerts(conn: sqlite3.Connection, unacknowledged_only: bool = True, limit: int = 50) -> list[dict[str, Any]]:
    """:func:`alerts` as dicts (templates and JSON)."""
    return [asdict(a) for a in alerts(conn, unacknowledged_only, limit)]


def acknowledge_alert(conn: sqlite3.Connection, alert_id: int, user_id: int) -> None:
    conn.execute("UPDATE alerts SET acknowledged_by = ?, acknowledged_at = strftime('%Y-%m-%dT%H:%M:%fZ','now') "
                 "WHERE id = ? AND acknowledged_at IS NULL", (user_id, alert_id))


def add_event(conn: sqlite3.Connection, kind: str, payload: dict[str, Any], exam_id: int | None = None,
              at_unix: float | None = None, keep: int = 5000) -> int:
    cur = conn.execute("INSERT INTO events(at_unix, kind, exam_id, payload) VALUES (?,?,?,?)",
                       (time.time() if at_unix is None else at_unix, kind, exam_id,
                        json.dumps(payload, default=float, ensure_ascii=False)))
    eid = inserted_id(cur)
    if eid % 500 == 0:
        conn.execute("DELETE FROM events WHERE id <= ?", (eid - keep,))
    return eid


def events_after(conn: sqlite3.Connection, after_id: int, limit: int = 100) -> list[dict[str, Any]]:
    rows = conn.execute("SELECT * FROM events WHERE id > ? ORDER BY id LIMIT ?", (after_id, limit))
    return [{"id": r["id"], "at_unix": r["at_unix"], "kind": r["kind"], "exam_id": r["exam_id"],
             "payload": json.loads(r["payload"])} for r in rows]


def last_event_id(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()[0])


def all_measurements(conn: sqlite3.Connection, exam_id: int) -> list[Measurement]:
    """Every stored measurement row of the exam, superseded ones included, oldest first."""
    rows = conn.execute("SELECT * FROM measurements WHERE exam_id = ? ORDER BY id", (exam_id,))
    return [Measurement(r["id"], r["exam_id"], r["capture_id"], r["name"], r["value"], r["unit"], r["model_name"],
                        r["model_version"], tuple(json.loads(r["frames"])), r["source"], r["supersedes"],
                        r["created_at"], r["edited_by"]) for r in rows]


def measurement_picks(conn: sqlite3.Connection, exam_id: int) -> dict[str, int]:
    """View label -> capture id a person chose as the clip the report uses for that view."""
    return {r["view"]: int(r["capture_id"]) for r in
            conn.execute("SELECT view, capture_id FROM measurement_picks WHERE exam_id = ?", (exam_id,))}


def pick_measurement_clip(conn: sqlite3.Connection, exam_id: int, view: str, capture_id: int, user_id: int) -> None:
    conn.execute("INSERT INTO measurement_picks(exam_id, view, capture_id, picked_by) VALUES (?,?,?,?) "
                 "ON CONFLICT(exam_id, view) DO UPDATE SET capture_id = excluded.capture_id, "
                 "picked_by = excluded.picked_by, picked_at = strftime('%Y-%m-%dT%H:%M:%fZ','now')",
                 (exam_id, view, capture_id, user_id))


def get_alert(conn: sqlite3.Connection, alert_id: int) -> Alert | None:
    r = conn.execute("SELECT * FROM alerts WHERE id = ?", (_sql_id(alert_id),)).fetchone()
    return None if r is None else Alert(r["id"], r["exam_id"], r["level"], r["code"], r["message"],
                                        json.loads(r["detail"]), r["created_at"], r["acknowledged_by"],
                                        r["acknowledged_at"])
