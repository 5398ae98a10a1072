"""Echo exam measurement end to end: a simulated A4C clip (the echo probe simulator, as the live loop saves it) is
measured with the lv_seg model and stored with the model, the capture and the ED/ES frames; a clip without
calibration is refused with a reason and no numbers; a sonographer's contour edit is recomputed on the server and
stored as edited, superseding the automatic values; the report builder gives reference ranges and key images."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from device.errors import UserError
from device.inference import list_models
from device.services import echo_measure as em
from device.reporting.settings import ReportSettings
from device.services.live_sink import encode_clip
from device.sim.echo_probe import Segment, SimulatedProbe
from device.store import Store, clinical
from device.store.db import Tx

TABLE = ReportSettings.bundled().case_table

CLIP_MEDIA = "application/x-cardiocart-clip+npz"
needs_model = pytest.mark.skipif("lv_seg" not in list_models(), reason="the lv_seg model is not built (make models)")


@pytest.fixture(scope="module")
def a4c_clip():
    """22 frames (about 1.4 beats at 75 bpm, 20 fps) of the simulated probe holding A4C on a 480x360 screen, and
    the single-plane EF of the simulator's own LV masks (the truth)."""
    from device.lv.echo import measure_apical
    probe = SimulatedProbe(script=(Segment("A4C", approach_s=0.05, hold_s=10, leave_s=0.05),), size=(480, 360),
                           fps=20, hr_bpm=75, seed=2)
    shots = [probe.next() for _ in range(24)][2:]          # the first frames are the probe arriving
    frames = np.stack([s[0] for s in shots])
    truth = shots[-1][1]
    labels = np.stack([np.where(s[1].lv_cavity, 1, np.where(s[1].lv_myo, 2, 0)).astype(np.uint8) for s in shots])
    ef_truth = measure_apical(labels, truth.mm_per_px, "A4C", "truth", "-").volumes.ef_pct
    return frames, truth.mm_per_px, list(truth.sector_bbox), ef_truth


def _exam(store: Store, sex: str = "F") -> clinical.Exam:
    with Tx(store.conn):
        p = clinical.upsert_patient(store.conn, "ECHO0001", "Test Patient", sex)
        return clinical.create_exam(store.conn, p, "echo", None, ["A4C"])


def _add_clip(store: Store, exam_id: int, frames, view: str, meta: dict) -> int:
    with Tx(store.conn):
        return clinical.add_capture(store.conn, store.blobs, exam_id, "clip", encode_clip(frames, 20.0), CLIP_MEDIA,
                                    label=view, quality=0.9, meta=meta).id


def test_uncalibrated_and_unmeasurable_clips_refused_with_reason(tmp_path, a4c_clip):
    frames, _, bbox, _ = a4c_clip
    store = Store.open(tmp_path)
    exam = _exam(store)
    cap = _add_clip(store, exam.id, frames[:6], "A4C", {"mm_per_px": None, "sector_bbox": bbox})
    res = em.measure_exam(store.conn, store.blobs, exam.id, table=TABLE)      # refused before any model is needed
    (out,) = res.clips
    assert out.status == "refused" and "calibration" in out.reason and not out.values
    assert clinical.current_measurements(store.conn, exam.id) == []
    geo = em.geometry_findings(store.conn, exam.id)[cap]["detail"]
    assert geo["status"] == "refused" and "calibration" in geo["reason"]
    other = _add_clip(store, exam.id, frames[:6], "A3C", {"mm_per_px": 0.5})
    assert em.measure_exam(store.conn, store.blobs, exam.id, table=TABLE).clips == ()   # other views are not measured
    res = em.measure_capture(store.conn, store.blobs, other, table=TABLE)               # ...and say why when asked
    assert res.clips[0].status == "refused" and "not a view" in res.clips[0].reason
    from device.reporting.echo_sections import echo_sections
    sections, images = echo_sections(store.conn, store.blobs, exam, ReportSettings.bundled())
    titles = [s.title for s in sections]
    assert any(t.startswith("A4C clip not measured") and "calibration" in t for t in titles)
    assert not any(s.measurements for s in sections) and images == []
    store.close()


