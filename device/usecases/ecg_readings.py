"""The readings of an ECG exam on its page (issue 18 point 3): one reading per photo with its label, every reading
viewable again, and the person's choice of the reading the report uses (stored, audited). What a reading is and the
report's choice: :mod:`device.reporting.ecg_readings`."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from device.errors import UserError
from device.reporting.ecg_readings import PICK_VIEW, Reading, ReportChoice, readings, report_reading
from device.store import audit, clinical
from device.store.db import Tx
from device.usecases.ecg_reading import check_editable, ecg_exam


@dataclass(frozen=True)
class ReadingRow:
    """One line of the page's reading list: the reading, its current QT/QTc (Bazett) and whether the report uses
    it."""

    reading: Reading
    qt_ms: float | None
    qtc_ms: float | None
    in_report: bool


def reading_rows(conn: sqlite3.Connection, exam_id: int) -> tuple[list[ReadingRow], ReportChoice | None]:
    """Every reading of the exam (oldest first) and the report's choice."""
    choice = report_reading(conn, exam_id)
    cur = {(m.capture_id, m.name): m.value for m in clinical.current_measurements(conn, exam_id)}
    rows = [ReadingRow(r, cur.get((r.current.id, "qt_ms")), cur.get((r.current.id, "qtc_bazett_ms")),
                       choice is not None and choice.reading.key == r.key) for r in readings(conn, exam_id)]
    return rows, choice


def find_reading(conn: sqlite3.Connection, exam_id: int, key: int | None) -> Reading | None:
    """The reading ``key`` (a photo capture id, or any of its versions' ids) of the exam; None when ``key`` is None
    (then the caller shows the report's reading). UserError when the exam has no such reading."""
    return None if key is None else _reading(conn, exam_id, key)


def _reading(conn: sqlite3.Connection, exam_id: int, key: int) -> Reading:
    r = next((r for r in readings(conn, exam_id) if key == r.key or key in r.signal_ids), None)
    if r is None:
        raise UserError(f"this exam has no ECG reading {key}; choose one from the list of readings")
    return r


def pick_for_report(conn: sqlite3.Connection, exam_id: int, key: int, user: tuple[int | None, str]) -> Reading:
    """Make reading ``key`` the one the report uses (stored with who and when, audited with the previous choice)."""
    exam = ecg_exam(conn, exam_id)
    check_editable(conn, exam)
    reading = _reading(conn, exam_id, key)
    before = report_reading(conn, exam_id)
    with Tx(conn):
        clinical.pick_measurement_clip(conn, exam_id, PICK_VIEW, reading.key, user[0])  # type: ignore[arg-type]
        audit.record(conn, user_id=user[0], username=user[1], action="edit", object_type="ecg_report_reading",
                     object_id=reading.key,
                     detail={"exam_id": exam_id, "label": reading.label, "signal_capture_id": reading.current.id,
                             "previous": before.reading.key if before else None,
                             "previous_how": before.how if before else None})
    return reading
