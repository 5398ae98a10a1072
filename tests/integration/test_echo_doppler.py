"""Spectral Doppler screens in an echo exam (issue 14 point 4) through Flask's test client on a real store: uploaded
screens are read by a job (kind from the screen's label), their values land in the exam's report with units,
case-table interpretations, LOINC/SNOMED codes in the DICOM SR and FHIR Observations; an edit changes the report
and E/e' follows; an OTHER clip with a spectral panel is read, one without stores nothing; junk is refused."""

from __future__ import annotations

import datetime as dt
import io

import cv2
import numpy as np
import pytest

from device.sim.doppler import simulate
from device.store import Store, clinical
from device.store.db import Tx


def _exam(settings) -> int:
    s = Store.open(settings.data_dir)
    try:
        with Tx(s.conn) as c:
            p = clinical.upsert_patient(c, "DOP001", "Wang, Fang", "F", "1961-03-04")
            return clinical.create_exam(c, p, "echo", None).id
    finally:
        s.close()


def _png(rgb: np.ndarray) -> bytes:
    return cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))[1].tobytes()


def _current(settings, eid) -> dict:
    s = Store.open(settings.data_dir)
    try:
        return {m.name: m for m in clinical.current_measurements(s.conn, eid)}
    finally:
        s.close()


def _doc(settings, eid):
    from device.reporting.from_store import assemble
    from device.reporting.settings import ReportSettings

    s = Store.open(settings.data_dir)
    try:
        return assemble(s.conn, s.blobs, eid, ReportSettings.from_settings(settings))
    finally:
        s.close()


def test_uploaded_screens_reach_report_sr_and_fhir(settings, login, run_jobs):
    eid = _exam(settings)
    ui = login("sono", "sonographer")
    screens = {"mitral": simulate("mitral", 7001, layout="a"), "tdi-septal": simulate("tdi-septal", 61, layout="b"),
               "tdi-lateral": simulate("tdi-lateral", 62, layout="c")}
    for s in screens.values():
        r = ui.post(f"/exams/{eid}/echo/doppler", {"screen": (io.BytesIO(_png(s.rgb)), "screen.png")},
                    content_type="multipart/form-data")
        assert r.status_code == 302 and "job=" in r.location
    jobs = run_jobs()
    assert "read as Lateral annulus (tissue Doppler)" in ui.get(r.location).data.decode()   # the last job
    assert [j.state for j in jobs] == ["done"] * 3, [j.error for j in jobs]
    assert sorted(j.result["kind"] for j in jobs) == sorted(screens) and all(j.result["status"] == "measured"
                                                                            for j in jobs)
    cur = _current(settings, eid)
    e, sep, lat = (cur[k].value for k in ("mv_e_cm_s", "e_prime_septal_cm_s", "e_prime_lateral_cm_s"))
    assert e == pytest.approx(screens["mitral"].truth["mv_e_cm_s"], rel=0.1) and e == round(e)     # whole cm/s
    assert cur["mv_e_e_prime"].value == pytest.approx(e / ((sep + lat) / 2), abs=0.06)
    assert cur["mv_e_cm_s"].unit == "cm/s" and cur["mv_e_cm_s"].model_name == "doppler-envelope"

    doc = _doc(settings, eid)
    rows = {m.name: (m, sec.title) for sec in doc.sections for m in sec.measurements}
    m, title = rows["e_prime_septal_cm_s"]
    assert "tissue Doppler" in title and m.label == "Septal e'" and m.unit == "cm/s"
    assert m.interpretation in ("normal", "abnormal (reduced)")          # case table, not "no reference"
    assert rows["mv_dt_ms"][0].interpretation in ("short", "normal", "prolonged")
    traced = [k for k in doc.key_images if k.caption.startswith("Doppler ")]
    assert len(traced) == 3 and any("mitral inflow" in k.caption and "doppler-envelope" in k.caption for k in traced)

    from device.reports.dicom.sr import build_echo_sr
    ds = build_echo_sr(doc, content_datetime=dt.datetime(2026, 12, 4, tzinfo=dt.UTC)).dataset
    nums: dict[str, tuple[str, float, str]] = {}

    def walk(items):
        for it in items:
            if it.get("ValueType") == "NUM":
                c = it.ConceptNameCodeSequence[0]
                mv = it.MeasuredValueSequence[0]
                nums[c.CodeValue] = (c.CodingSchemeDesignator, float(mv.NumericValue),
                                     mv.MeasurementUnitsCodeSequence[0].CodeValue)
            walk(it.get("ContentSequence", []))
    walk(ds.ContentSequence)
    assert nums["79911-4"][:2] == ("LN", pytest.approx(sep)) and nums["79911-4"][2] == "cm/s"   # septal e'
    assert nums["78191-4"][0] == "LN" and nums["59111-5"][0] == "LN"                          # DT, E/e'

    from device.reports.fhir import diagnostic_report_bundle
    obs = [e["resource"] for e in diagnostic_report_bundle(doc)["entry"]
           if e["resource"]["resourceType"] == "Observation"]
    codes = {o["code"]["coding"][0]["code"]: o for o in obs}
    assert codes["80054-0"]["valueQuantity"]["code"] == "cm/s"
    assert codes["80054-0"]["valueQuantity"]["value"] == pytest.approx(lat)

    # an edit of E changes the report and E/e' follows it
    from device.reporting.from_store import review_measurement
    s = Store.open(settings.data_dir)
    try:
        with Tx(s.conn):
            review_measurement(s.conn, eid, cur["mv_e_cm_s"].id, user_id=None, value=e + 20)
    finally:
        s.close()
    rows = {m.name: m for sec in _doc(settings, eid).sections for m in sec.measurements}
    assert rows["mv_e_cm_s"].value == e + 20
    assert rows["mv_e_e_prime"].value == pytest.approx((e + 20) / ((sep + lat) / 2), abs=0.06)

    page = ui.get(f"/exams/{eid}/echo").data.decode()
    assert 'id="echo-doppler"' in page and page.count('data-status="measured"') == 3


