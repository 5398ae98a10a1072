"""A FHIR R4 transaction Bundle: Patient, one Device per model, Observations (LOINC-coded, UCUM units) and the
DiagnosticReport that ties them together, with the PDF as presentedForm.

Every resource carries a stable identifier derived from the exam's Study Instance UID, and the bundle uses
conditional PUT on that identifier, so posting the same report twice to a FHIR server updates rather than
duplicates.
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

from device.reports.codes import UCUM_SYSTEM, concept_for, ucum
from device.reports.dicom.ids import stable_uid
from device.reports.html import report_title
from device.reports.model import ReportDoc, ReportMeasurement

ID_SYSTEM = "urn:cardiocart:id"
PATIENT_ID_SYSTEM = "urn:cardiocart:patient-id"
_OBS_CAT = "http://terminology.hl7.org/CodeSystem/observation-category"
_INTERP = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
_DIAG_SVC = "http://terminology.hl7.org/CodeSystem/v2-0074"
_REPORT_CODES = {"echo": ("42148-7", "Echocardiography Report"), "ecg": ("11524-6", "EKG study"),
                 "perfusion": ("49118-3", "Nuclear Medicine Report")}
_SERVICE = {"echo": ("CUS", "Cardiac Ultrasound"), "ecg": ("EC", "Electrocardiac (e.g., EKG, EEC, Holter)"),
            "perfusion": ("NMS", "Nuclear Medicine Scan")}
_GENDER = {"M": "male", "F": "female", "O": "other", "": "unknown"}


def _uuid(*parts: str) -> str:
    return str(uuid.UUID(int=int(stable_uid(*parts)[5:])))


def diagnostic_report_bundle(doc: ReportDoc, pdf: bytes | None = None) -> dict[str, Any]:
    """The report as a FHIR R4 ``Bundle`` (type ``transaction``) dict; ``json.dumps`` it to send or save."""
    study = doc.exam.study_uid
    key = f"{doc.kind}-{doc.language}-v{doc.version}"  # signing updates (PUT) the same resources: status -> final
    pid = _uuid(study, "fhir", "patient", doc.patient.patient_id)
    entries: list[dict[str, Any]] = [_entry("Patient", pid, _patient(doc))]
    devices: dict[str, str] = {}
    for m in doc.measurements:
        if m.model_name and m.model_text not in devices:
            did = _uuid(study, "fhir", "device", m.model_text)
            devices[m.model_text] = did
            entries.append(_entry("Device", did, {
                "resourceType": "Device", "identifier": [{"system": ID_SYSTEM, "value": did}],
                "deviceName": [{"name": m.model_name, "type": "model-name"}],
                "version": [{"value": m.model_version or "unknown"}],
                "note": [{"text": doc.disclaimer}]}))
    status = _status(doc)
    obs_ids = []
    for i, (section, m) in enumerate((s.title, m) for s in doc.sections for m in s.measurements):
        oid = _uuid(study, "fhir", "obs", key, str(i), m.name)
        obs_ids.append(oid)
        entries.append(_entry("Observation", oid, _observation(doc, m, section, oid, pid, devices, status)))
    rid = _uuid(study, "fhir", "report", key)
    code, display = _REPORT_CODES[doc.kind]
    svc, svc_display = _SERVICE[doc.kind]
    report: dict[str, Any] = {
        "resourceType": "DiagnosticReport",
        "identifier": [{"system": ID_SYSTEM, "value": rid},
                       {"system": "urn:cardiocart:accession", "value": doc.exam.accession}],
        "status": status,
        "category": [{"coding": [{"system": _DIAG_SVC, "code": svc, "display": svc_display}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": code, "display": display}],
                 "text": report_title(doc)},
        "subject": {"reference": f"urn:uuid:{pid}"},
        "effectiveDateTime": doc.exam.exam_datetime.isoformat(),
        "result": [{"reference": f"urn:uuid:{o}"} for o in obs_ids],
        "conclusion": "\n\n".join(x for x in (doc.free_text.strip(), doc.disclaimer) if x),
    }
    if doc.signature:
        report["issued"] = doc.signature.signed_at.isoformat()
        report["resultsInterpreter"] = [{"display": doc.signature.signer}]
    if pdf is not None:
        report["presentedForm"] = [{"contentType": "application/pdf", "language": doc.language,
                                    "title": f"{report_title(doc)} v{doc.version}",
                                    "data": base64.b64encode(pdf).decode("ascii")}]
    entries.append(_entry("DiagnosticReport", rid, report))
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def bundle_json(doc: ReportDoc, pdf: bytes | None = None) -> str:
    return json.dumps(diagnostic_report_bundle(doc, pdf), ensure_ascii=False, indent=1)


def _status(doc: ReportDoc) -> str:
    if not doc.signed:
        return "preliminary"
    return "corrected" if doc.amends_version else "final"


def _entry(rtype: str, rid: str, resource: dict[str, Any]) -> dict[str, Any]:
    ident = resource["identifier"][0]  # conditional update on the resource's own first identifier
    return {"fullUrl": f"urn:uuid:{rid}", "resource": resource,
            "request": {"method": "PUT", "url": f"{rtype}?identifier={ident['system']}|{ident['value']}"}}


def _patient(doc: ReportDoc) -> dict[str, Any]:
    p = doc.patient
    res: dict[str, Any] = {"resourceType": "Patient",
                           "identifier": [{"system": PATIENT_ID_SYSTEM, "value": p.patient_id}],
                           "name": [{"text": p.name}], "gender": _GENDER.get(p.sex, "unknown")}
    if p.birth_date:
        res["birthDate"] = p.birth_date.isoformat()
    return res


def _qty(value: float, unit: str) -> dict[str, Any]:
    code = ucum(unit)
    return {"value": value, "unit": unit or code, "system": UCUM_SYSTEM, "code": code}


def _observation(doc: ReportDoc, m: ReportMeasurement, section: str, oid: str, pid: str,
                 devices: dict[str, str], status: str) -> dict[str, Any]:
    c = concept_for(doc.kind, m.name, m.display_label)
    cat = "procedure" if doc.kind == "ecg" else "imaging"
    obs: dict[str, Any] = {
        "resourceType": "Observation",
        "identifier": [{"system": ID_SYSTEM, "value": oid}],
        "status": status,
        "category": [{"coding": [{"system": _OBS_CAT, "code": cat}]}],
        "code": {"coding": [{"system": c.fhir_system, "code": c.code, "display": c.meaning}],
                 "text": m.display_label},
        "subject": {"reference": f"urn:uuid:{pid}"},
        "effectiveDateTime": doc.exam.exam_datetime.isoformat(),
        "valueQuantity": _qty(m.value, m.unit),
    }
    if m.ref_low is not None or m.ref_high is not None:
        rr: dict[str, Any] = {}
        if m.ref_low is not None:
            rr["low"] = _qty(m.ref_low, m.unit)
        if m.ref_high is not None:
            rr["high"] = _qty(m.ref_high, m.unit)
        obs["referenceRange"] = [rr]
    flag = m.flag or ("N" if (m.ref_low is not None or m.ref_high is not None) else "")
    if flag or m.interpretation:
        interp: dict[str, Any] = {"text": m.interpretation} if m.interpretation else {}
        if flag:
            interp["coding"] = [{"system": _INTERP, "code": flag,
                                 "display": {"H": "High", "L": "Low", "N": "Normal"}[flag]}]
        obs["interpretation"] = [interp]
    notes = [f"Section: {section}"]
    if m.model_name:
        obs["device"] = {"reference": f"urn:uuid:{devices[m.model_text]}", "display": m.model_text}
        notes.append(f"Measured by model {m.model_text}; {'reviewed' if m.confirmed else 'not reviewed'} by a "
                     f"person. {doc.disclaimer}")
    obs["note"] = [{"text": n} for n in notes]
    return obs
