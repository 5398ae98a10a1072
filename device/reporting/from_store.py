"""The bridge between the store and the report model: assemble an exam's ReportDoc from its rows and keep report
versions in the ``reports`` table (drafts, free text, reviewed measurements).

Sections come from the explicit table in ``device.reporting.sections``; settings (the LV case table) come in as a
``ReportSettings`` the caller built from the settings it loaded. Signing and sync are in ``device.reporting.signing``,
exports in ``device.reporting.exports``.

Report content in the store is ``serialize.to_dict(doc)`` with each key image's PNG kept as a blob
(``png_sha256``) instead of inline base64. Functions that write expect to run inside the caller's ``Tx`` unless
they say otherwise.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import sqlite3
from typing import Any

import numpy as np

from device import values
from device.errors import InputError, UserError
from device.lv.interpret import split_name
from device.reporting.alerts_section import alert_sections
from device.reporting.echo_sections import measurement_set as echo_set
from device.reporting.key_images import key_images_from_captures
from device.reporting.rows import current_measurements, unscored_findings_text
from device.reporting.sax_sections import is_derived as sax_derived
from device.reporting.sections import findings_section, kind_sections
from device.reporting.settings import ReportSettings
from device.reports import serialize
from device.reports.model import ReportExam, ReportPatient, ReportDoc, SignedReportError
from device.store import clinical, reports
from device.store.blobs import BlobStore, put_blob

_DESCRIPTION = {"echo": "Transthoracic echocardiogram", "ecg": "12-lead ECG",
                "perfusion": "SPECT myocardial perfusion"}


def _utc(ts: str) -> dt.datetime:
    return dt.datetime.fromisoformat(ts)


def doc_header(exam: clinical.Exam, language: str) -> tuple[ReportPatient, ReportExam]:
    p = exam.patient
    birth = dt.date.fromisoformat(p.birth_date) if p.birth_date else None
    patient = ReportPatient(patient_id=p.patient_id, name=p.name, sex="" if p.sex == "U" else p.sex,
                            birth_date=birth)
    return patient, ReportExam(accession=exam.accession, study_uid=exam.study_uid,
                         exam_datetime=_utc(exam.created_at).astimezone(),
                         description=_DESCRIPTION.get(exam.kind, exam.kind), indication=exam.indication,
                         height_cm=exam.height_cm, weight_kg=exam.weight_kg)


def assemble(conn: sqlite3.Connection, blobs: BlobStore, exam_id: int, settings: ReportSettings,
             language: str = "en") -> ReportDoc:
    """A fresh unsigned version-1 ReportDoc of the exam from the store (nothing is written)."""
    exam = clinical.get_exam(conn, exam_id)
    patient, ex = doc_header(exam, language)
    sections, images = kind_sections(conn, blobs, exam, settings, language)
    if not images:
        images = key_images_from_captures(conn, blobs, exam_id, language)
    sections += findings_section(conn, exam_id, language)
    sections = (*alert_sections(conn, exam_id, language), *sections)          # critical values first
    return ReportDoc(patient=patient, exam=ex, kind=exam.kind, sections=sections, key_images=images,
                     free_text="", language=language)


# ---------------------------------------------------------------- report content <-> store rows

def doc_to_content(conn: sqlite3.Connection, blobs: BlobStore, doc: ReportDoc) -> dict[str, Any]:
    """``serialize.to_dict`` with each key image's PNG stored as a blob (``png_sha256``)."""
    d = serialize.to_dict(doc)
    for k, img in zip(d["key_images"], doc.key_images):
        k["png_sha256"] = put_blob(conn, blobs, img.png, "image/png")
        del k["png_base64"]
    return d


def doc_from_content(blobs: BlobStore, content: dict[str, Any]) -> ReportDoc:
    d = dict(content)
    d["key_images"] = [({**k, "png_base64": base64.b64encode(blobs.get(k["png_sha256"])).decode("ascii")}
                        if "png_sha256" in k else k) for k in content.get("key_images", [])]
    return serialize.from_dict(d)


def doc_of(blobs: BlobStore, version: reports.ReportVersion) -> ReportDoc:
    doc = doc_from_content(blobs, version.content)
    if doc.version != version.version:  # the row is the truth for the version number
        doc = dataclasses.replace(doc, version=version.version)
    return doc


def history(conn: sqlite3.Connection, blobs: BlobStore, exam_id: int) -> list[tuple[reports.ReportVersion,
                                                                                    ReportDoc]]:
    """Every stored version of the exam's report, oldest first."""
    return [(v, doc_of(blobs, v)) for v in reports.versions(conn, exam_id)]


def draft_source(conn: sqlite3.Connection, blobs: BlobStore, exam_id: int, language: str,
                 settings: ReportSettings) -> ReportDoc | None:
    """What :func:`ensure_draft` would assemble now (None when the latest version is signed). This is the slow part
    of opening a report (clips decoded into key images): run it before the write transaction and pass it on as
    ``ensure_draft(..., fresh=...)``, so the database is locked only while the draft is stored."""
    cur = reports.latest(conn, exam_id)
    if cur is not None and cur.status == "signed":
        return None
    return assemble(conn, blobs, exam_id, settings,
                    language if cur is None else cur.content.get("language", language))


