"""Critical alerts a clinician sees (issue 18 part 2): the list with who acknowledged each one and when, the count
for the banner on every page, acknowledging (the caller audits it in the same transaction)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from device.domain.records import Alert
from device.errors import UserError
from device.store import clinical


@dataclass(frozen=True)
class AlertView:
    alert: Alert
    accession: str              # "" when the alert belongs to no exam
    patient_id: str
    acknowledged_by_name: str   # "" while unacknowledged


def waiting_count(conn: sqlite3.Connection) -> tuple[int, int]:
    """(critical, all) alerts waiting to be acknowledged."""
    r = conn.execute("SELECT sum(level = 'critical'), count(*) FROM alerts WHERE acknowledged_at IS NULL").fetchone()
    return int(r[0] or 0), int(r[1] or 0)


def alert_list(conn: sqlite3.Connection, include_acknowledged: bool = True, limit: int = 200) -> list[AlertView]:
    """Newest first; waiting ones first when acknowledged ones are included."""
    names = {int(r[0]): str(r[1]) for r in conn.execute("SELECT id, display_name FROM users")}
    out = []
    for a in clinical.alerts(conn, unacknowledged_only=not include_acknowledged, limit=limit):
        acc = pid = ""
        if a.exam_id is not None:
            r = conn.execute("SELECT e.accession, p.patient_id FROM exams e JOIN patients p ON p.id = e.patient_ref "
                             "WHERE e.id = ?", (a.exam_id,)).fetchone()
            if r is not None:
                acc, pid = str(r[0]), str(r[1])
        out.append(AlertView(a, acc, pid, names.get(a.acknowledged_by, "") if a.acknowledged_by else ""))
    return sorted(out, key=lambda v: (v.alert.acknowledged_at is not None, -v.alert.id))


def exam_alerts(conn: sqlite3.Connection, exam_id: int) -> list[AlertView]:
    """The exam's alerts (acknowledged or not), oldest first (the report lists them)."""
    ids = [int(r[0]) for r in conn.execute("SELECT id FROM alerts WHERE exam_id = ? ORDER BY id", (exam_id,))]
    names = {int(r[0]): str(r[1]) for r in conn.execute("SELECT id, display_name FROM users")}
    exam = clinical.get_exam(conn, exam_id)
    out = []
    for i in ids:
        a = clinical.get_alert(conn, i)
        if a is not None:
            out.append(AlertView(a, exam.accession, exam.patient.patient_id,
                                 names.get(a.acknowledged_by, "") if a.acknowledged_by else ""))
    return out


def acknowledge(conn: sqlite3.Connection, alert_id: int, user_id: int) -> Alert:
    """Mark the alert acknowledged by ``user_id`` now. UserError when there is no such alert or it was already
    acknowledged (by whom, when). Run inside the caller's Tx (with its audit row)."""
    a = clinical.get_alert(conn, alert_id)
    if a is None:
        raise UserError(f"no alert with id {alert_id}; reload the alert list")
    if a.acknowledged_at is not None:
        who = conn.execute("SELECT display_name FROM users WHERE id = ?", (a.acknowledged_by,)).fetchone()
        raise UserError(f"alert {alert_id} was already acknowledged by {who[0] if who else 'someone'} at "
                        f"{a.acknowledged_at[:16].replace('T', ' ')} UTC")
    clinical.acknowledge_alert(conn, alert_id, user_id)
    done = clinical.get_alert(conn, alert_id)
    if done is None:
        raise UserError(f"alert {alert_id} disappeared; reload the alert list")
    return done


def resolve_superseded(conn: sqlite3.Connection, exam_id: int, prev_capture_id: int, new_capture_id: int,
                       still_critical: set[str], user_id: int | None) -> list[int]:
    """A correction replaced reading ``prev_capture_id`` by ``new_capture_id``: its waiting alerts whose code the
    new reading no longer raises are marked resolved (detail ``resolved: superseded``, ``superseded_by_capture``)
    and leave the waiting list (acknowledged by the person who corrected). Inside the caller's Tx (it audits).
    Returns the resolved alert ids."""
    import json

    done = []
    for a in clinical.alerts(conn, unacknowledged_only=True, limit=500):
        if a.exam_id != exam_id or a.code in still_critical or a.detail.get("capture_id") != prev_capture_id:
            continue
        detail = {**a.detail, "resolved": "superseded", "superseded_by_capture": new_capture_id}
        conn.execute("UPDATE alerts SET detail = ?, acknowledged_by = ?, "
                     "acknowledged_at = strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE id = ? AND acknowledged_at IS NULL",
                     (json.dumps(detail, default=float), user_id, a.id))
        done.append(a.id)
    return done
