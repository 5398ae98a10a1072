"""All DICOM objects of one report version: Encapsulated PDF, Secondary Captures, and (echo) the SR."""

from __future__ import annotations

from pathlib import Path

from device.reports.dicom.common import DicomObject, write
from device.reports.dicom.encapsulated_pdf import build_encapsulated_pdf
from device.reports.dicom.ids import identity_from_report
from device.reports.dicom.secondary_capture import build_secondary_capture
from device.reports.dicom.sr import build_echo_sr
from device.reports.html import report_title
from device.reports.model import ReportDoc


def build_report_objects(doc: ReportDoc, pdf: bytes | None = None) -> list[DicomObject]:
    """The exam's objects for ``doc``: PDF (if ``pdf`` bytes are given), one SC per key image (bullseyes in their
    own series), and the echo SR when ``doc.kind == "echo"`` and it has measurements.

    Content date/time is the signing time (or the exam time for a draft) for the PDF and SR, and the exam time
    for key images, so rebuilding gives identical objects.
    """
    when = doc.signature.signed_at if doc.signature else doc.exam.exam_datetime
    ident = identity_from_report(doc)
    objs: list[DicomObject] = []
    if pdf is not None:
        objs.append(build_encapsulated_pdf(pdf, ident, kind=doc.kind, content_key=doc.content_key,
                                           title=report_title(doc), content_datetime=when,
                                           instance_number=doc.version))
    images: list[DicomObject] = []
    for n, k in enumerate(doc.key_images, start=1):
        images.append(build_secondary_capture(k.to_array(), ident, content_key=k.key, caption=k.caption,
                                           series_kind="bullseye" if k.kind == "bullseye" else "sc",
                                           instance_number=n, content_datetime=doc.exam.exam_datetime))
    objs += images
    if doc.kind == "echo" and doc.measurements:
        objs.append(build_echo_sr(doc, content_datetime=when, instance_number=doc.version, key_images=images))
    return objs


def write_objects(objs: list[DicomObject], directory: Path) -> list[Path]:
    """Write each object as ``<kind>_<SOP Instance UID>.dcm`` in ``directory`` (atomic per file)."""
    return [write(o, Path(directory) / o.filename()) for o in objs]
