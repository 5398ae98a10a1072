"""The short-axis MRI page through Flask's test client on a real store (issue 16 point 3): a synthetic SAX stack
(.zip) -> a job -> contours, 11 indices per frame, ED/ES, EDV/ESV/SV/EF; a typed EDV edit is stored as the person's
(audited), SV/EF follow it in the report, and a later automatic analysis does not replace it; a contour edit
recomputes the frame and the stack; non-SAX uploads (an echo DICOM, a chest CT, junk) are refused in one line."""

from __future__ import annotations

import io
import json
import re

import cv2
import numpy as np
import pytest

from device.paths import MODELS_DIR
from device.store import Store, audit, clinical
from device.store.db import Tx
from tests.sax_series import sax_files, sax_zip, single_file

pytestmark = pytest.mark.skipif(not (MODELS_DIR / "lv_seg" / "manifest.json").exists(),
                                reason="the lv_seg model is not built (make models)")


def _exam(settings, kind="echo") -> int:
    s = Store.open(settings.data_dir)
    try:
        with Tx(s.conn) as c:
            p = clinical.upsert_patient(c, "SAX001", "Li, Na", "F", "1970-01-02")
            return clinical.create_exam(c, p, kind, None).id
    finally:
        s.close()


def _upload(ui, eid, files):
    data = {"series": [(io.BytesIO(b), n) for n, b in files]}
    return ui.post(f"/exams/{eid}/sax/upload", data, content_type="multipart/form-data")


def _current(settings, eid) -> dict:
    s = Store.open(settings.data_dir)
    try:
        return {m.name: m for m in clinical.current_measurements(s.conn, eid) if m.name.startswith("mri_sax_")}
    finally:
        s.close()


def _sr_values(settings, eid) -> dict[str, float]:
    """Concept meaning -> numeric value of every NUM item of the exam's echo SR (built from its report doc)."""
    import datetime as dt

    from device.reporting.from_store import assemble
    from device.reporting.settings import ReportSettings
    from device.reports.dicom.sr import build_echo_sr

    s = Store.open(settings.data_dir)
    try:
        doc = assemble(s.conn, s.blobs, eid, ReportSettings.from_settings(settings))
    finally:
        s.close()
    ds = build_echo_sr(doc, content_datetime=dt.datetime(2026, 12, 4, tzinfo=dt.UTC)).dataset
    out: dict[str, float] = {}

    def walk(items):
        for it in items:
            if it.get("ValueType") == "NUM":
                out[it.ConceptNameCodeSequence[0].CodeMeaning] = float(it.MeasuredValueSequence[0].NumericValue)
            walk(it.get("ContentSequence", []))
    walk(ds.ContentSequence)
    return out


@pytest.fixture(scope="module")
def stack_zip() -> bytes:
    return sax_zip(positions=True, location_scale=0.67)    # SliceLocation is not the gap (as on Sunnybrook)


