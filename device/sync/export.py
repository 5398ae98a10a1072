"""Assemble an exam's files for a USB bundle and write them to a detected drive."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from device.reports import serialize
from device.reports.dicom.common import DicomObject
from device.reports.fhir import bundle_json
from device.reports.model import ReportDoc
from device.reports.tabular import SignalExport, measurements_csv, measurements_json, signal_csv
from device.sync.bundle import BundleError, BundleFile, BundleResult, Progress, write_bundle
from device.sync.usb import UsbDrive


def _safe(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", s).strip("_") or "exam"


def exam_bundle_files(doc: ReportDoc, *, pdf: bytes | None = None, objects: Iterable[DicomObject] = (),
                      signals: dict[str, SignalExport] | None = None) -> list[BundleFile]:
    """Files of one exam under ``<accession>/``: report PDF and JSON, measurements CSV/JSON, FHIR bundle,
    ``DICOM/<kind>_<uid>.dcm`` for each object, ``signals/<name>.csv`` for each digitised signal."""
    base = _safe(doc.exam.accession)
    stem = f"report_{doc.kind}_v{doc.version}_{doc.language}"
    files = [BundleFile(f"{base}/{stem}.json", serialize.dumps(doc).encode("utf-8")),
             BundleFile(f"{base}/{stem}_measurements.csv", measurements_csv(doc).encode("utf-8")),
             BundleFile(f"{base}/{stem}_measurements.json", measurements_json(doc).encode("utf-8")),
             BundleFile(f"{base}/{stem}_fhir.json", bundle_json(doc, pdf).encode("utf-8"))]
    if pdf is not None:
        files.insert(0, BundleFile(f"{base}/{stem}.pdf", pdf))
    files += [BundleFile(f"{base}/DICOM/{o.filename()}", o.to_bytes()) for o in objects]
    for name, sig in (signals or {}).items():
        files.append(BundleFile(f"{base}/signals/{_safe(name)}.csv", signal_csv(sig).encode("utf-8")))
    return files


def export_to_drive(drive: UsbDrive, files: list[BundleFile], passphrase: str, name: str,
                    progress: Progress | None = None) -> BundleResult:
    """Write and verify an encrypted bundle at the top of ``drive``; refuses read-only or too-small drives."""
    if drive.read_only:
        raise BundleError(f"USB drive {drive.label} is mounted read-only; unlock it or use another drive")
    return write_bundle(files, Path(drive.mountpoint), name, passphrase, free_bytes=drive.free_bytes,
                        progress=progress)
