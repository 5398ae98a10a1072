"""Encapsulated PDF Storage (PS3.3 A.45.1) of a rendered report."""

from __future__ import annotations

import datetime as dt

from device.errors import InputError
from device.reports.dicom.common import ENCAPSULATED_PDF, DicomObject, code_item, new_dataset
from device.reports.dicom.ids import ExamIdentity, clean_text, sop_uid

#: LOINC document title per report kind (the Concept Name of the document)
_TITLES = {"echo": ("42148-7", "Echocardiography Report"),
           "ecg": ("11524-6", "EKG study"),
           "perfusion": ("49118-3", "Nuclear Medicine Report")}


def build_encapsulated_pdf(pdf: bytes, ident: ExamIdentity, *, kind: str, content_key: str, title: str,
                           content_datetime: dt.datetime, instance_number: int = 1) -> DicomObject:
    """Wrap ``pdf`` bytes. ``content_key`` (``ReportDoc.content_key``) makes the SOP Instance UID stable per version."""
    if not pdf.startswith(b"%PDF-"):
        raise InputError("the report to encapsulate is not a PDF; render it with device.reports.pdf first")
    uid = sop_uid(ident.study_uid, "pdf", content_key)
    ds = new_dataset(sop_class_uid=ENCAPSULATED_PDF, sop_instance_uid=uid, ident=ident, modality="DOC",
                     series_kind="pdf", series_description="Reports (PDF)", instance_number=instance_number,
                     content_datetime=content_datetime)
    ds.ConversionType = "WSD"
    ds.AcquisitionDateTime = content_datetime.strftime("%Y%m%d%H%M%S")
    ds.BurnedInAnnotation = "YES"
    ds.RecognizableVisualFeatures = "NO"
    ds.DocumentTitle = clean_text(title)
    if kind not in _TITLES:
        raise InputError(f"report kind '{kind}' is unknown; use one of {', '.join(_TITLES)}")
    code, meaning = _TITLES[kind]
    ds.ConceptNameCodeSequence = [code_item(code, "LN", meaning)]
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    ds.EncapsulatedDocumentLength = len(pdf)
    ds.EncapsulatedDocument = pdf + (b"\x00" if len(pdf) % 2 else b"")
    return DicomObject(kind="pdf", sop_class_uid=ENCAPSULATED_PDF, sop_instance_uid=uid,
                       study_uid=ident.study_uid, dataset=ds)
