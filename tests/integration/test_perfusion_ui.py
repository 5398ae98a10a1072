"""The perfusion page through Flask's test client on a real store: upload a simulated .npz study with an LAD defect
-> volume captures, measurements, territory findings naming the model, bullseye key images, report sections; bad
input (all-zero counts, no heart, missing voxel size, wrong exam kind, wrong role) -> a clear message, upload kept."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest

from device import DISCLAIMER_EN
from device.store import Store, audit, clinical
from device.store.db import Tx


def _exam(data_dir, kind: str = "perfusion", pid: str = "P0001") -> int:
    s = Store.open(data_dir)
    try:
        with Tx(s.conn) as c:
            p = clinical.upsert_patient(c, pid, "Wang, Li", "M", "1958-04-05")
            return clinical.create_exam(c, p, kind, None).id
    finally:
        s.close()


def _npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


@pytest.fixture(scope="module")
def lad_study() -> bytes:
    from device.sim.spect import Defect, simulate_study
    s = simulate_study((Defect("LAD", 0.55, 0.7, 1.0),), seed=3)
    return _npz(stress=s.stress, rest=s.rest, voxel_mm=np.array(s.voxel_mm))


def _wait(ui, exam_id: int, location: str, timeout_s: float = 90.0) -> dict:
    from tests.integration.conftest import run_jobs_in
    job_id = location.split("job=")[1]
    run_jobs_in(ui.c.application.config["CARDIOCART_SETTINGS"])    # the worker role's part, in this process
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        j = ui.get(f"/exams/{exam_id}/perfusion/jobs/{job_id}").get_json()
        if j["state"] in ("done", "error"):
            return j
        time.sleep(0.2)
    raise AssertionError("the perfusion job did not finish")


def _upload(ui, exam_id: int, files: dict, **form):
    data = {k: (io.BytesIO(v), n) for k, (n, v) in files.items()} | form
    return ui.post(f"/exams/{exam_id}/perfusion/upload", data, content_type="multipart/form-data")


def _store(settings):
    return Store.open(settings.data_dir)


def test_lad_study_is_stored_analysed_and_reported(app, login, settings, lad_study):
    from device.reporting.from_store import assemble
    from device.reporting.perfusion_sections import perfusion_sections
    from device.reporting.settings import ReportSettings

    eid = _exam(settings.data_dir)
    ui = login("sono", "sonographer")
    page = ui.get(f"/exams/{eid}")
    assert b'data-action="perfusion.page"' in page.data            # the exam page offers the perfusion page
    r = _upload(ui, eid, {"stress": ("study.npz", lad_study)})
    assert r.status_code == 302 and "job=" in r.location
    j = _wait(ui, eid, r.location)
    assert j["state"] == "done", j

    s = _store(settings)
    try:
        c = s.conn
        vols = [x for x in clinical.list_captures(c, eid) if x.kind == "volume"]
        assert [v.meta["phase"] for v in vols] == ["stress", "rest"]
        assert s.blobs.get(vols[0].blob_sha256) == lad_study          # the upload itself is kept, byte for byte
        ms = {m.name: m for m in clinical.current_measurements(c, eid)}
        assert all(f"seg{i:02d}_uptake_pct" in ms for i in range(1, 18))
        assert all(f"seg{i:02d}_rest_uptake_pct" in ms for i in range(1, 18))
        assert ms["seg01_uptake_pct"].unit == "%" and ms["seg01_uptake_pct"].model_name
        assert ms["lad_extent_pct"].value > ms["lcx_extent_pct"].value + 10
        assert ms["lad_reversible_extent_pct"].value > 10             # ischaemia: recovers at rest
        assert ms["sss"].value >= 4 and ms["sds"].value >= 2
        assert ms["sss"].model_name == "perfusion_normals" and ms["sss"].model_version
        f = {x["label"].split()[0]: x for x in clinical.list_findings(c, eid) if x["kind"] == "perfusion_territory"}
        assert set(f) == {"LAD", "LCX", "RCA"}
        assert all(x["model_name"] == "perfusion_territory" and x["model_version"] for x in f.values())
        assert f["LAD"]["label"] == "LAD at risk" and f["LAD"]["score"] > 0.5
        assert f["LCX"]["score"] < f["LAD"]["score"] and f["RCA"]["score"] < f["LAD"]["score"]
        bulls = [x for x in clinical.list_captures(c, eid) if x.meta.get("image_kind") == "bullseye"]
        assert len(bulls) == 2                                          # stress and rest
        assert s.blobs.get(bulls[0].blob_sha256).startswith(b"\x89PNG")
        exam = clinical.get_exam(c, eid)
        sections, images = perfusion_sections(c, s.blobs, exam, ReportSettings.bundled())
        rows = {m.name: m for sec in sections for m in sec.measurements}
        assert rows["seg07_uptake_pct"].ref_low is not None and rows["lad_extent_pct"].model_name
        assert [k.kind for k in images][:2] == ["bullseye", "bullseye"]
        assert "perfusion_territory" in images[0].caption
        doc = assemble(c, s.blobs, eid, ReportSettings.bundled())
        assert any(k.kind == "bullseye" for k in doc.key_images)
        assert any(m.model_name == "perfusion_territory" for sec in doc.sections for m in sec.measurements)
        acts = [(a.action, a.object_type) for a in audit.recent(c)]
        assert ("create", "perfusion_analysis") in acts and ("create", "capture") in acts
    finally:
        s.close()

    html = ui.get(f"/exams/{eid}/perfusion").get_data(as_text=True)
    assert 'id="perf-bullseye-stress"' in html and 'id="perf-slices"' in html
    assert 'data-territory="LAD" data-at-risk="1"' in html
    assert "perfusion_territory 1.0" in html and "perfusion_ring 1.0" in html
    assert DISCLAIMER_EN in html and 'id="perf-segments"' in html
    if "reports.report_page" in app.view_functions:                  # the report shows the perfusion sections
        rep = ui.get(f"/exams/{eid}/report").get_data(as_text=True)
        assert "17 segments: stress uptake" in rep and "seg07_uptake_pct" in rep and "Stress bullseye" in rep

    # analysing the same study again supersedes the measurements (one current row per name)
    vol_id = vols[0].id
    r = ui.post(f"/exams/{eid}/perfusion/analyse", {"stress_capture": str(vol_id)})
    assert _wait(ui, eid, r.location)["state"] == "done"
    s = _store(settings)
    try:
        names = [m.name for m in clinical.current_measurements(s.conn, eid)]
        assert len(names) == len(set(names)) and "sss" in names
        assert len(clinical.list_findings(s.conn, eid)) == 3           # same study, same findings: not repeated
    finally:
        s.close()


def test_all_zero_volume_gets_a_reason_and_is_kept(app, login, settings):
    eid = _exam(settings.data_dir, pid="P0002")
    ui = login("sono", "sonographer")
    zeros = _npz(stress=np.zeros((32, 32, 32), np.float32), voxel_mm=np.array(4.0))
    r = _upload(ui, eid, {"stress": ("empty.npz", zeros)})
    assert r.status_code == 302
    j = _wait(ui, eid, r.location)
    assert j["state"] == "error" and "all counts are zero" in j["message"]
    s = _store(settings)
    try:
        vols = [x for x in clinical.list_captures(s.conn, eid) if x.kind == "volume"]
        assert len(vols) == 1 and s.blobs.get(vols[0].blob_sha256) == zeros
        assert clinical.current_measurements(s.conn, eid) == [] and clinical.list_findings(s.conn, eid) == []
        assert not [x for x in clinical.list_captures(s.conn, eid) if x.kind == "frame"]   # no invented map
    finally:
        s.close()
    html = ui.get(f"/exams/{eid}/perfusion").get_data(as_text=True)
    assert 'id="perf-failed-reason"' in html and "all counts are zero" in html
    assert 'id="perf-result"' not in html and 'id="perf-bullseye-stress"' not in html


def test_no_heart_says_so(app, login, settings):
    eid = _exam(settings.data_dir, pid="P0003")
    ui = login("doc", "physician")
    noise = np.random.default_rng(1).poisson(4.0, (40, 40, 40)).astype(np.float32)
    r = _upload(ui, eid, {"stress": ("noise.npy", _npz_npy(noise))}, voxel_mm="4", orientation="short_axis")
    j = _wait(ui, eid, r.location)
    assert j["state"] == "error"
    assert "no left ventricle" in j["message"] or "no myocardium" in j["message"]
    assert "--orientation" not in j["message"]                          # UI words, not CLI flags
    r = _upload(ui, eid, {"stress": ("noise.npy", _npz_npy(noise))}, voxel_mm="4", orientation="transaxial")
    j = _wait(ui, eid, r.location)
    assert j["state"] == "error" and ("re-oriented" in j["message"] or "no left ventricle" in j["message"])
    s = _store(settings)
    try:
        assert len([x for x in clinical.list_captures(s.conn, eid) if x.kind == "volume"]) == 2
        assert not [x for x in clinical.list_captures(s.conn, eid) if x.kind == "frame"]
    finally:
        s.close()


def _npz_npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def test_bad_forms_are_refused_before_anything_is_stored(app, login, settings):
    eid = _exam(settings.data_dir, pid="P0004")
    echo = _exam(settings.data_dir, kind="echo", pid="P0005")
    ui = login("sono", "sonographer")
    r = _upload(ui, eid, {})
    assert r.status_code == 400 and b"choose the stress" in r.data
    r = _upload(ui, eid, {"stress": ("v.npy", _npz_npy(np.ones((16, 16, 16), np.float32)))})
    assert r.status_code == 400 and b"voxel size" in r.data
    r = _upload(ui, eid, {"stress": ("v.npy", _npz_npy(np.ones((16, 16, 16), np.float32)))}, voxel_mm="abc")
    assert r.status_code == 400 and b"not a number" in r.data
    r = _upload(ui, echo, {"stress": ("s.npz", b"x")})
    assert r.status_code == 400 and b"perfusion exam" in r.data
    s = _store(settings)
    try:
        assert clinical.list_captures(s.conn, eid) == [] and clinical.list_captures(s.conn, echo) == []
    finally:
        s.close()
    admin = login("root", "admin")
    assert admin.post(f"/exams/{eid}/perfusion/demo", {"territory": "LAD"}).status_code == 403
    assert admin.get(f"/exams/{eid}/perfusion").status_code == 200   # everyone may look


def test_demo_study_is_marked_simulated(app, login, settings):
    eid = _exam(settings.data_dir, pid="P0006")
    ui = login("doc", "physician")
    r = ui.post(f"/exams/{eid}/perfusion/demo", {"territory": "RCA", "severity": "severe",
                                                 "defect_type": "scar", "orientation": "short_axis"})
    assert r.status_code == 302
    assert _wait(ui, eid, r.location)["state"] == "done"
    s = _store(settings)
    try:
        vols = [x for x in clinical.list_captures(s.conn, eid) if x.kind == "volume"]
        assert vols and all(v.meta["simulated"] for v in vols)
        assert vols[0].meta["defects"][0]["territory"] == "RCA"
        ms = {m.name: m.value for m in clinical.current_measurements(s.conn, eid)}
        assert ms["rca_extent_pct"] > ms["lad_extent_pct"]
        assert ms["rca_reversible_extent_pct"] < ms["rca_extent_pct"] / 2   # scar: fixed at rest
    finally:
        s.close()
    html = ui.get(f"/exams/{eid}/perfusion").get_data(as_text=True)
    assert 'id="perf-simulated"' in html and 'data-territory="RCA"' in html
    ui.post("/lang/zh-CN", {"next": f"/exams/{eid}/perfusion"})
    zh = ui.get(f"/exams/{eid}/perfusion").get_data(as_text=True)
    assert "供血区风险" in zh and "模拟演示检查" in zh and "perf_" not in zh.replace("perf-", "")   # every key translated


def _slice_files(vol: np.ndarray, voxel_mm: float) -> list[tuple[str, bytes]]:
    """A short-axis volume as single-frame NM DICOM slices of one series (oblique plane, positions along it)."""
    import pydicom
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    row, col = np.array([0.7071, 0.7071, 0.0]), np.array([0.4082, -0.4082, -0.8165])
    normal = np.cross(row, col)
    series, study = generate_uid(), generate_uid()
    out = []
    for z in range(vol.shape[0]):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.20"
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = FileDataset(f"s{z}.dcm", {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
        ds.Modality, ds.SeriesInstanceUID, ds.StudyInstanceUID = "NM", series, study
        ds.SeriesDescription, ds.ImageType = "STRESS SA", ["DERIVED", "SECONDARY", "SHORT_AXIS"]
        ds.ImageOrientationPatient = [*row, *col]
        ds.ImagePositionPatient = [float(v) for v in normal * z * voxel_mm]
        ds.PixelSpacing = [voxel_mm, voxel_mm]
        ds.SliceThickness = voxel_mm
        ds.Rows, ds.Columns = vol.shape[1:]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.PixelData = np.round(vol[z]).astype(np.uint16).tobytes()
        buf = io.BytesIO()
        pydicom.dcmwrite(buf, ds, enforce_file_format=True)
        out.append((f"IM{z:04d}", buf.getvalue()))
    return out


def test_dicom_multiframe_transaxial_and_slice_files(app, login, settings, tmp_path):
    from device.sim.spect import Defect, simulate_study, write_nm_dicom

    eid = _exam(settings.data_dir, pid="P0007")
    ui = login("doc", "physician")
    tx = simulate_study((Defect("LCX", 0.6, 0.7, 1.0),), orientation="transaxial", seed=5)
    write_nm_dicom(str(tmp_path / "tx.dcm"), tx.stress, tx.voxel_mm, "transaxial", "STRESS TOMO")
    r = _upload(ui, eid, {"stress": ("tx.dcm", (tmp_path / "tx.dcm").read_bytes())})
    j = _wait(ui, eid, r.location)
    assert j["state"] == "done", j
    html = ui.get(f"/exams/{eid}/perfusion").get_data(as_text=True)
    assert "re-oriented from transaxial" in html and 'data-territory="LCX" data-at-risk="1"' in html

    sa = simulate_study((Defect("RCA", 0.6, 0.7, 1.0),), seed=6)
    files = _slice_files(sa.stress, sa.voxel_mm[0])
    data = {"stress": [(io.BytesIO(d), n) for n, d in files]}
    r = ui.post(f"/exams/{eid}/perfusion/upload", data, content_type="multipart/form-data")
    j = _wait(ui, eid, r.location)
    assert j["state"] == "done", j
    s = _store(settings)
    try:
        vols = [x for x in clinical.list_captures(s.conn, eid) if x.kind == "volume"]
        assert [v.meta["format"] for v in vols] == ["dicom", "zip"] and len(vols[1].meta["filenames"]) == 50
        ms = {m.name: m.value for m in clinical.current_measurements(s.conn, eid)}
        assert ms["rca_extent_pct"] > ms["lcx_extent_pct"]            # the newer study's values are current
    finally:
        s.close()


def test_separate_npy_stress_and_rest(app, login, settings):
    from device.sim.spect import Defect, simulate_study

    eid = _exam(settings.data_dir, pid="P0008")
    ui = login("sono", "sonographer")
    s = simulate_study((Defect("LAD", 0.6, 0.7, 0.0),), seed=8)          # scar: fixed at rest
    r = _upload(ui, eid, {"stress": ("stress.npy", _npz_npy(s.stress)), "rest": ("rest.npy", _npz_npy(s.rest))},
                voxel_mm="3.2 3.2 3.2")
    assert _wait(ui, eid, r.location)["state"] == "done"
    st = _store(settings)
    try:
        vols = [x for x in clinical.list_captures(st.conn, eid) if x.kind == "volume"]
        assert [(v.meta["phase"], v.meta["voxel_mm"]) for v in vols] == [("stress", [3.2] * 3), ("rest", [3.2] * 3)]
        assert st.blobs.get(vols[1].blob_sha256) == _npz_npy(s.rest)
        ms = {m.name: m.value for m in clinical.current_measurements(st.conn, eid)}
        assert "seg17_rest_uptake_pct" in ms and ms["lad_rest_extent_pct"] > 10
        assert ms["lad_reversible_extent_pct"] < ms["lad_extent_pct"] / 2
    finally:
        st.close()