def ensure_draft(conn: sqlite3.Connection, blobs: BlobStore, exam_id: int, language: str,
                 author_id: int | None, settings: ReportSettings,
                 fresh: ReportDoc | None = None) -> reports.ReportVersion:
    """The latest version, made current: none yet -> a draft v1 auto-filled from the store; a draft -> its
    sections and key images refreshed from the store (free text, title and amendment kept); signed -> as is.
    ``fresh``: the :func:`draft_source` made just before (assembled here when absent). Run inside a Tx."""
    cur = reports.latest(conn, exam_id)
    if cur is not None and cur.status == "signed":
        return cur
    lang = language if cur is None else cur.content.get("language", language)
    if fresh is None or fresh.language != lang:
        fresh = assemble(conn, blobs, exam_id, settings, lang)
    if cur is None:
        doc = dataclasses.replace(fresh, free_text=unscored_findings_text(conn, exam_id, fresh.language))
        return reports.save_draft(conn, exam_id, doc_to_content(conn, blobs, doc), author_id)
    old = doc_of(blobs, cur)
    doc = dataclasses.replace(old, sections=fresh.sections, key_images=fresh.key_images, patient=fresh.patient,
                              exam=fresh.exam)
    if doc == old:
        return cur
    return reports.save_draft(conn, exam_id, doc_to_content(conn, blobs, doc), cur.author_id)


def _open_draft(conn: sqlite3.Connection, blobs: BlobStore, exam_id: int) -> tuple[reports.ReportVersion,
                                                                                    ReportDoc]:
    cur = reports.latest(conn, exam_id)
    if cur is None:
        raise UserError("this exam has no report yet; open the report page first")
    if cur.status == "signed":
        raise SignedReportError(f"report version {cur.version} is signed and cannot be changed; use Correct to "
                                "start a new version with a reason")
    return cur, doc_of(blobs, cur)


def save_text(conn: sqlite3.Connection, blobs: BlobStore, exam_id: int, free_text: str,
              author_id: int | None) -> tuple[reports.ReportVersion, ReportDoc, ReportDoc]:
    """Change the draft's free text (in place). Returns (row, old doc, new doc). Run inside a Tx."""
    if len(free_text) > 20000:
        raise InputError("the report text is longer than 20000 characters; shorten it")
    _, old = _open_draft(conn, blobs, exam_id)
    new = dataclasses.replace(old, free_text=free_text.replace("\r\n", "\n").strip())
    row = reports.save_draft(conn, exam_id, doc_to_content(conn, blobs, new), author_id)
    return row, old, new


def review_measurement(conn: sqlite3.Connection, exam_id: int, measurement_id: int, user_id: int,
                       value: float | None = None) -> int:
    """Confirm a current measurement (``value`` None) or replace its value (source ``edited``); the new row
    supersedes the old one. Refused once the report's latest version is signed. Run inside a Tx."""
    cur = reports.latest(conn, exam_id)
    if cur is not None and cur.status == "signed":
        raise SignedReportError(f"report version {cur.version} is signed; use Correct to start a new version "
                                "before changing measurements")
    # an echo LV value is reviewed on the clip the report uses for its view (device.reporting.measurement_set)
    shown = {v.row.id: v for v in echo_set(conn, exam_id).values}
    m = dataclasses.replace(shown[measurement_id].row, value=shown[measurement_id].value) \
        if measurement_id in shown else \
        next((r for r in current_measurements(conn, exam_id) if r.id == measurement_id), None)
    if m is not None and value is not None and measurement_id in shown and shown[measurement_id].derived:
        spec = values.spec(m.name)
        raise InputError(f"{spec.label if spec else m.name} is computed from the "
                         "values it is derived from (EF and SV from EDV and ESV, FS from LVIDd and LVIDs); "
                         "edit those")
    if m is not None and value is not None and sax_derived(m.name):
        raise InputError("short-axis MRI SV and EF are computed from the stack's EDV and ESV; edit those")
    if m is None:
        raise UserError(f"measurement {measurement_id} is not a current measurement of this exam; reload the page")
    if value is not None and not np.isfinite(value):
        raise InputError("the new value must be a number")
    if value is not None:
        values.check(m.name, value)  # physiological range of this measurement (device/values.py)
    new_id = clinical.add_measurement(conn, exam_id, m.capture_id, m.name, m.value if value is None else value,
                                      m.unit, m.model_name, m.model_version, m.frames,
                                      source="confirmed" if value is None or value == m.value else "edited",
                                      edited_by=user_id, supersedes=m.id)
    if value is not None and value != m.value:  # recompute what depends on it (QTc, SV, EF), as edited values
        cur_ms = {r.name: r for r in current_measurements(conn, exam_id)          # the same clip's rows only
                  if r.capture_id == m.capture_id or split_name(r.name) is None}
        ex = clinical.get_exam(conn, exam_id)
        new_values = values.derived(m.name, {k: r.value for k, r in cur_ms.items()},
                                    values.bsa_m2(ex.height_cm, ex.weight_kg))
        values.check_derived(new_values, m.name)       # e.g. an ESV that would make EF 99 %: refused, nothing stored
        for name, v in new_values.items():
            d = cur_ms[name]
            if v != d.value and np.isfinite(v):
                clinical.add_measurement(conn, exam_id, d.capture_id, name, v, d.unit, d.model_name,
                                         d.model_version, d.frames, source="edited", edited_by=user_id,
                                         supersedes=d.id)
    return new_id
