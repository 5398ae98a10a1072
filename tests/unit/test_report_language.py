"""An echo report assembled from the store, as a lab writes it (issue 18 parts 4-5): in zh-CN the PDF has no
English clinical word outside units and abbreviations; in English the conclusion and key findings come first,
measurements are grouped by structure (LV, LA, aorta) with ASE rounding, human names (no raw keys), technical rows
(view classifier) in the appendix after the body; indexed volumes when height and weight are known."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pypdfium2 as pdfium
import pytest

from device.domain.codecs import encode_clip
from device.reporting import from_store
from device.reporting.settings import ReportSettings
from device.reports.model import edit
from device.reports.pdf import render_pdf
from device.store import Store, clinical
from device.store.db import Tx

VALUES = (("a4c_edv_ml", 131.46, "mL"), ("a4c_esv_ml", 55.21, "mL"), ("a4c_sv_ml", 76.25, "mL"),
          ("a4c_ef_pct", 58.0036, "%"), ("lvidd_mm", 52.35, "mm"), ("ivsd_mm", 9.04, "mm"),
          ("la_diameter_mm", 41.27, "mm"), ("aortic_root_mm", 33.33, "mm"), ("sax_ed_rwt4_mm", 9.87, "mm"))
# units, abbreviations and eponyms a Chinese echo report keeps in Latin letters
ALLOWED = {"mL", "mm", "cm", "ms", "min", "kg", "m", "m2", "cm2", "mm2", "deg", "mV", "SD", "EF", "LV", "LA", "RV", "LVEF", "TAPSE", "LVIDd",
           "LVIDs", "IVSd", "LVPWd", "QTc", "QT", "QRS", "PR", "RR", "ST", "T", "P", "LAD", "LCX", "RCA", "A4C",
           "A2C", "PLAX", "PSAX", "PM", "ED", "ES", "BSA", "Mosteller", "Teichholz", "Bazett", "Fridericia",
           "SSS", "SRS", "SDS", "AF", "GLS", "II", "J", "IS", "AL", "IL", "AS", "I", "A"}


def _pdf_text(pdf: bytes) -> str:
    doc = pdfium.PdfDocument(pdf)
    return "\n".join(doc[i].get_textpage().get_text_range() for i in range(len(doc)))


@pytest.fixture()
def echo_exam(tmp_path):
    store = Store.open(tmp_path)
    with Tx(store.conn):
        p = clinical.upsert_patient(store.conn, "LANG0001", "王小明", "M")
        exam = clinical.create_exam(store.conn, p, "echo", None, ["A4C", "A2C", "PLAX"], height_cm=175.0,
                                    weight_kg=72.0, indication="chest pain")
        clip = encode_clip(np.zeros((2, 8, 8), np.uint8), 20.0)
        caps = {v: clinical.add_capture(store.conn, store.blobs, exam.id, "clip", clip + v.encode(),
                                        "application/x-cardiocart-clip+npz", label=v, quality=0.9)
                for v in ("A4C", "PLAX")}
        for name, value, unit in VALUES:
            cap = caps["PLAX"] if name in ("lvidd_mm", "ivsd_mm", "la_diameter_mm", "aortic_root_mm") else caps["A4C"]
            clinical.add_measurement(store.conn, exam.id, cap.id, name, value, unit, "lv_echo", "1.0.0", (1, 9))
        clinical.add_finding(store.conn, exam.id, caps["PLAX"].id, "view", "PLAX", 0.893, "echo_view", "2.0.0")
    yield store, exam
    store.close()


def _doc(store, exam, language, **exam_changes):
    doc = from_store.assemble(store.conn, store.blobs, exam.id, ReportSettings.bundled(), language)
    return edit(doc, free_text="左心室收缩功能正常。" if language == "zh-CN" else "Normal LV systolic function.",
                exam=dataclasses.replace(doc.exam, **exam_changes))


def test_zh_cn_pdf_has_no_english_clinical_terms(echo_exam):
    store, exam = echo_exam
    doc = _doc(store, exam, "zh-CN", indication="胸痛")
    text = _pdf_text(render_pdf(doc))
    allowed = set(ALLOWED)
    for token_source in (*doc.models_used, doc.patient.patient_id, doc.exam.accession):
        allowed |= set(re.findall(r"[A-Za-z][A-Za-z0-9_]*", token_source))
    words = set(re.findall(r"[A-Za-z][A-Za-z0-9_]*", text))
    assert "左心室" in text and "结论" in text and "主要发现" in text and "附录" in text
    assert sorted(w for w in words if w not in allowed) == []


def _english_words(doc) -> list[str]:
    allowed = set(ALLOWED)
    for token_source in (*doc.models_used, doc.patient.patient_id, doc.exam.accession):
        allowed |= set(re.findall(r"[A-Za-z][A-Za-z0-9_]*", token_source))
    return sorted(set(re.findall(r"[A-Za-z][A-Za-z0-9_]*", _pdf_text(render_pdf(doc)))) - allowed)


@pytest.mark.parametrize("kind", ["echo", "ecg", "perfusion"])
def test_zh_cn_sample_pdfs_have_no_english_clinical_terms(kind):
    """The demonstration reports (``python -m device export sample --lang zh-CN``) too."""
    from device.reports.sample import sample_report
    assert _english_words(sample_report(kind, "zh-CN")) == []


def test_the_zh_cn_check_catches_an_english_term(echo_exam):
    store, exam = echo_exam
    doc = _doc(store, exam, "zh-CN")
    sections = (dataclasses.replace(doc.sections[0], title="Left ventricle"), *doc.sections[1:])
    words = set(re.findall(r"[A-Za-z][A-Za-z0-9_]*", _pdf_text(render_pdf(edit(doc, sections=sections)))))
    assert {"Left", "ventricle"} <= words - ALLOWED


def test_english_report_order_rounding_names_and_appendix(echo_exam):
    store, exam = echo_exam
    doc = _doc(store, exam, "en")  # height, weight and indication as stored with the exam
    assert doc.exam.bsa_m2 == pytest.approx((175 * 72 / 3600) ** 0.5)
    text = _pdf_text(render_pdf(doc))
    flat = " ".join(text.split())
    order = ["BSA (Mosteller)", "Conclusion", "Normal LV systolic function.", "Key findings",
             "Left ventricle: size and systolic function", "Left ventricle: linear measurements",
             "Left ventricle: short axis", "Left atrium", "Aorta", "Appendix: technical data"]
    at = [flat.find(s) for s in order]
    assert -1 not in at, dict(zip(order, at))
    assert at == sorted(at), dict(zip(order, at))
    assert "1.87 m²" in flat and "chest pain" in flat
    rows = {m.name: m for m in doc.measurements}
    assert rows["lvef_a4c"].display_value == "58" and rows["edv_ml"].display_value == "131"
    assert rows["lvidd_mm"].display_value == "52.4" and rows["la_ap"].display_value == "41.3"
    assert rows["edv_index_ml_m2"].display_value == f"{131.46 / doc.exam.bsa_m2:.0f}"
    for raw in ("58.0036", "52.35", "131.46", "41.27", "0.893 1"):
        assert raw not in flat, raw
    for key in ("lvidd_mm", "sax_ed_rwt4_mm", "a4c_ef_pct", "la_diameter_mm"):
        assert key not in flat, key
    assert "LV internal diameter, diastole (LVIDd)" in flat and "ED wall thickness AL" in flat
    # the view classifier row is only in the appendix, after every clinical section
    assert flat.find("view: PLAX") > at[-1]
    assert [s.role for s in doc.sections].count("appendix") == 1 and doc.sections[-1].role == "appendix"


def test_body_size_is_checked_and_stored(tmp_path):
    from device.errors import InputError
    store = Store.open(tmp_path)
    try:
        with Tx(store.conn):
            p = clinical.upsert_patient(store.conn, "LANG0002", "Body Size", "F")
            with pytest.raises(InputError, match="height must be"):
                clinical.create_exam(store.conn, p, "echo", None, height_cm=1750.0)
            e = clinical.create_exam(store.conn, p, "echo", None)
            assert (e.height_cm, e.weight_kg, e.indication) == (None, None, "")
            e = clinical.set_exam_body(store.conn, e.id, 160.0, 55.5, "  dyspnoea\n on exertion ")
        assert (e.height_cm, e.weight_kg, e.indication) == (160.0, 55.5, "dyspnoea on exertion")
        doc = from_store.assemble(store.conn, store.blobs, e.id, ReportSettings.bundled(), "en")
        assert doc.exam.bsa_m2 == pytest.approx((160 * 55.5 / 3600) ** 0.5)
    finally:
        store.close()


def test_an_english_draft_shown_in_zh_cn_has_no_english_clinical_terms(echo_exam):
    """The report page and exports show a report in the reader's language (exports.in_language): every glossary
    word of an English draft (titles, names, interpretations, captions) is rewritten, and back again."""
    from device.reporting.exports import in_language
    store, exam = echo_exam
    en = edit(from_store.assemble(store.conn, store.blobs, exam.id, ReportSettings.bundled(), "en"),
              free_text="左心室收缩功能正常。", exam=dataclasses.replace(
                  from_store.assemble(store.conn, store.blobs, exam.id, ReportSettings.bundled(), "en").exam,
                  indication="胸痛"))
    zh = in_language(en, "zh-CN")
    assert _english_words(zh) == []
    native = _doc(store, exam, "zh-CN")
    assert [s.title for s in zh.sections] == [s.title for s in native.sections]
    assert [m.label for m in zh.measurements] == [m.label for m in native.measurements]
    back = in_language(zh, "en")
    assert [m.label for m in back.measurements] == [m.label for m in en.measurements]
    assert [m.interpretation for m in back.measurements] == [m.interpretation for m in en.measurements]


def test_zh_cn_ecg_report_from_the_store_has_no_english_clinical_terms(tmp_path):
    store = Store.open(tmp_path)
    try:
        with Tx(store.conn):
            p = clinical.upsert_patient(store.conn, "LANG0003", "李华", "")
            exam = clinical.create_exam(store.conn, p, "ecg", None)
            for name, value, unit in (("hr_bpm", 48.0, "/min"), ("pr_ms", 232.0, "ms"), ("qrs_ms", 128.0, "ms"),
                                      ("qt_ms", 480.0, "ms"), ("qtc_bazett_ms", 512.3, "ms"),
                                      ("axis_deg", -45.0, "deg"), ("st_j_mv", 0.12, "mV")):
                clinical.add_measurement(store.conn, exam.id, None, name, value, unit, "ecg_reader", "1.0.0")
            clinical.add_finding(store.conn, exam.id, None, "rhythm", "sinus bradycardia", None, "ecg_rules", "1.1.0")
        doc = from_store.assemble(store.conn, store.blobs, exam.id, ReportSettings.bundled(), "zh-CN")
        from device.reporting.rows import unscored_findings_text
        doc = edit(doc, free_text=unscored_findings_text(store.conn, exam.id, "zh-CN"))
        assert "窦性心动过缓" in doc.free_text and "节律" in doc.free_text
        interps = {m.name: m.interpretation for m in doc.measurements}
        assert interps["hr_bpm"].startswith("心动过缓") and "电轴左偏" in interps["axis_deg"]
        words = _english_words(doc)
        assert [w for w in words if w != "ecg_rules"] == [], words   # the rule model's name, in the free text
        assert "J 点 ST 段水平" in [m.label for m in doc.measurements]
    finally:
        store.close()
