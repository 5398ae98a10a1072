"""Identifiers shared by every DICOM object of an exam: stable UIDs and the Patient / General Study attributes.

Any writer of an exam's objects (reports here, the 12-lead ECG waveform in ``device/ecg``) calls:

- :func:`sop_uid` ``(study_uid, object_kind, content_key)`` for the SOP Instance UID. It is a pure function of its
  arguments, so writing the same object again gives the same UID and a PACS never holds two copies.
- :func:`series_uid` ``(study_uid, series_kind)`` and :data:`SERIES_NUMBERS` for the series.
- :func:`apply_identity` ``(ds, identity)`` to fill Patient and General Study modules the same way everywhere.

UIDs are ``2.25.<integer>`` where the integer is a UUID (RFC 9562 version 8, "custom") built from a SHA-256 of the
inputs, which PS3.5 B.2 allows without a registered root.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import uuid
from dataclasses import dataclass

from pydicom.dataset import Dataset

from device.errors import InputError

#: Series numbers per series kind, so every exported exam looks alike in a PACS viewer.
SERIES_NUMBERS: dict[str, int] = {"ecg": 100, "echo_sr": 700, "sc": 800, "bullseye": 801, "pdf": 900}


def stable_uid(*parts: str) -> str:
    """``2.25.<uuid-v8 integer>`` from a SHA-256 of ``parts`` joined by NUL; at most 44 characters."""
    if not parts or any(not isinstance(p, str) for p in parts):
        raise InputError("stable_uid needs string parts")
    digest = hashlib.sha256("\x00".join(parts).encode("utf-8")).digest()[:16]
    b = bytearray(digest)
    b[6] = (b[6] & 0x0F) | 0x80  # version 8
    b[8] = (b[8] & 0x3F) | 0x80  # RFC 4122/9562 variant
    return f"2.25.{uuid.UUID(bytes=bytes(b)).int}"


def study_uid_for(site: str, accession: str) -> str:
    """A Study Instance UID for an exam that has none yet (derived from the site name and accession number)."""
    if not accession:
        raise InputError("an exam needs an accession number to derive its Study Instance UID")
    return stable_uid("cardiocart-study", site, accession)


def series_uid(study_uid: str, series_kind: str) -> str:
    """The Series Instance UID of one kind of series (``pdf``, ``sc``, ``bullseye``, ``echo_sr``, ``ecg``)."""
    return stable_uid(study_uid, "series", series_kind)


def sop_uid(study_uid: str, object_kind: str, content_key: str) -> str:
    """The SOP Instance UID of an object: same (study, kind, key) -> same UID, so re-export never duplicates.

    ``content_key`` identifies the content within the exam: e.g. ``ReportDoc.content_key``
    (``"echo-en-v2-signed"``) for a report,
    the key image's content key, ``"ecg-12lead"`` for a waveform.
    """
    if not study_uid or not object_kind:
        raise InputError("sop_uid needs the exam's Study Instance UID and an object kind")
    return stable_uid(study_uid, "sop", object_kind, content_key)


@dataclass(frozen=True)
class ExamIdentity:
    """Patient and study attributes written identically into every object of one exam."""

    patient_id: str
    patient_name: str
    patient_sex: str  # M, F, O or ""
    patient_birth_date: dt.date | None
    study_uid: str
    accession: str
    study_datetime: dt.datetime
    study_description: str = ""
    institution: str = ""

    @property
    def study_id(self) -> str:
        return clean_text(self.accession[-16:], 16)


def identity_from_report(doc) -> ExamIdentity:  # doc: device.reports.model.ReportDoc
    """The ExamIdentity of a report's patient and exam."""
    p, e = doc.patient, doc.exam
    return ExamIdentity(patient_id=p.patient_id, patient_name=p.name, patient_sex=p.sex,
                        patient_birth_date=p.birth_date, study_uid=e.study_uid, accession=e.accession,
                        study_datetime=e.exam_datetime, study_description=e.description, institution=e.institution)


_CTRL = re.compile(r"[\x00-\x1f\x7f\\]")


DICOM_CHARSET = "ISO_IR 192"


def clean_text(s: str, max_len: int = 64) -> str:
    """A single-valued short string for SH/LO/PN/CS: no control characters, no backslash (the DICOM value
    separator), at most ``max_len`` characters."""
    return _CTRL.sub(" ", s).strip()[:max_len]


_LONG_CTRL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def clean_long_text(s: str, max_len: int = 10240) -> str:
    """Text for ST/LT/UT: control characters other than tab, line feed, form feed and carriage return removed."""
    return _LONG_CTRL.sub("", s)[:max_len]


def dicom_person_name(name: str) -> str:
    """"Doe, Jane" or "Jane Doe" -> "Doe^Jane"; "王小明" -> "王^小明" (a 2-3 character Chinese name: one-character
    family name first, the common case); a name already in DICOM form is kept."""
    n = clean_text(name, 64)
    if "^" in n:
        return n
    if "," in n:
        last, first = (x.strip() for x in n.split(",", 1))
        return f"{last}^{first}"
    parts = n.split()
    if len(parts) >= 2 and n.isascii():
        return f"{parts[-1]}^{' '.join(parts[:-1])}"
    if len(parts) == 1 and 2 <= len(n) <= 3 and all("\u4e00" <= ch <= "\u9fff" for ch in n):
        return f"{n[0]}^{n[1:]}"
    return n


def apply_identity(ds: Dataset, ident: ExamIdentity) -> None:
    """Fill the Patient and General Study modules. Specific Character Set is always ISO_IR 192 (UTF-8): a report's
    comments, finding texts and code meanings may be Chinese even when the patient's name is ASCII, and pydicom
    encodes every text element of the dataset with this one set (ISO_IR 100 turned a Chinese comment into "??")."""
    if not ident.patient_id or not ident.study_uid:
        raise InputError("an exported object needs a patient ID and a Study Instance UID")
    ds.SpecificCharacterSet = DICOM_CHARSET
    ds.PatientName = dicom_person_name(ident.patient_name)
    ds.PatientID = clean_text(ident.patient_id, 64)
    ds.PatientBirthDate = ident.patient_birth_date.strftime("%Y%m%d") if ident.patient_birth_date else ""
    ds.PatientSex = ident.patient_sex
    ds.StudyInstanceUID = ident.study_uid
    ds.StudyDate = ident.study_datetime.strftime("%Y%m%d")
    ds.StudyTime = ident.study_datetime.strftime("%H%M%S")
    ds.ReferringPhysicianName = ""
    ds.StudyID = ident.study_id
    ds.AccessionNumber = clean_text(ident.accession, 16)
    if ident.study_description:
        ds.StudyDescription = clean_text(ident.study_description)