def test_upload_analyse_edit_report(settings, login, run_jobs, stack_zip):
    eid = _exam(settings)
    ui = login("sono", "sonographer")
    r = _upload(ui, eid, [("series.zip", stack_zip)])
    assert r.status_code == 302 and "job=" in r.location
    jobs = run_jobs()
    assert [j.state for j in jobs] == ["done"], [j.error for j in jobs]
    assert jobs[0].result["status"] == "done"
    page = ui.get(f"/exams/{eid}/sax")
    html = page.data.decode()
    assert page.status_code == 200 and 'id="sax-result"' in html
    assert html.count('class="sax-thumb') == 24 and 'class="sax-endo"' in html and "lv_seg" in html
    cur = _current(settings, eid)
    edv, esv, ef = cur["mri_sax_edv_ml"].value, cur["mri_sax_esv_ml"].value, cur["mri_sax_ef_pct"].value
    assert 20 < esv < edv < 90 and ef == pytest.approx(100 * (edv - esv) / edv, abs=0.01)
    assert float(html.split('id="sax-auto-ef">')[1].split()[0]) == round(ef, 1)     # page panel = stored rows
    assert "4 slices 10.0 mm apart" in html                             # gaps from the positions, not 6.7 mm
    assert "mri_sax_ed_cavity_area_mm2" in cur and any(n.startswith("mri_sax_es_dim") for n in cur)
    # a frame PNG of the grid
    k0 = html.split('/sax/frame/')[1].split('"')[0]
    assert ui.get(f"/exams/{eid}/sax/frame/{k0}").data[:4] == b"\x89PNG"
    grid = html.split('id="sax-grid-img" src="')[1].split('"')[0]
    g = cv2.imdecode(np.frombuffer(ui.get(grid).data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert g.shape == (4 * 50, 6 * 50)                                   # 4 slices x 6 phases in one picture

    # the person's EDV; SV and EF follow it in the report; typing EF is refused
    r = ui.post(f"/exams/{eid}/sax/value", {"name": "mri_sax_edv_ml", "value": f"{edv + 10:.1f}"})
    assert r.status_code == 302
    new = _current(settings, eid)["mri_sax_edv_ml"]
    assert new.source == "edited" and new.value == pytest.approx(round(edv + 10, 1)) and new.edited_by is not None
    ui.post(f"/exams/{eid}/sax/value", {"name": "mri_sax_ef_pct", "value": "70"})
    assert "EDV or ESV" in ui.get(f"/exams/{eid}/sax").data.decode()
    ef_row = _current(settings, eid)["mri_sax_ef_pct"]                   # nor on the report page
    r = ui.post(f"/exams/{eid}/report/measurements/{ef_row.id}", {"value": "70"})
    assert _current(settings, eid)["mri_sax_ef_pct"].id == ef_row.id, r.status_code
    assert "computed from the stack" in r.data.decode() or "computed from the stack" in ui.get(
        f"/exams/{eid}/report").data.decode()
    s = Store.open(settings.data_dir)
    try:
        edits = [e for e in audit.recent(s.conn, 50, object_type="sax_mri") if e.action == "edit"]
        assert edits and edits[0].username == "sono"
        from device.reporting.sax_sections import sax_rows
        from device.reporting.settings import ReportSettings
        exam = clinical.get_exam(s.conn, eid)
        rows = {r.name: r for r in sax_rows(s.conn, exam, ReportSettings.from_settings(settings).case_table)}
    finally:
        s.close()
    e2 = new.value
    assert rows["mri_sax_edv_ml"].confirmed and rows["mri_sax_ef_pct"].value == pytest.approx(
        100 * (e2 - esv) / e2, abs=0.01)
    report = ui.get(f"/exams/{eid}/report").data.decode()
    assert f"{e2:.1f}" in report or f"{e2:g}" in report
    assert _sr_values(settings, eid)["LV end-diastolic volume"] == pytest.approx(e2)    # the DICOM SR carries it
    s = Store.open(settings.data_dir)
    try:
        from device.reporting.from_store import assemble
        doc = assemble(s.conn, s.blobs, eid, ReportSettings.from_settings(settings))
    finally:
        s.close()
    sax_imgs = [k for k in doc.key_images if k.key.startswith("sax")]          # ED and ES of the reported slice
    assert len(sax_imgs) == 2 and all(k.png[:4] == b"\x89PNG" and "lv_seg" in k.caption for k in sax_imgs)
    pdf = ui.get(f"/exams/{eid}/report/v1.pdf")
    assert pdf.status_code == 200 and pdf.data[:4] == b"%PDF"
    from device.reports.pdf import render_pdf
    from tests.unit.test_report_language import ALLOWED, _pdf_text
    s = Store.open(settings.data_dir)
    try:
        zh = assemble(s.conn, s.blobs, eid, ReportSettings.from_settings(settings), "zh-CN")
    finally:
        s.close()
    text = _pdf_text(render_pdf(zh))
    allowed = ALLOWED | {"MRI"} | {w for src in (*zh.models_used, zh.patient.patient_id, zh.patient.name, zh.exam.accession)
                                   for w in re.findall(r"[A-Za-z][A-Za-z0-9_]*", src)}
    assert "左心室舒张末期容积" in text and "短轴 MRI" in text
    assert sorted(set(re.findall(r"[A-Za-z][A-Za-z0-9_]*", text)) - allowed) == []     # no English clinical word

    # a second automatic analysis does not replace the edited EDV
    _upload(ui, eid, [("again.zip", stack_zip)])
    run_jobs()
    assert _current(settings, eid)["mri_sax_edv_ml"].id == new.id

    # a contour edit: frame redrawn, values recomputed, new document version
    html = ui.get(f"/exams/{eid}/sax").data.decode()
    aid = int(html.split('id="sax-result" data-analysis="')[1].split('"')[0])
    k = int(html.split('id="sax-view" data-analysis="')[1].split('data-k="')[1].split('"')[0])
    svg = html.split('data-endo="')[1].split('"')[0].replace("&#34;", '"').replace("&quot;", '"')
    endo = json.loads(svg)
    cx = sum(p[0] for p in endo) / len(endo)
    cy = sum(p[1] for p in endo) / len(endo)
    bigger = [[cx + 1.15 * (x - cx), cy + 1.15 * (y - cy)] for x, y in endo]
    epi_txt = html.split('data-epi="')[1].split('"')[0].replace("&#34;", '"').replace("&quot;", '"')
    r = ui.c.post(f"/exams/{eid}/sax/contour", json={"analysis_id": aid, "k": k, "endo": bigger,
                                                    "epi": json.loads(epi_txt)},
                  headers={"X-CSRF-Token": ui.token})
    assert r.status_code == 200, r.data
    out = r.get_json()
    assert out["analysis_id"] != aid and out["indices"]["cavity_area_mm2"] > 0
    assert 'class="badge">' in ui.get(f"/exams/{eid}/sax?k={k}").data.decode()


REFUSED = [
    ([("echo.dcm", single_file("US"))], "ultrasound"),
    ([("chest.dcm", single_file("CT", "CHEST"))], "CT image"),
    ([("notes.txt", b"hello")], "no DICOM images"),
    ([("lax.zip", sax_zip(n_phases=3, radii_mm=(24.0,), desc="cine 4CH"))], "long-axis"),
]


def test_non_sax_upload_refused_in_one_line_wrong_kind_and_role(settings, login):
    eid = _exam(settings)
    ui = login("sono", "sonographer")
    for files, why in REFUSED:
        r = _upload(ui, eid, files)
        assert r.status_code == 400, why
        msg = r.data.decode().split('id="sax-error">')[1].split("</p>")[0]
        assert why in msg and "\n" not in msg
    s = Store.open(settings.data_dir)
    try:
        assert s.conn.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 0     # nothing was queued
    finally:
        s.close()
    assert ui.get(f"/exams/{_exam(settings, 'ecg')}/sax").status_code == 404
    adm = login("adm", "admin", "613850")
    assert _upload(adm, eid, sax_files(n_phases=3, radii_mm=(24.0,))).status_code == 403
