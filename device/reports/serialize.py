"""ReportDoc <-> JSON-ready dict (images as base64 PNG). Bad input raises InputError naming the field."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

from device.errors import InputError
from device.reports.model import ReportExam, KeyImage, ReportPatient, ReportDoc, ReportMeasurement, Section, Signature

FORMAT = "cardiocart.report/1"

_UID_RE = re.compile(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*")


def to_dict(doc: ReportDoc) -> dict[str, Any]:
    """A JSON-ready dict of the report (``format`` = ``cardiocart.report/1``)."""
    p, e = doc.patient, doc.exam
    return {
        "format": FORMAT,
        "kind": doc.kind,
        "language": doc.language,
        "version": doc.version,
        "title": doc.title,
        "patient": {"id": p.patient_id, "name": p.name, "sex": p.sex,
                    "birth_date": p.birth_date.isoformat() if p.birth_date else None},
        "exam": {"accession": e.accession, "study_uid": e.study_uid, "datetime": e.exam_datetime.isoformat(),
                 "description": e.description, "institution": e.institution,
                 **{k: v for k, v in (("indication", e.indication), ("height_cm", e.height_cm),
                                      ("weight_kg", e.weight_kg)) if v}},
        "sections": [{"title": s.title, "measurements": [_meas_dict(m) for m in s.measurements],
                      **({"role": s.role} if s.role != "body" else {})}
                     for s in doc.sections],
        "key_images": [{"caption": k.caption, "kind": k.kind, "key": k.key,
                        "png_base64": base64.b64encode(k.png).decode("ascii")} for k in doc.key_images],
        "free_text": doc.free_text,
        "signature": ({"signer": doc.signature.signer, "signed_at": doc.signature.signed_at.isoformat()}
                      if doc.signature else None),
        "amends_version": doc.amends_version,
        "amendment_reason": doc.amendment_reason,
        "disclaimer": doc.disclaimer,
    }


def _meas_dict(m: ReportMeasurement) -> dict[str, Any]:
    return {"name": m.name, "label": m.label, "value": m.value, "unit": m.unit, "ref_low": m.ref_low,
            "ref_high": m.ref_high, "interpretation": m.interpretation, "model_name": m.model_name,
            "model_version": m.model_version, "confirmed": m.confirmed}


def from_dict(d: dict[str, Any]) -> ReportDoc:
    """Parse :func:`to_dict` output; raises InputError saying which field is wrong."""
    if not isinstance(d, dict) or d.get("format") != FORMAT:
        raise InputError(f"not a CardioCart report: expected \"format\": \"{FORMAT}\"")
    try:
        p, e = d["patient"], d["exam"]
        patient = ReportPatient(patient_id=str(p["id"]), name=str(p["name"]), sex=str(p.get("sex") or ""),
                          birth_date=dt.date.fromisoformat(p["birth_date"]) if p.get("birth_date") else None)
        exam = ReportExam(accession=str(e["accession"]), study_uid=_uid(e["study_uid"]),
                    exam_datetime=dt.datetime.fromisoformat(e["datetime"]),
                    description=str(e.get("description", "")), institution=str(e.get("institution", "")),
                    indication=str(e.get("indication", "")),
                    height_cm=float(e["height_cm"]) if e.get("height_cm") else None,
                    weight_kg=float(e["weight_kg"]) if e.get("weight_kg") else None)
        sections = tuple(Section(title=str(s["title"]),
                                 measurements=tuple(_meas(m) for m in s.get("measurements", [])),
                                 role=str(s.get("role", "body")))
                         for s in d.get("sections", []))
        images = tuple(KeyImage(png=base64.b64decode(k["png_base64"], validate=True), caption=str(k.get("caption", "")),
                                kind=str(k.get("kind", "image")), key=str(k.get("key", "")))
                       for k in d.get("key_images", []))
        sig = d.get("signature")
        signature = Signature(str(sig["signer"]), dt.datetime.fromisoformat(sig["signed_at"])) if sig else None
        return ReportDoc(patient=patient, exam=exam, kind=str(d["kind"]), sections=sections, key_images=images,
                         free_text=str(d.get("free_text", "")), language=str(d.get("language", "en")),
                         version=int(d.get("version", 1)), signature=signature,
                         amends_version=d.get("amends_version"), amendment_reason=str(d.get("amendment_reason", "")),
                         title=str(d.get("title", "")))
    except KeyError as exc:
        raise InputError(f"report JSON lacks the field {exc}; export it again from CardioCart") from None
    except (ValueError, TypeError, AttributeError, binascii.Error) as exc:
        raise InputError(f"report JSON has a bad value ({exc}); fix that field") from None


def _uid(value: Any) -> str:
    """A DICOM UID: digits in dot-separated components without leading zeros, at most 64 characters."""
    uid = str(value)
    if not _UID_RE.fullmatch(uid) or len(uid) > 64:
        raise ValueError(f"study_uid {uid[:70]!r} is not a DICOM UID (digits and dots, at most 64 characters)")
    return uid


def _meas(m: dict[str, Any]) -> ReportMeasurement:
    def opt(x: Any) -> float | None:
        return None if x is None else float(x)
    return ReportMeasurement(name=str(m["name"]), value=float(m["value"]), unit=str(m.get("unit", "")),
                             label=str(m.get("label", "")), ref_low=opt(m.get("ref_low")),
                             ref_high=opt(m.get("ref_high")), interpretation=str(m.get("interpretation", "")),
                             model_name=str(m.get("model_name", "")), model_version=str(m.get("model_version", "")),
                             confirmed=bool(m.get("confirmed", False)))


def dumps(doc: ReportDoc) -> str:
    return json.dumps(to_dict(doc), ensure_ascii=False, indent=1)


def load(path: Path) -> ReportDoc:
    """Read a report JSON file; InputError if missing or not a report."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read report file {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path} is not UTF-8 text (byte {exc.start}); give a report JSON exported by CardioCart"
                         ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path} is not valid JSON (line {exc.lineno}): {exc.msg}") from None
    return from_dict(data)
