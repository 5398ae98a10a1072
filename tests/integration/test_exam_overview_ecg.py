"""The exam overview lists the values of the ECG reading the report uses only (issue 18 point 3, found in the
walkthrough: it listed the heart rate of every reading, so two photos gave two heart rates) and says which reading; capture types and value sources are words in the UI language, not store keys."""

from __future__ import annotations

import re

from device.store import Store, clinical
from device.store.db import Tx
from tests.integration.test_ecg_ui import _exam


def _reading(s: Store, eid: int, label: str, hr_bpm: float) -> None:
    with Tx(s.conn) as c:
        photo = clinical.add_capture(c, s.blobs, eid, "photo", label.encode(), "image/jpeg", meta={"label": label})
        sig = clinical.add_capture(c, s.blobs, eid, "signal", label.encode() + b"sig", "application/octet-stream",
                                   meta={"photo_capture_id": photo.id})
        clinical.add_measurement(c, eid, sig.id, "hr_bpm", hr_bpm, "bpm", "ecg_measure", "1.0.0")


def test_overview_lists_only_the_reported_reading(login, settings):
    eid = _exam(settings)
    s = Store.open(settings.data_dir)
    try:
        _reading(s, eid, "before nitrate", 61.0)
        _reading(s, eid, "after nitrate", 88.0)
    finally:
        s.close()
    ui = login("sono", "sonographer", "482913")
    page = ui.get(f"/exams/{eid}").data.decode()
    rows = re.findall(r'<tr data-name="hr_bpm">.*?</tr>', page)
    assert len(rows) == 1 and ">88<" in rows[0]                        # the newest reading's only
    used = re.search(r'id="exam-ecg-reading">([^<]*)<', page)
    assert used and "after nitrate" in used.group(1) and "2 reading(s)" in used.group(1)
    # capture types and value sources in words, not store keys ("photo", "auto")
    assert 'data-kind="photo">Photo<' in page and 'data-kind="signal">ECG signal<' in page
    assert 'data-source="auto">automatic<' in page and "<td>auto</td>" not in page and "<td>photo</td>" not in page
    assert ui.post("/lang/zh-CN").status_code in (200, 302, 303)
    page = ui.get(f"/exams/{eid}").data.decode()
    used = re.search(r'id="exam-ecg-reading">([^<]*)<', page)
    assert used and "after nitrate" in used.group(1) and "ECG reading in this report" not in used.group(1)
    assert 'data-kind="photo">照片<' in page and 'data-source="auto">自动<' in page


def test_report_page_rounds_and_names_values(login, settings):
    """Found in the walkthrough: the report page printed IVSd 9.999 mm (4 significant digits) in the report body
    and listed the review table by store keys (lvidd_mm, ivsd_mm) with 4 digits (1490 mm2, 29.6 %)."""
    ui = login("sono", "sonographer", "482913")
    assert ui.post("/exams/new", {"patient_id": "ROUND001", "sex": "M", "kind": "echo", "height_cm": "172",
                                  "weight_kg": "70", "indication": "dyspnoea"}).status_code == 302
    s = Store.open(settings.data_dir)
    try:
        exam = clinical.list_exams(s.conn)[0]
        with Tx(s.conn) as c:
            clinical.add_measurement(c, exam.id, None, "ivsd_mm", 9.9991, "mm", "lv_seg", "1.1.0")
            clinical.add_measurement(c, exam.id, None, "fs_pct", 28.8996, "%", "lv_seg", "1.1.0")
            cap = clinical.add_capture(c, s.blobs, exam.id, "clip", b"x", "application/octet-stream", label="PLAX",
                                       quality=0.9)
            clinical.add_finding(c, exam.id, cap.id, "view", "PLAX", 0.893, "echo_view", "2.0.0")
    finally:
        s.close()
    page = ui.get(f"/exams/{exam.id}/report").data.decode()
    body = re.search(r'<tr data-name="ivsd_mm">.*?</tr>', page, re.S).group(0)
    assert ">10.0<" in body and "9.999" not in body
    review = re.search(r'<tr data-measurement="ivsd_mm">.*?</td><td class="num">([^<]*)</td>', page, re.S)
    assert review and review.group(1).split()[0] == "10.0"
    assert "<td>ivsd_mm</td>" not in page and "<td>fs_pct</td>" not in page
    assert "Interventricular septum, diastole (IVSd)" in review.group(0)
    # a section without rows (views captured) is a title, not an empty table; a score has no unit "1"
    sections = page[page.index('id="report-sections"'):page.index('id="measurements"')]
    assert not re.search(r"</thead><tbody>\s*</tbody>", sections) and "<td>1</td>" not in sections
    assert "0.89" in sections
    # the page's header gives height, weight, BSA and the indication (they were only in the PDF)
    size = re.search(r'id="report-body-size">([^<]*)<', page).group(1)
    assert "172 cm" in size and "70.0 kg" in size and "1.83 m²" in size and "dyspnoea" in size


def test_pdf_appendix_titled_once_without_unit_one(tmp_path):
    """Found in the walkthrough's zh-CN PDF: the appendix heading printed twice (the section's own title too) and
    each view-classifier row had the unit "1"."""
    import pypdfium2 as pdfium

    from device.reports.pdf import render_pdf
    from tests.unit.test_report_language import _doc

    s = Store.open(tmp_path)
    try:
        with Tx(s.conn):
            p = clinical.upsert_patient(s.conn, "PDF00001", "Pdf Test", "F")
            exam = clinical.create_exam(s.conn, p, "echo", None)
            cap = clinical.add_capture(s.conn, s.blobs, exam.id, "clip", b"x", "application/octet-stream",
                                       label="PLAX", quality=0.9)
            clinical.add_measurement(s.conn, exam.id, cap.id, "lvidd_mm", 48.0, "mm", "lv_echo", "1.0.0")
            clinical.add_finding(s.conn, exam.id, cap.id, "view", "PLAX", 0.893, "echo_view", "2.0.0")
        for lang, title in (("en", "Appendix: technical data"), ("zh-CN", "附录")):
            pdf = pdfium.PdfDocument(render_pdf(_doc(s, exam, lang)))
            text = "\n".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))
            assert text.count(title) == 1, (lang, text)
            row = next(line for line in text.splitlines() if "PLAX 0.89" in line)
            assert " 1 " not in row, row
    finally:
        s.close()
