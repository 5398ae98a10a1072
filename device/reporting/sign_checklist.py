"""What is still open when a physician signs (issue 18 part 1): the exam still capturing, values nobody reviewed
(for an echo exam: the reported measurement set, derived values counted through their inputs), alerts of the exam
nobody acknowledged. The sign dialog lists them; signing is not blocked (the physician decides)."""

from __future__ import annotations

import dataclasses
import sqlite3
from dataclasses import dataclass

from device.domain.records import REVIEWED_SOURCES, Measurement
from device.lv.interpret import label_of, split_name
from device.reporting.ecg_readings import excluded_signal_ids
from device.reporting.echo_sections import measurement_set
from device.reporting.rows import current_measurements
from device.store import clinical


@dataclass(frozen=True)
class SignChecklist:
    exam_open: bool                    # the exam still takes clips (not closed)
    unreviewed: tuple[str, ...]        # labels of reported values that are automatic and not reviewed
    alerts_waiting: int                # alerts of the exam not acknowledged

    @property
    def clear(self) -> bool:
        return not (self.exam_open or self.unreviewed or self.alerts_waiting)


def sign_checklist(conn: sqlite3.Connection, exam_id: int) -> SignChecklist:
    exam = clinical.get_exam(conn, exam_id)
    names = [v.name for v in measurement_set(conn, exam_id).unreviewed()]
    other = excluded_signal_ids(conn, exam_id)  # ECG readings the report does not use
    names += [m.name for m in clinical.current_measurements(conn, exam_id)
              if split_name(m.name) is None and m.source not in REVIEWED_SOURCES and m.capture_id not in other]
    labels = []
    for n in names:
        sp = split_name(n)
        lab = label_of(n) + (f" ({sp[0].upper()})" if sp and sp[0] in ("biplane", "a4c", "a2c") else "")
        labels.append(lab)
    waiting = int(conn.execute("SELECT count(*) FROM alerts WHERE exam_id = ? AND acknowledged_at IS NULL",
                               (exam_id,)).fetchone()[0])
    return SignChecklist(exam.status == "open", tuple(labels), waiting)


def reported_measurements(conn: sqlite3.Connection, exam_id: int) -> list[Measurement]:
    """The rows the report shows and a physician reviews: an echo exam's measurement set (the chosen clip of each
    view, derived values as recomputed) and every other current value, in report order (of an ECG exam: the values
    of the reading the report uses only)."""
    out = [dataclasses.replace(v.row, value=v.value, source=v.source) for v in measurement_set(conn, exam_id).reported()]
    other = excluded_signal_ids(conn, exam_id)
    return out + [m for m in current_measurements(conn, exam_id)
                  if split_name(m.name) is None and m.capture_id not in other]
