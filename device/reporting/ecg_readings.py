"""One ECG reading per photo (issue 18 point 3): the readings of an ECG exam, each with its photo's label, and the
ONE reading the report uses (a person's pick, else the newest).

A *reading* is everything stored from one printout photo: its first read and every later version of it (a
correction re-digitises it, *Read again* reads the photo again); its values are those of its newest version. A
serial recording is a reading of its own. Two photos are two readings and are never merged: the report shows the
chosen reading's values, findings and key image only, and says which reading that is
(:func:`report_reading`). The pick is stored in ``measurement_picks`` under the view name :data:`PICK_VIEW`
(the capture id is the reading's :attr:`Reading.key`). Pure reads of the store (the pick is written by
``device.usecases.ecg_readings``).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from device.domain.records import Capture
from device.store import clinical

PICK_VIEW = "ecg_reading"


@dataclass(frozen=True)
class Reading:
    """One photo's (or serial recording's) reading. ``key``: the photo capture id (a serial recording: its signal
    capture id); ``signal_ids``: every stored version, oldest first; ``current``: the newest version."""

    key: int
    label: str
    photo_capture_id: int | None
    signal_ids: tuple[int, ...]
    current: Capture
    first_at: str

    @property
    def version(self) -> int:
        return int(self.current.meta.get("version", 1))

    @property
    def n_versions(self) -> int:
        return len(self.signal_ids)


@dataclass(frozen=True)
class ReportChoice:
    """The reading the report uses and why: ``how`` "picked" (``picked_by`` chose it) or "newest"."""

    reading: Reading
    how: str
    picked_by: str = ""
    picked_at: str = ""
    n_readings: int = 1


def photo_label(photo: Capture) -> str:
    """The label a person gave the photo, else its file name, else ``photo <id>``."""
    return (str(photo.meta.get("label") or "").strip() or str(photo.meta.get("filename") or "").strip()
            or f"photo {photo.id}")


def readings(conn: sqlite3.Connection, exam_id: int) -> list[Reading]:
    """The exam's readings, oldest photo first."""
    caps = clinical.list_captures(conn, exam_id)
    photos = {c.id: c for c in caps if c.kind == "photo"}
    groups: dict[int, list[Capture]] = {}
    for c in caps:
        if c.kind != "signal":
            continue
        pid = c.meta.get("photo_capture_id")
        groups.setdefault(int(pid) if pid else c.id, []).append(c)
    out = []
    for key, sigs in sorted(groups.items()):
        photo = photos.get(key)
        if photo is not None:
            label = photo_label(photo)
        else:
            label = f"serial ECG {sigs[0].meta.get('port', '')}".strip()
        out.append(Reading(key=key, label=label, photo_capture_id=photo.id if photo else None,
                           signal_ids=tuple(s.id for s in sigs), current=sigs[-1],
                           first_at=photo.created_at if photo else sigs[0].created_at))
    return out


def reading_of_capture(conn: sqlite3.Connection, exam_id: int, capture_id: int) -> Reading | None:
    """The reading a signal capture (any version) or a photo belongs to."""
    return next((r for r in readings(conn, exam_id) if capture_id == r.key or capture_id in r.signal_ids), None)


def report_reading(conn: sqlite3.Connection, exam_id: int) -> ReportChoice | None:
    """The reading the report uses: the one a person picked (still present), else the newest photo's."""
    rs = readings(conn, exam_id)
    if not rs:
        return None
    row = conn.execute("SELECT p.capture_id, p.picked_at, COALESCE(u.display_name, u.username, '') AS who "
                       "FROM measurement_picks p LEFT JOIN users u ON u.id = p.picked_by "
                       "WHERE p.exam_id = ? AND p.view = ?", (exam_id, PICK_VIEW)).fetchone()
    if row is not None:
        picked = next((r for r in rs if r.key == int(row[0])), None)
        if picked is not None:
            return ReportChoice(picked, "picked", str(row[2] or ""), str(row[1] or ""), len(rs))
    return ReportChoice(rs[-1], "newest", n_readings=len(rs))


def excluded_signal_ids(conn: sqlite3.Connection, exam_id: int) -> set[int]:
    """Signal captures whose values, findings and images stay out of the report: every version of the readings
    not chosen, and the older versions of the chosen one."""
    choice = report_reading(conn, exam_id)
    if choice is None:
        return set()
    return {i for r in readings(conn, exam_id) for i in r.signal_ids} - {choice.reading.current.id}


def excluded_photo_ids(conn: sqlite3.Connection, exam_id: int) -> set[int]:
    """Photos of the readings the report does not use (kept out of its key images)."""
    choice = report_reading(conn, exam_id)
    if choice is None:
        return set()
    return {r.photo_capture_id for r in readings(conn, exam_id)
            if r.key != choice.reading.key and r.photo_capture_id is not None}