@needs_model
def test_a4c_clip_measured_edited_and_reported(settings, login, a4c_clip):
    frames, mmpp, bbox, ef_truth = a4c_clip
    store = Store.open(settings.data_dir)
    exam = _exam(store)
    cap = _add_clip(store, exam.id, frames, "A4C", {"mm_per_px": mmpp, "sector_bbox": bbox})
    ui = login("sono", "sonographer")
    page = ui.get(f"/exams/{exam.id}")
    assert f"/exams/{exam.id}/echo".encode() in page.data                  # the Measure action on the exam page
    r = ui.post(f"/exams/{exam.id}/echo/measure")
    assert r.status_code == 302 and "job=" in r.location
    assert not clinical.current_measurements(store.conn, exam.id)        # queued, not measured in the request
    from tests.integration.conftest import run_jobs_in
    assert [j.state for j in run_jobs_in(settings)] == ["done"]           # the worker role's part
    assert ui.get(r.location).status_code == 200

    rows = {m.name: m for m in clinical.current_measurements(store.conn, exam.id)}
    assert {n for n in rows if n.startswith("a4c_")} == {"a4c_edv_ml", "a4c_esv_ml", "a4c_sv_ml", "a4c_ef_pct"}
    assert all(rows[n].model_name == "echo_2d" for n in rows if not n.startswith("a4c_"))  # RV/atria (2-D)
    from device.inference import load_manifest
    man = load_manifest("lv_seg")
    ef = rows["a4c_ef_pct"]
    assert (ef.model_name, ef.model_version, ef.source, ef.capture_id) == ("lv_seg", man.version, "auto", cap)
    geo = em.geometry_findings(store.conn, exam.id)[cap]
    d = geo["detail"]
    assert tuple(ef.frames) == (d["ed_frame"], d["es_frame"]) and d["ed_frame"] != d["es_frame"]
    assert abs(ef.value - ef_truth) < 10, (ef.value, ef_truth)
    assert rows["a4c_edv_ml"].value > rows["a4c_esv_ml"].value > 0

    html = ui.get(f"/exams/{exam.id}/echo").data.decode()
    assert 'data-name="a4c_ef_pct"' in html and "lv_seg " + man.version in html and f"/exams/{exam.id}/report" in html
    data = json.loads(re.search(r'id="echo-data">(.*?)</script>', html, re.DOTALL).group(1))
    assert data["clips"][0]["finding_id"] == geo["id"]

    # the sonographer pulls the ES contour outwards: ESV up, EF down, stored as edited and superseding
    es = np.asarray(d["frames"]["es"]["trace"]["contour"], float)
    centre = es.mean(axis=0)
    bigger = (centre + (es - centre) * 1.25).tolist()
    r = ui.c.post(f"/exams/{exam.id}/echo/edit", json={"finding_id": geo["id"], "change": {"phase": "es",
                  "contour": bigger}}, headers={"X-CSRF-Token": ui.token})
    assert r.status_code == 200, r.data
    assert {"a4c_esv_ml", "a4c_ef_pct"} <= set(r.json["changed"])
    now = {m.name: m for m in clinical.current_measurements(store.conn, exam.id)}
    new_ef = now["a4c_ef_pct"]
    assert new_ef.source == "edited" and new_ef.supersedes == ef.id and new_ef.value < ef.value - 5
    assert now["a4c_edv_ml"].id == rows["a4c_edv_ml"].id                    # ED was not touched: still automatic
    edited_by = store.conn.execute("SELECT edited_by FROM measurements WHERE id = ?", (new_ef.id,)).fetchone()[0]
    assert edited_by is not None
    cur = em.geometry_findings(store.conn, exam.id)[cap]
    assert cur["detail"]["supersedes_finding"] == geo["id"]
    assert new_ef.value == pytest.approx(em.apical_values(cur["detail"])["ef_pct"], abs=1e-3)
    # an edit of a contour that is no longer current is refused, nothing stored
    r = ui.c.post(f"/exams/{exam.id}/echo/edit", json={"finding_id": geo["id"], "change": {"phase": "es",
                  "contour": es.tolist()}}, headers={"X-CSRF-Token": ui.token})
    assert r.status_code == 409 and "reload" in r.json["error"]
    for bad in ({"finding_id": cur["id"], "change": {"phase": ["es"], "contour": bigger}},
                {"finding_id": cur["id"], "change": {"phase": "es", "contour": [["a", 1]] * len(bigger)}},
                {"finding_id": "x", "change": {}}, ["not", "an", "object"]):
        r = ui.c.post(f"/exams/{exam.id}/echo/edit", json=bad, headers={"X-CSRF-Token": ui.token})
        assert r.status_code in (400, 409) and r.json["error"]
    assert em.geometry_findings(store.conn, exam.id)[cap]["id"] == cur["id"]    # nothing stored by bad edits
    # a contour that nearly matches ED makes EF critical: an alert is raised
    ed = np.asarray(cur["detail"]["frames"]["ed"]["trace"]["contour"], float)
    out = em.edit_geometry(store.conn, exam.id, cur["id"], {"phase": "es", "contour": ed.tolist()}, 1,
                           TABLE)
    assert out["values"]["a4c_ef_pct"] < 40
    assert any(a["code"] == "lv_a4c_ef_pct" and a["level"] == "critical" for a in clinical.list_alerts(store.conn))

    from device.reporting.echo_sections import echo_sections
    sections, images = echo_sections(store.conn, store.blobs, clinical.get_exam(store.conn, exam.id),
                                     ReportSettings.bundled())
    ms = {m.name: m for s in sections for m in s.measurements}
    assert ms["lvef_a4c"].ref_low == 54 and ms["lvef_a4c"].interpretation == "severely abnormal (value edited by a person)"
    assert ms["lvef_a4c"].model_name == "lv_seg" and ms["lvef_a4c"].confirmed
    assert ms["edv_ml"].interpretation and not ms["edv_ml"].confirmed
    assert len(images) == 2 and all(k.png.startswith(b"\x89PNG") for k in images)
    ed_img = images[0].to_array()
    raw = frames[d["ed_frame"]]
    assert ed_img.shape == raw.shape and (ed_img != raw).any()             # the contour is drawn on the frame
    report = ui.get(f"/exams/{exam.id}/report")                            # the report module uses the builder
    assert report.status_code == 200 and "LV ejection fraction (A4C)" in report.data.decode()
    pdf = ui.get(f"/exams/{exam.id}/report/v1.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    png = ui.get(f"/exams/{exam.id}/echo/clip/{cap}/frame/{d['es_frame']}.png")
    assert png.status_code == 200 and png.data.startswith(b"\x89PNG")
    store.close()


def test_signed_report_locks_measurements(tmp_path, a4c_clip):
    from device.store import reports, users
    frames, mmpp, bbox, _ = a4c_clip
    store = Store.open(tmp_path)
    exam = _exam(store)
    _add_clip(store, exam.id, frames[:12], "A4C", {"mm_per_px": mmpp, "sector_bbox": bbox})
    doc = users.create_user(store.conn, "drli", "Dr Li", "physician", "573920")
    with Tx(store.conn):
        reports.save_draft(store.conn, exam.id, {"sections": []}, doc.id)
        reports.sign(store.conn, exam.id, doc.id, "physician")
    with pytest.raises(UserError, match="signed"):
        em.measure_exam(store.conn, store.blobs, exam.id, table=TABLE)
    assert clinical.current_measurements(store.conn, exam.id) == []
    store.close()


def _probe_clip(view: str, n: int = 16, seed: int = 2):
    probe = SimulatedProbe(script=(Segment(view, approach_s=0.05, hold_s=10, leave_s=0.05),), size=(480, 360),
                           fps=20, hr_bpm=75, seed=seed)
    shots = [probe.next() for _ in range(n + 2)][2:]
    return np.stack([s[0] for s in shots]), shots[-1][1]


@needs_model
def test_biplane_plax_and_short_axis_with_caliper_and_contour_edits(tmp_path, a4c_clip):
    from device.lv.plax import PlaxCalipers, plax_from_calipers
    frames, mmpp, bbox, _ = a4c_clip
    store = Store.open(tmp_path)
    exam = _exam(store, sex="M")
    _add_clip(store, exam.id, frames, "A4C", {"mm_per_px": mmpp, "sector_bbox": bbox})
    caps = {}
    for view in ("A2C", "PLAX", "PSAX-PM"):
        f, truth = _probe_clip(view)
        caps[view] = _add_clip(store, exam.id, f, view, {"mm_per_px": truth.mm_per_px,
                                                         "sector_bbox": list(truth.sector_bbox)})
    res = em.measure_exam(store.conn, store.blobs, exam.id, table=TABLE)
    assert [o.status for o in res.clips] == ["measured"] * 4, [o.reason for o in res.clips]
    assert set(res.biplane) == {"biplane_edv_ml", "biplane_esv_ml", "biplane_sv_ml", "biplane_ef_pct"}
    assert res.model.startswith("lv_seg ")
    rows = {m.name: m for m in clinical.current_measurements(store.conn, exam.id)}
    assert {"lvidd_mm", "lvids_mm", "ivsd_mm", "lvpwd_mm", "fs_pct", "teichholz_ef_pct"} <= set(rows)
    assert {f"sax_ed_rwt{i}_mm" for i in range(1, 7)} | {"sax_ed_cavity_area_mm2", "sax_es_cavity_area_mm2"} <= set(rows)
    assert rows["sax_ed_cavity_area_mm2"].value > rows["sax_es_cavity_area_mm2"].value
    assert rows["biplane_ef_pct"].capture_id is not None and len(rows["biplane_ef_pct"].frames) == 4
    assert em.measure_exam(store.conn, store.blobs, exam.id, table=TABLE).clips == ()      # nothing left to measure
    with Tx(store.conn):                                                      # a better A4C loop arrives later
        newer = clinical.add_capture(store.conn, store.blobs, exam.id, "clip", encode_clip(frames[::-1], 20.0),
                                     CLIP_MEDIA, label="A4C", quality=0.95,
                                     meta={"mm_per_px": mmpp, "sector_bbox": bbox}).id
    (again,) = em.measure_exam(store.conn, store.blobs, exam.id, table=TABLE).clips
    assert again.capture_id == newer and again.status == "measured"
    # each clip keeps its own values; the report's set takes every A4C value from the better clip (issue 18)
    from device.reporting.echo_sections import measurement_set
    ms = measurement_set(store.conn, exam.id)
    assert ms.chosen["a4c"] == newer and ms.why["a4c"] == "quality"
    reported = [v for v in ms.reported()]
    names = [v.name for v in reported]
    assert len(names) == len(set(names))                                      # one reported value per name
    assert {v.capture_id for v in reported if v.name.startswith("a4c_")} == {newer}

    geo = em.geometry_findings(store.conn, exam.id)
    plax = geo[caps["PLAX"]]
    (x0, y0), (x1, y1) = plax["detail"]["calipers"]["lvidd"]
    longer = [[x0, y0], [x1 + (x1 - x0) * 0.2, y1 + (y1 - y0) * 0.2]]
    out = em.edit_geometry(store.conn, exam.id, plax["id"], {"caliper": "lvidd", "points": longer}, None, TABLE)
    cal = {k: tuple(map(tuple, v)) if v else None for k, v in plax["detail"]["calipers"].items()}
    cal["lvidd"] = tuple(map(tuple, longer))
    expect = plax_from_calipers(PlaxCalipers(**cal), tuple(plax["detail"]["mm_per_px"]))
    assert out["values"]["lvidd_mm"] == pytest.approx(expect.lvidd_mm, abs=0.01)
    assert out["values"]["lvidd_mm"] == pytest.approx(rows["lvidd_mm"].value * 1.2, rel=0.02)
    assert {"lvidd_mm", "fs_pct", "teichholz_ef_pct"} <= set(out["changed"]) and "ivsd_mm" not in out["changed"]

    sax = geo[caps["PSAX-PM"]]
    epi = np.asarray(sax["detail"]["frames"]["ed"]["epi"], float)
    c = epi.mean(axis=0)
    out = em.edit_geometry(store.conn, exam.id, sax["id"], {"phase": "ed", "epi": (c + (epi - c) * 1.1).tolist()},
                           None, TABLE)
    now = {m.name: m for m in clinical.current_measurements(store.conn, exam.id)}
    assert now["sax_ed_myo_area_mm2"].source == "edited"
    assert now["sax_ed_myo_area_mm2"].value > rows["sax_ed_myo_area_mm2"].value
    assert now["sax_ed_cavity_area_mm2"].id == rows["sax_ed_cavity_area_mm2"].id   # the cavity did not move
    from device.reporting.echo_sections import echo_sections
    sections, images = echo_sections(store.conn, store.blobs, clinical.get_exam(store.conn, exam.id),
                                     ReportSettings.bundled())
    names = {m.name for s in sections for m in s.measurements}
    assert {"lvef_biplane", "edv_ml", "lvef_a4c", "lvef_a2c", "lvidd_mm", "lvef_teichholz", "sax_ed_rwt1_mm"} <= names
    assert [s.title for s in sections][-1] == "Views captured: A4C, A2C, PLAX, PSAX-PM"
    assert len(images) == 8 and {k.caption.split()[0] for k in images} == {"A4C", "A2C", "PLAX", "PSAX-PM"}
    with pytest.raises(UserError, match="phase"):
        em.edit_geometry(store.conn, exam.id, out["finding_id"], {"epi": epi.tolist()}, None, TABLE)
    with pytest.raises(UserError, match="points"):
        em.edit_geometry(store.conn, exam.id, out["finding_id"], {"phase": "ed", "epi": epi[:5].tolist()}, None,
                         TABLE)
    store.close()


@needs_model
def test_clip_without_a_heart_refused(tmp_path, a4c_clip):
    _, mmpp, _, _ = a4c_clip
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 40, size=(8, 360, 480, 3), dtype=np.uint8)      # calibrated, but no LV to segment
    store = Store.open(tmp_path)
    exam = _exam(store)
    _add_clip(store, exam.id, noise, "A4C", {"mm_per_px": mmpp, "sector_bbox": [900, 0, 10, 5]})   # a bad box too
    (out,) = em.measure_exam(store.conn, store.blobs, exam.id, table=TABLE).clips
    assert out.status == "refused" and ("LV" in out.reason or "ultrasound" in out.reason) and not out.values
    assert clinical.current_measurements(store.conn, exam.id) == []
    store.close()
