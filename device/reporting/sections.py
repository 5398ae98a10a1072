"""The explicit table of report section builders, one per exam kind, and the sections every kind shares.

A builder is ``(conn, blobs, exam, settings, language) -> (sections, key images)``: it reads the exam's current
measurements itself and returns the sections (each ReportMeasurement naming its model and whether a person
confirmed it) and, optionally, key images (bullseyes, annotated frames); when it returns no key images, they come
from the exam's captures. An exam kind without an entry gets :func:`generic_sections` (every current measurement,
no reference ranges): that is the table saying so, not a fallback for a builder that failed to import — the
builders are imported here at module load, so a broken one fails at start-up (and in
tests/unit/test_registries.py). Findings with a score are added as a "Findings" section in every case.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence

from device import i18n
from device.domain.records import REVIEWED_SOURCES, Measurement
from device.reporting.ecg_readings import excluded_signal_ids
from device.reporting.ecg_sections import ecg_sections
from device.reporting.echo_sections import echo_sections
from device.reporting.perfusion_sections import perfusion_sections
from device.reporting.rows import current_findings, current_measurements
from device.reporting.settings import ReportSettings
from device.reports.model import KeyImage, ReportMeasurement, Section
from device.store import clinical
from device.store.blobs import BlobStore

SectionBuilder = Callable[[sqlite3.Connection, BlobStore, clinical.Exam, ReportSettings, str],
                          tuple[Sequence[Section], Sequence[KeyImage]]]

SECTION_BUILDERS: dict[str, SectionBuilder] = {
    "echo": echo_sections,
    "ecg": ecg_sections,
    "perfusion": perfusion_sections,
}

GENERIC_TITLE = {lang: i18n.term(lang, "report.section.measurements") for lang in i18n.LANGUAGES}
FINDINGS_TITLE = {lang: i18n.term(lang, "report.appendix") for lang in i18n.LANGUAGES}
_SOURCE_NOTE = {src: {lang: i18n.term(lang, f"report.source.{src}") for lang in i18n.LANGUAGES}
                for src in ("edited", "manual")}


def kind_sections(conn: sqlite3.Connection, blobs: BlobStore, exam: clinical.Exam, settings: ReportSettings,
                  language: str) -> tuple[tuple[Section, ...], tuple[KeyImage, ...]]:
    """(sections, key images) of the exam from its kind's builder, or the generic section for a kind the table
    does not name."""
    builder = SECTION_BUILDERS.get(exam.kind)
    if builder is None:
        return generic_sections(conn, exam, language), ()
    s, k = builder(conn, blobs, exam, settings, language)
    return tuple(s), tuple(k)


def _row_measurement(m: Measurement, language: str) -> ReportMeasurement:
    note = _SOURCE_NOTE.get(m.source, {}).get(language, "")
    return ReportMeasurement(name=m.name, value=float(m.value), unit=m.unit, label=m.name, interpretation=note,
                             model_name=m.model_name, model_version=m.model_version,
                             confirmed=m.source in REVIEWED_SOURCES)


def generic_sections(conn: sqlite3.Connection, exam: clinical.Exam, language: str) -> tuple[Section, ...]:
    """One section with every current measurement (no reference ranges: those come from the kind's builder)."""
    rows = current_measurements(conn, exam.id)
    if not rows:
        return ()
    return (Section(GENERIC_TITLE.get(language, GENERIC_TITLE["en"]),
                    tuple(_row_measurement(m, language) for m in rows)),)


def findings_section(conn: sqlite3.Connection, exam_id: int, language: str) -> tuple[Section, ...]:
    """Findings that carry a score (view quality, screening probability...) as rows: value = score (unit 1)."""
    rows = []
    other = excluded_signal_ids(conn, exam_id)  # ECG readings the report does not use: not their screens
    for f in current_findings(conn, exam_id):
        if f.score is None or f.capture_id in other:
            continue
        rows.append(ReportMeasurement(name=f"finding_{f.kind}_{f.id}", value=float(f.score), unit="1",
                                      label=f"{i18n.term(language, f'finding_kind.{f.kind}', f.kind)}: {f.label}", interpretation=str(f.label),
                                      model_name=f.model_name, model_version=f.model_version,
                                      confirmed=f.confirmed_by is not None))
    return (Section(FINDINGS_TITLE.get(language, FINDINGS_TITLE["en"]), tuple(rows), role="appendix"),) if rows \
        else ()
