"""What an export of an exam's report needs: the version to export, the digitised signals, the DICOM objects (with
the 12-lead waveform for an exam with a digitised ECG) and the report in another language."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from typing import Any

import numpy as np

from device import i18n
from device.domain.codecs import SIGNAL_MEDIA_TYPES, decode_signal
from device.errors import UserError
from device.reporting.ecg_readings import excluded_signal_ids
from device.reporting.from_store import doc_of
from device.reporting.rows import media_type
from device.reports.dicom.common import DicomObject
from device.reports.model import ReportDoc
from device.reports.tabular import SignalExport, read_signal_csv
from device.store import clinical, reports
from device.store.blobs import BlobStore



def export_version(conn: sqlite3.Connection, blobs: BlobStore, exam_id: int,
                   version: int | None = None) -> tuple[reports.ReportVersion, ReportDoc]:
    """The version to export: ``version`` if given, else the latest signed one, else the latest draft."""
    vs = reports.versions(conn, exam_id)
    if not vs:
        raise UserError("this exam has no report yet; open its report page first")
    if version is not None:
        pick = next((v for v in vs if v.version == version), None)
        if pick is None:
            raise UserError(f"this exam has no report version {version}")
    else:
        signed = [v for v in vs if v.status == "signed"]
        pick = signed[-1] if signed else vs[-1]
    return pick, doc_of(blobs, pick)


def signals_of(conn: sqlite3.Connection, blobs: BlobStore, exam_id: int
               ) -> tuple[dict[str, SignalExport], list[str]]:
    """Digitised signals (captures of kind ``signal``) as ``{name: SignalExport}``, plus one message per capture
    that could not be read. Accepted blobs: CSV or JSON in ``cardiocart.signal/1`` form, or an npz with
    ``signals_mv`` (n_samples, n_leads) float mV, ``fs_hz`` and optionally ``leads`` (names)."""
    out: dict[str, SignalExport] = {}
    problems: list[str] = []
    for cap in clinical.list_captures(conn, exam_id):
        if cap.kind != "signal":
            continue
        name = f"{cap.id}_{cap.label or 'signal'}"
        try:
            out[name] = _read_signal(blobs.get(cap.blob_sha256), media_type(conn, cap.blob_sha256), cap.meta)
        except (UserError, OSError, ValueError, KeyError) as exc:
            problems.append(f"signal capture {cap.id} ({cap.label}) cannot be read: {exc}")
    return out, problems


def _read_signal(data: bytes, media: str, meta: dict[str, Any]) -> SignalExport:
    if media in SIGNAL_MEDIA_TYPES:
        sig = decode_signal(data)           # SignalCodecError (a ValueError): the caller reports the capture
        x = sig.signals_mv
        fs = sig.fs_hz if sig.fs_hz is not None else float(meta["fs_hz"])
        leads = list(sig.leads) or list(meta.get("leads", []))
        if not leads:
            from device.ecg.types import LEADS
            leads = list(LEADS[:x.shape[1]]) if x.shape[1] <= len(LEADS) else [f"ch{i}" for i in range(x.shape[1])]
        return SignalExport(leads=tuple(leads), samples=x.T, sampling_rate_hz=fs, units="mV",
                            start=str(meta.get("start", "")))
    text = data.decode("utf-8")
    if media == "application/json" or text.lstrip().startswith("{"):
        d = json.loads(text)
        names = tuple(str(k) for k in d["leads"])
        return SignalExport(leads=names, samples=np.array([d["leads"][k] for k in names], dtype=np.float64),
                            sampling_rate_hz=float(d["sampling_rate_hz"]), units=str(d.get("units", "mV")),
                            start=str(d.get("start", "")))
    return read_signal_csv(text)


def exam_objects(conn: sqlite3.Connection, blobs: BlobStore, exam_id: int, doc: ReportDoc,
                 pdf: bytes | None) -> list[DicomObject]:
    """The report's DICOM objects (Encapsulated PDF, Secondary Captures, echo SR) plus, for an exam with a
    digitised 12-lead signal, the 12-lead ECG waveform object of the reading the report uses (its current version),
    all with the exam's identifiers."""
    from device.reports.dicom.exam import build_report_objects

    objs = build_report_objects(doc, pdf)
    signals, _ = signals_of(conn, blobs, exam_id)
    other = excluded_signal_ids(conn, exam_id)  # only the ECG reading the report uses goes out with it
    signals = {k: v for k, v in signals.items() if int(k.split("_", 1)[0]) not in other}
    if signals:
        from device.ecg.export import dicom_waveform
        from device.ecg.types import LEADS
        from device.reports.dicom.adopt import adopt
        from device.reports.dicom.ids import identity_from_report
        for name, sig in signals.items():
            if tuple(sig.leads) != tuple(LEADS):
                continue
            ds = dicom_waveform(np.asarray(sig.samples).T, sig.sampling_rate_hz,
                                description="Digitised 12-lead ECG")
            # PS3.3 C.7.6.14: Acquisition Context is Type 2; C.10.9: the group time offset is 1C, absent when
            # Acquisition DateTime is present (dciodvfy flags both on device.ecg.export's dataset)
            if "AcquisitionContextSequence" not in ds:
                ds.AcquisitionContextSequence = []
            for grp in ds.WaveformSequence:
                if "MultiplexGroupTimeOffset" in grp and "AcquisitionDateTime" in ds:
                    del grp.MultiplexGroupTimeOffset
            objs.append(adopt(ds, identity_from_report(doc), kind="ecg", content_key=f"12lead-{name}",
                              content_datetime=doc.exam.exam_datetime))
    return objs


def in_language(doc: ReportDoc, language: str) -> ReportDoc:
    """The same report shown in ``language``: labels, disclaimer, and every section title, measurement name,
    interpretation and caption that came from the glossary (``device.i18n.relabel``); typed text is kept."""
    if doc.language == language:
        return doc
    def tr(text: str) -> str:  # glossary words (titles, names, interpretations) in the other language
        return i18n.relabel(text, doc.language, language)
    sections = tuple(dataclasses.replace(s, title=tr(s.title), measurements=tuple(
        dataclasses.replace(m, label=tr(m.label), interpretation=tr(m.interpretation)) for m in s.measurements))
        for s in doc.sections)
    images = tuple(dataclasses.replace(k, caption=tr(k.caption)) for k in doc.key_images)
    return dataclasses.replace(doc, language=language, sections=sections, key_images=images)
