"""Comprehensive SR (PS3.3 A.35.3) of echo measurements, shaped on TID 5200 "Echocardiography Procedure Report".

Tree::

    CONTAINER 125200 DCM "Adult Echocardiography Procedure Report" (TID 5200)
      HAS CONCEPT MOD  CODE 121049 "Language of Content Item and Descendants"
      HAS OBS CONTEXT  CODE 121005 "Observer Type" = 121007 "Device", UIDREF 121012, TEXT 121013
      HAS OBS CONTEXT  PNAME 121008 "Person Observer Name"          (signed reports)
      CONTAINS CONTAINER 121070 "Findings"                           (one per report section, TID 5202)
        HAS CONCEPT MOD CODE 363698007 SCT "Finding Site" = <anatomy of the section>
        CONTAINS NUM <LOINC measurement> (UCUM units)                (TID 5203)
          HAS CONCEPT MOD TEXT 111001 "Algorithm Name", 111003 "Algorithm Version"
        CONTAINS TEXT 121071 "Finding" (interpretations)
      CONTAINS CONTAINER 121111 "Summary"
        CONTAINS TEXT 121073 "Impression" (free text), TEXT 121106 "Comment" (disclaimer)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from pydicom.dataset import Dataset

from device.errors import InputError
from device.reports.codes import LOCAL_DICOM_SCHEME, concept_for, normalise_name, ucum
from device.reports.dicom.common import COMPREHENSIVE_SR, IMPLEMENTATION_CLASS_UID, DicomObject, code_item, \
    new_dataset
from device.reports.dicom.ids import clean_long_text, clean_text, dicom_person_name, identity_from_report, sop_uid
from device.reports.model import ReportDoc, ReportMeasurement

_LV = ("87878005", "SCT", "Left ventricle structure")
_SITES = {
    "la_ap": ("82471001", "SCT", "Left atrium structure"),
    "aortic_root": ("2861001", "SCT", "Aortic root structure"),
    "mv_e": ("91134007", "SCT", "Mitral valve structure"),
    "mv_a": ("91134007", "SCT", "Mitral valve structure"),
    "mv_e_a": ("91134007", "SCT", "Mitral valve structure"),
    "rv_fac": ("53085002", "SCT", "Right ventricular structure"),
    # spectral Doppler sections (one structure each, see device/reporting/echo_sections.py DOPPLER_STRUCTURE)
    "mv_dt": ("91134007", "SCT", "Mitral valve structure"),
    "e_prime_septal": ("65197004", "SCT", "Mitral Annulus"),
    "e_prime_lateral": ("65197004", "SCT", "Mitral Annulus"),
    "lvot_vmax": ("13418002", "SCT", "Left ventricle outflow tract"),
    "lvot_vti": ("13418002", "SCT", "Left ventricle outflow tract"),
    "av_vmax": ("34202007", "SCT", "Aortic Valve"),
    "av_vti": ("34202007", "SCT", "Aortic Valve"),
    "tr_vmax": ("46030003", "SCT", "Tricuspid valve"),
    "tr_peak_gradient": ("46030003", "SCT", "Tricuspid valve"),
    "rvsp": ("46030003", "SCT", "Tricuspid valve"),
    "pv_vmax": ("39057004", "SCT", "Pulmonic Valve"),
    "pv_vti": ("39057004", "SCT", "Pulmonic Valve"),
    "pv_at": ("39057004", "SCT", "Pulmonic Valve"),
}
_LANG = {"en": ("en-US", "English (United States)"), "zh-CN": ("zh-CN", "Chinese (China)")}


def build_echo_sr(doc: ReportDoc, *, content_datetime: dt.datetime, instance_number: int = 1,
                  key_images: Sequence[DicomObject] = ()) -> DicomObject:
    """The echo measurements of ``doc`` as a Comprehensive SR; SOP Instance UID stable per report version.

    ``key_images``: the exam's Secondary Capture objects, referenced from a "Key Images" container (IMAGE items)
    and listed in the Current Requested Procedure Evidence Sequence.
    """
    if doc.kind != "echo":
        raise InputError(f"the structured report is built for echo reports; this one is '{doc.kind}'")
    if not doc.measurements:
        raise InputError("the echo report has no measurements to put in a structured report")
    ident = identity_from_report(doc)
    uid = sop_uid(ident.study_uid, "echo_sr", doc.content_key)
    ds = new_dataset(sop_class_uid=COMPREHENSIVE_SR, sop_instance_uid=uid, ident=ident, modality="SR",
                     series_kind="echo_sr", series_description="Echo measurements (SR)",
                     instance_number=instance_number, content_datetime=content_datetime)
    ds.ReferencedPerformedProcedureStepSequence = []
    ds.PerformedProcedureCodeSequence = []
    ds.CompletionFlag = "COMPLETE" if doc.signed else "PARTIAL"
    ds.VerificationFlag = "VERIFIED" if doc.signed else "UNVERIFIED"
    if doc.signature is not None:
        v = Dataset()
        v.VerifyingObserverName = dicom_person_name(doc.signature.signer)
        v.VerifyingObserverIdentificationCodeSequence = []
        v.VerifyingOrganization = clean_text(ident.institution) or "CardioCart"
        v.VerificationDateTime = doc.signature.signed_at.strftime("%Y%m%d%H%M%S")
        ds.VerifyingObserverSequence = [v]
    ds.ValueType = "CONTAINER"
    ds.ConceptNameCodeSequence = [code_item("125200", "DCM", "Adult Echocardiography Procedure Report")]
    ds.ContinuityOfContent = "SEPARATE"
    tpl = Dataset()
    tpl.MappingResource = "DCMR"
    tpl.TemplateIdentifier = "5200"
    ds.ContentTemplateSequence = [tpl]

    items = [_code("HAS CONCEPT MOD", ("121049", "DCM", "Language of Content Item and Descendants"),
                   (*_LANG[doc.language][:1], "RFC5646", _LANG[doc.language][1])),
             _code("HAS OBS CONTEXT", ("121005", "DCM", "Observer Type"), ("121007", "DCM", "Device")),
             _item("HAS OBS CONTEXT", "UIDREF", ("121012", "DCM", "Device Observer UID"), UID=IMPLEMENTATION_CLASS_UID),
             _text("HAS OBS CONTEXT", ("121013", "DCM", "Device Observer Name"), "CardioCart")]
    if doc.signature is not None:
        items.append(_code("HAS OBS CONTEXT", ("121005", "DCM", "Observer Type"), ("121006", "DCM", "Person")))
        items.append(_item("HAS OBS CONTEXT", "PNAME", ("121008", "DCM", "Person Observer Name"),
                           PersonName=dicom_person_name(doc.signature.signer)))
    for section in doc.sections:
        if section.measurements:
            items.append(_section(section.measurements))
    summary = [_text("CONTAINS", ("121106", "DCM", "Comment"), doc.disclaimer)]
    if doc.free_text.strip():
        summary.insert(0, _text("CONTAINS", ("121073", "DCM", "Impression"), doc.free_text))
    items.append(_container(("121111", "DCM", "Summary"), summary))
    if key_images:
        items.append(_container(("121180", "DCM", "Key Images"), [_image(o) for o in key_images]))
        ds.CurrentRequestedProcedureEvidenceSequence = [_evidence(ident.study_uid, key_images)]
    ds.ContentSequence = items
    if any(concept_for("echo", m.name).is_local for m in doc.measurements):
        scheme = Dataset()
        scheme.CodingSchemeDesignator = LOCAL_DICOM_SCHEME
        scheme.CodingSchemeName = "CardioCart local measurement codes"
        scheme.CodingSchemeResponsibleOrganization = "CardioCart"
        ds.CodingSchemeIdentificationSequence = [scheme]
    return DicomObject(kind="echo_sr", sop_class_uid=COMPREHENSIVE_SR, sop_instance_uid=uid,
                       study_uid=ident.study_uid, dataset=ds)


def _section(ms: tuple[ReportMeasurement, ...]) -> Dataset:
    site = _SITES.get(normalise_name(ms[0].name, "echo"), _LV)
    children = [_code("HAS CONCEPT MOD", ("363698007", "SCT", "Finding Site"), site)]
    children += [_num(m) for m in ms]
    children += [_text("CONTAINS", ("121071", "DCM", "Finding"), f"{m.display_label}: {m.interpretation}")
                 for m in ms if m.interpretation]
    return _container(("121070", "DCM", "Findings"), children)


def _num(m: ReportMeasurement) -> Dataset:
    c = concept_for("echo", m.name, m.display_label)
    item = _item("CONTAINS", "NUM", (c.code, c.scheme, c.meaning))
    mv = Dataset()
    unit = ucum(m.unit)
    mv.MeasurementUnitsCodeSequence = [code_item(unit, "UCUM", unit)]
    mv.NumericValue = _ds_value(m.value)
    item.MeasuredValueSequence = [mv]
    if m.model_name:
        item.ContentSequence = [_text("HAS CONCEPT MOD", ("111001", "DCM", "Algorithm Name"), m.model_name),
                                _text("HAS CONCEPT MOD", ("111003", "DCM", "Algorithm Version"),
                                      m.model_version or "unknown")]
    return item


def _ref(o: DicomObject) -> Dataset:
    r = Dataset()
    r.ReferencedSOPClassUID = o.sop_class_uid
    r.ReferencedSOPInstanceUID = o.sop_instance_uid
    return r


def _image(o: DicomObject) -> Dataset:
    d = Dataset()
    d.RelationshipType = "CONTAINS"
    d.ValueType = "IMAGE"
    d.ReferencedSOPSequence = [_ref(o)]
    return d


def _evidence(study_uid: str, objs: Sequence[DicomObject]) -> Dataset:
    by_series: dict[str, list[DicomObject]] = {}
    for o in objs:
        by_series.setdefault(str(o.dataset.SeriesInstanceUID), []).append(o)
    study = Dataset()
    study.StudyInstanceUID = study_uid
    series_items = []
    for series_uid, members in by_series.items():
        s = Dataset()
        s.SeriesInstanceUID = series_uid
        s.ReferencedSOPSequence = [_ref(o) for o in members]
        series_items.append(s)
    study.ReferencedSeriesSequence = series_items
    return study


def _ds_value(x: float) -> str:
    s = f"{x:.6g}"
    return s if len(s) <= 16 else f"{x:.8e}"[:16]


def _item(rel: str, vt: str, concept: tuple[str, str, str], **values: object) -> Dataset:
    d = Dataset()
    d.RelationshipType = rel
    d.ValueType = vt
    d.ConceptNameCodeSequence = [code_item(*concept)]
    for k, v in values.items():
        setattr(d, k, v)
    return d


def _text(rel: str, concept: tuple[str, str, str], text: str) -> Dataset:
    return _item(rel, "TEXT", concept, TextValue=clean_long_text(text, 65536))


def _code(rel: str, concept: tuple[str, str, str], value: tuple[str, str, str]) -> Dataset:
    return _item(rel, "CODE", concept, ConceptCodeSequence=[code_item(*value)])


def _container(concept: tuple[str, str, str], children: list[Dataset]) -> Dataset:
    d = _item("CONTAINS", "CONTAINER", concept, ContinuityOfContent="SEPARATE")
    d.ContentSequence = children
    return d
