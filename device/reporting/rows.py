"""Store rows the report sections share: the exam's current measurements and findings, in report order (pure reads
of the store through its repositories)."""

from __future__ import annotations

import sqlite3

from device import i18n
from device.domain.records import Finding, Measurement
from device.reporting.ecg_readings import excluded_signal_ids
from device.store import clinical

# findings that hold editable geometry (contours, calipers), not a clinical statement
INTERNAL_FINDING_KINDS = frozenset({"lv_geometry"})


def current_measurements(conn: sqlite3.Connection, exam_id: int) -> list[Measurement]:
    """The exam's current measurements in the order the originals were made (a reviewed value keeps its place)."""
    parent = {r[0]: r[1] for r in conn.execute("SELECT id, supersedes FROM measurements WHERE exam_id = ?",
                                                (exam_id,))}

    def root(i: int) -> int:
        for _ in range(len(parent)):
            if parent.get(i) is None:
                break
            i = parent[i]
        return i
    return sorted(clinical.current_measurements(conn, exam_id), key=lambda m: root(m.id))


def current_findings(conn: sqlite3.Connection, exam_id: int) -> list[Finding]:
    """The exam's findings less those a later finding supersedes (``detail["supersedes"]``: an id or a list)."""
    found = clinical.findings(conn, exam_id)
    gone: set[int] = set()
    for f in found:
        sup = f.detail.get("supersedes") if isinstance(f.detail, dict) else None
        if isinstance(sup, int):
            gone.add(sup)
        elif isinstance(sup, list):
            gone.update(int(x) for x in sup if isinstance(x, int))
    return [f for f in found if f.id not in gone]


def unscored_findings_text(conn: sqlite3.Connection, exam_id: int, language: str = "en") -> str:
    """Findings without a score, one line each with the model that made them (pre-fills the free text), in
    ``language`` (kind and finding phrase from the glossary). Findings of ECG readings the report does not use are
    left out (device.reporting.ecg_readings)."""
    other = excluded_signal_ids(conn, exam_id)
    return "\n".join(f"{i18n.term(language, f'finding_kind.{f.kind}', f.kind)}: "
                     f"{i18n.finding_text(language, f.label)} ({f.model_name} {f.model_version})".strip()
                     for f in current_findings(conn, exam_id)
                     if f.score is None and f.kind not in INTERNAL_FINDING_KINDS and f.capture_id not in other)


def media_type(conn: sqlite3.Connection, sha: str) -> str:
    """The media type a blob was stored with ("" when unknown)."""
    r = conn.execute("SELECT media_type FROM blobs WHERE sha256 = ?", (sha,)).fetchone()
    return str(r[0]) if r else ""