def test_other_clip_routed_and_junk_refused(settings, login, run_jobs):
    from device.domain.codecs import encode_clip
    from device.usecases.echo_doppler import enqueue_read, enqueue_unread_other_clips, unread_other_clips

    eid = _exam(settings)
    tr = simulate("tr", 63, layout="a")
    noise = np.random.default_rng(0).integers(0, 255, size=(4, 240, 320, 3), dtype=np.uint8)
    s = Store.open(settings.data_dir)
    try:
        with Tx(s.conn) as c:
            spectral = clinical.add_capture(c, s.blobs, eid, "clip", encode_clip(np.stack([tr.rgb] * 3), 30.0),
                                            "application/x-cardiocart-clip+npz", label="OTHER")
            bmode = clinical.add_capture(c, s.blobs, eid, "clip", encode_clip(noise, 30.0),
                                         "application/x-cardiocart-clip+npz", label="OTHER")
            enqueue_read(c, spectral.id, eid)           # as the core does; the other one was never queued
        assert enqueue_unread_other_clips(s.conn) == 1  # the worker's recovery hook queues it
    finally:
        s.close()
    jobs = {j.payload["capture_id"]: j for j in run_jobs()}
    assert jobs[spectral.id].result["kind"] == "tr" and jobs[spectral.id].result["status"] == "measured"
    assert jobs[bmode.id].result["status"] == "not_spectral"
    cur = _current(settings, eid)
    assert cur["tr_vmax_m_s"].value == pytest.approx(tr.truth["tr_vmax_m_s"], rel=0.05) and cur["tr_vmax_m_s"].unit == "m/s"
    assert {m.capture_id for m in cur.values()} == {spectral.id}     # nothing from the B-mode-like clip
    s = Store.open(settings.data_dir)
    try:
        assert unread_other_clips(s.conn) == []                       # both marked read: not queued again
    finally:
        s.close()

    ui = login("sono2", "sonographer")
    r = ui.post(f"/exams/{eid}/echo/doppler", {"screen": (io.BytesIO(b"not an image"), "x.png")},
                content_type="multipart/form-data")
    assert r.status_code == 302 and "job=" not in r.location
    page = ui.get(r.location).data.decode()
    assert "not a PNG, JPEG or DICOM image" in page and "Traceback" not in page
    assert page.count('data-status="measured"') == 1 and 'data-status="not_spectral"' not in page


def test_lvot_and_aortic_screens_give_the_dimensionless_index(settings, login, run_jobs):
    """Issue 14 part 3 (stenosis without an LVOT diameter): LVOT and AV screens -> av_dvi = LVOT VTI / AV VTI with
    the ASE/EACVI 2017 grade from the case table; an edit of a VTI recomputes it; a person's DVI is never replaced."""
    eid = _exam(settings)
    ui = login("sono", "sonographer")
    sims = {k: simulate(k, 71, layout="a") for k in ("lvot", "aortic")}
    for s in sims.values():
        r = ui.post(f"/exams/{eid}/echo/doppler", {"screen": (io.BytesIO(_png(s.rgb)), "screen.png")},
                    content_type="multipart/form-data")
        assert r.status_code == 302
    jobs = run_jobs()
    assert [j.state for j in jobs] == ["done"] * 2, [j.error for j in jobs]
    cur = _current(settings, eid)
    lv, av = cur["lvot_vti_cm"].value, cur["av_vti_cm"].value
    assert cur["av_dvi"].value == pytest.approx(round(lv / av, 2), abs=1e-9)
    truth = sims["lvot"].truth["lvot_vti_cm"] / sims["aortic"].truth["av_vti_cm"]       # 0.45 on these screens
    assert cur["av_dvi"].value == pytest.approx(truth, abs=0.05)
    rows = {m.name: m for sec in _doc(settings, eid).sections for m in sec.measurements}
    assert rows["av_dvi"].interpretation == "moderate aortic stenosis"        # 0.25-0.50, ASE/EACVI 2017
    from device.reporting.from_store import review_measurement
    s = Store.open(settings.data_dir)
    try:
        with Tx(s.conn):
            review_measurement(s.conn, eid, cur["av_vti_cm"].id, user_id=None, value=round(2 * av, 1))
    finally:
        s.close()
    rows = {m.name: m for sec in _doc(settings, eid).sections for m in sec.measurements}
    assert rows["av_dvi"].value == pytest.approx(round(lv / round(2 * av, 1), 2), abs=0.011)
    assert rows["av_dvi"].interpretation.startswith("severe aortic stenosis")   # "(value edited by a person)"
    from device.usecases.echo_doppler import _derive_dvi
    s = Store.open(settings.data_dir)
    try:
        with Tx(s.conn) as c:   # a later reading's derivation leaves the person's (edit-derived) DVI alone
            assert _derive_dvi(c, eid, cur["av_vti_cm"].capture_id) == []
    finally:
        s.close()
    assert _current(settings, eid)["av_dvi"].value == rows["av_dvi"].value
