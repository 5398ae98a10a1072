"""The report, export, USB and sync UI through Flask's test client, on a real store: draft auto-filled, edits,
sign by a physician only, immutability after signing, correction = v2, PDF/HTML, exports that parse, USB bundle
written + verified + ejected, sync state and retry, and the audit rows of all of it."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import time
import zipfile
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image

from device import DISCLAIMER_EN, DISCLAIMER_ZH
from device.config import load_settings
from device.ecg.types import LEADS
from device.reports.tabular import read_signal_csv
from device.store import Store, audit, clinical, outbox, reports
from device.store.db import Tx
from tests.integration.conftest import UiClient

PASSPHRASE = "correct horse battery"


@pytest.fixture()
def settings(tmp_path):
    pw = tmp_path / "usb.pass"
    pw.write_text(PASSPHRASE + "\n")
    pw.chmod(0o600)
    cfg = tmp_path / "cardiocart.toml"
    cfg.write_text(f'[paths]\ndata_dir = "{tmp_path / "var"}"\n[web]\nport = 18080\n'
                   f'[sync]\ntarget = "dicomweb"\ndicomweb_url = "http://127.0.0.1:9/dicom-web"\n'
                   f'[usb]\npassphrase_file = "{pw}"\n')
    return load_settings(cfg)


def _png(h: int = 48, w: int = 64) -> bytes:
    buf = io.BytesIO()
    Image.fromarray((np.arange(h * w).reshape(h, w) % 251).astype(np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def make_exam(data_dir: Path, kind: str = "echo", pid: str = "H0012345") -> int:
    """An exam with two model measurements, a key frame, a scored and an unscored finding and a 12-lead signal."""
    s = Store.open(data_dir)
    try:
        with Tx(s.conn) as c:
            p = clinical.upsert_patient(c, pid, "Chen, Jing", "F", "1961-02-03")
            e = clinical.create_exam(c, p, kind, None)
            cap = clinical.add_capture(c, s.blobs, e.id, "frame", _png(), "image/png", "A4C", 0.81)
            clinical.add_measurement(c, e.id, cap.id, "ef_pct", 58.0, "%", "lv_seg", "1.0.0", (3, 17))
            clinical.add_measurement(c, e.id, cap.id, "edv_ml", 110.0, "mL", "lv_seg", "1.0.0", (3,))
            clinical.add_finding(c, e.id, cap.id, "view", "A4C", 0.81, "echo_view", "1.0.0")
            clinical.add_finding(c, e.id, None, "rhythm", "sinus rhythm", None, "ecg_rules", "1.0.0")
            t = np.arange(2000) / 500.0
            x = np.stack([0.8 * np.sin(2 * np.pi * 1.2 * t + j) for j in range(12)], axis=1)
            buf = io.BytesIO()
            np.savez(buf, signals_mv=x, fs_hz=np.float64(500.0), leads=np.array(LEADS))
            clinical.add_capture(c, s.blobs, e.id, "signal", buf.getvalue(), "application/x-cardiocart-signal+npz",
                                 "12-lead")
        return e.id
    finally:
        s.close()


def _store(settings) -> Store:
    return Store.open(settings.data_dir)


def _actions(settings, object_type: str) -> list[str]:
    s = _store(settings)
    try:
        return [a.action for a in audit.recent(s.conn, 1000, object_type=object_type)]
    finally:
        s.close()


def _pdf_text(pdf: bytes, tmp_path: Path) -> str | None:
    if not shutil.which("pdftotext"):
        return None
    p = tmp_path / "r.pdf"
    p.write_bytes(pdf)
    return subprocess.run(["pdftotext", "-enc", "UTF-8", str(p), "-"], capture_output=True, text=True,
                          timeout=60, check=False).stdout


def test_draft_edit_sign_by_physician_only_then_immutable_and_corrected(login, settings, tmp_path):
    eid = make_exam(settings.data_dir)
    sono = login("sono", "sonographer", "482913")
    doc = login("drli", "physician", "573920")

    r = sono.get(f"/exams/{eid}/report")
    assert r.status_code == 200
    page = r.data.decode()
    assert "ef_pct" in page and "lv_seg 1.0.0" in page and DISCLAIMER_EN in page
    assert 'data-version="1" data-status="draft"' in page
    assert 'id="sign-report"' not in page                          # no Sign button for a sonographer
    assert "rhythm: sinus rhythm (ecg_rules 1.0.0)" in page       # unscored finding pre-fills the text
    assert 'src="data:image/png;base64,' in page                  # key image from the frame capture

    assert sono.post(f"/exams/{eid}/report/text", {"free_text": "Normal LV size and function."}).status_code == 302
    s = _store(settings)
    rows = {m.name: m for m in clinical.current_measurements(s.conn, eid)}
    s.close()
    assert sono.post(f"/exams/{eid}/report/measurements/{rows['edv_ml'].id}",
                     {"action": "edit", "value": "abc"}).status_code == 400
    assert sono.post(f"/exams/{eid}/report/measurements/{rows['edv_ml'].id}",
                     {"action": "edit", "value": "121.5"}).status_code == 302
    assert sono.post(f"/exams/{eid}/report/measurements/{rows['ef_pct'].id}", {"action": "confirm"}).status_code == 302
    assert sono.post(f"/exams/{eid}/report/sign").status_code == 403

    s = _store(settings)
    cur = {m.name: m for m in clinical.current_measurements(s.conn, eid)}
    assert cur["ef_pct"].source == "confirmed" and cur["ef_pct"].supersedes == rows["ef_pct"].id
    assert cur["edv_ml"].source == "edited" and cur["edv_ml"].value == 121.5
    draft = reports.latest(s.conn, eid)
    assert [m["name"] for m in draft.content["sections"][0]["measurements"]] == ["ef_pct", "edv_ml"]  # order kept
    meas = {m["name"]: m for sec in draft.content["sections"] for m in sec["measurements"]}
    assert meas["edv_ml"]["value"] == 121.5 and meas["edv_ml"]["confirmed"] and meas["ef_pct"]["confirmed"]
    assert draft.content["free_text"] == "Normal LV size and function." and draft.status == "draft"
    s.close()

    page = doc.get(f"/exams/{eid}/report").data.decode()
    assert 'id="sign-report"' in page
    assert doc.post(f"/exams/{eid}/report/sign").status_code == 302
    page = doc.get(f"/exams/{eid}/report").data.decode()
    assert 'data-version="1" data-status="signed"' in page and "Drli" in page

    s = _store(settings)
    v1 = reports.latest(s.conn, eid)
    assert v1.status == "signed" and v1.version == 1 and v1.content["signature"]["signer"] == "Drli"
    queued = outbox.items(s.conn, "dicomweb")
    assert sorted(i.object_kind for i in queued) == ["ecg", "echo_sr", "pdf", "sc"]
    for item in queued:   # the queued blobs are complete DICOM files of this exam
        ds = pydicom.dcmread(io.BytesIO(s.blobs.get(item.blob_sha256)))
        assert ds.SOPInstanceUID == item.sop_instance_uid and ds.PatientID == "H0012345"
    s.close()

    # a signed version is immutable: edits are refused with a clear state and nothing changes
    r = doc.post(f"/exams/{eid}/report/text", {"free_text": "changed"})
    assert r.status_code == 409 and b"signed" in r.data
    r = sono.post(f"/exams/{eid}/report/measurements/{cur['ef_pct'].id}", {"action": "edit", "value": "10"})
    assert r.status_code == 409
    assert doc.post(f"/exams/{eid}/report/sign").status_code == 409
    s = _store(settings)
    assert reports.latest(s.conn, eid) == v1
    with pytest.raises(Exception, match="immutable"):
        s.conn.execute("UPDATE reports SET content = '{}' WHERE id = ?", (v1.id,))
    s.close()

    # correction: a reason is required; it makes v2 (draft) amending v1, with a diff in the history
    assert doc.post(f"/exams/{eid}/report/correct", {"reason": "  "}).status_code == 400
    assert sono.post(f"/exams/{eid}/report/correct", {"reason": "typo"}).status_code == 403
    assert doc.post(f"/exams/{eid}/report/correct", {"reason": "LV size wording"}).status_code == 302
    assert doc.post(f"/exams/{eid}/report/text", {"free_text": "Mildly dilated LV, normal function."}).status_code == 302
    page = doc.get(f"/exams/{eid}/report").data.decode()
    assert 'data-version="2" data-status="draft"' in page and "LV size wording" in page
    assert "Mildly dilated LV" in page and "Normal LV size and function." in page   # the diff v1 -> v2
    assert doc.post(f"/exams/{eid}/report/sign").status_code == 302
    s = _store(settings)
    vs = reports.versions(s.conn, eid)
    assert [(v.version, v.status) for v in vs] == [(1, "signed"), (2, "signed")]
    assert vs[0] == v1 and vs[1].content["amends_version"] == 1
    s.close()

    # HTML and PDF in the user's language, naming the models and carrying the disclaimer
    html = doc.get(f"/exams/{eid}/report/v1.html").data.decode()
    assert DISCLAIMER_EN in html and "lv_seg 1.0.0" in html
    pdf = doc.get(f"/exams/{eid}/report/v1.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    text = _pdf_text(pdf.data, tmp_path)
    if text is not None:
        assert DISCLAIMER_EN in text and "lv_seg 1.0.0" in text
    doc.post("/lang/zh-CN", {"next": "/"})
    assert DISCLAIMER_ZH in doc.get(f"/exams/{eid}/report").data.decode()
    pdf_zh = doc.get(f"/exams/{eid}/report/v2.pdf").data
    assert pdf_zh.startswith(b"%PDF") and pdf_zh != pdf.data
    text = _pdf_text(pdf_zh, tmp_path)
    if text is not None:
        assert DISCLAIMER_ZH.replace("，", "") in text.replace("，", "").replace("\n", "")

    actions = _actions(settings, "report")
    for a in ("view", "edit", "sign", "export"):
        assert a in actions, a
    assert actions.count("sign") == 2
    assert "edit" in _actions(settings, "measurement")


def test_exports_parse_and_stay_on_the_box(login, settings, app, tmp_path):
    eid = make_exam(settings.data_dir)
    doc = login("drli", "physician", "573920")
    doc.get(f"/exams/{eid}/report")
    assert doc.post(f"/exams/{eid}/report/sign").status_code == 302
    page = doc.get(f"/exams/{eid}/export").data.decode()
    assert "dicom.zip" in page and "signal-" in page

    z = zipfile.ZipFile(io.BytesIO(doc.get(f"/exams/{eid}/export/dicom.zip").data))
    dss = [pydicom.dcmread(io.BytesIO(z.read(n))) for n in z.namelist()]
    classes = {str(d.SOPClassUID) for d in dss}
    assert {"1.2.840.10008.5.1.4.1.1.104.1", "1.2.840.10008.5.1.4.1.1.7", "1.2.840.10008.5.1.4.1.1.88.33",
            "1.2.840.10008.5.1.4.1.1.9.1.1"} <= classes
    assert len({(d.StudyInstanceUID, d.PatientID, d.AccessionNumber) for d in dss}) == 1
    assert len({d.SOPInstanceUID for d in dss}) == len(dss)
    if shutil.which("dciodvfy"):   # Debian dicom3tools: every exported object is a valid IOD
        for n in z.namelist():
            path = tmp_path / Path(n).name
            path.write_bytes(z.read(n))
            r = subprocess.run(["dciodvfy", "-new", str(path)], capture_output=True, text=True, timeout=60,
                               check=False)
            errors = [line for line in (r.stdout + r.stderr).splitlines() if line.startswith("Error")]
            assert not errors, (n, errors)
    s = _store(settings)   # the same UIDs as the objects queued for the PACS at signing
    assert {i.sop_instance_uid for i in outbox.items(s.conn)} == {d.SOPInstanceUID for d in dss}
    s.close()

    fhir = json.loads(doc.get(f"/exams/{eid}/export/fhir.json").data)
    codes = {(c["system"], c["code"]) for e in fhir["entry"] if e["resource"]["resourceType"] == "Observation"
             for c in e["resource"]["code"]["coding"]}
    assert ("http://loinc.org", "18043-0") in codes
    report = next(e["resource"] for e in fhir["entry"] if e["resource"]["resourceType"] == "DiagnosticReport")
    assert report["status"] == "final" and report["code"]["coding"][0]["system"] == "http://loinc.org"

    text = doc.get(f"/exams/{eid}/export/measurements.csv").data.decode()
    rows = list(csv.DictReader(line for line in text.splitlines() if not line.startswith("#")))
    assert {r["name"] for r in rows} >= {"ef_pct", "edv_ml"} and all(r["unit"] is not None for r in rows)
    mj = json.loads(doc.get(f"/exams/{eid}/export/measurements.json").data)
    assert mj["signed"] and {m["name"] for m in mj["measurements"]} >= {"ef_pct", "edv_ml"}

    sig_name = page.split('data-format="signal-')[1].split('.csv"')[0]
    sig = read_signal_csv(doc.get(f"/exams/{eid}/export/signal-{sig_name}.csv").data.decode())
    assert sig.sampling_rate_hz == 500 and sig.leads == LEADS and sig.samples.shape == (12, 2000)
    sj = json.loads(doc.get(f"/exams/{eid}/export/signal-{sig_name}.json").data)
    assert sj["sampling_rate_hz"] == 500 and sj["units"] == "mV" and len(sj["leads"]["II"]) == 2000
    assert doc.get(f"/exams/{eid}/export/nonsense.bin").status_code == 404
    assert _actions(settings, "report").count("export") == 6

    # files leave the box only to its own screen: a browser elsewhere is refused
    remote = app.test_client()
    with remote.session_transaction() as sess, doc.c.session_transaction() as mine:
        sess.update(dict(mine))
    for url in (f"/exams/{eid}/export/dicom.zip", f"/exams/{eid}/report/v1.pdf"):
        r = remote.get(url, environ_base={"REMOTE_ADDR": "10.1.2.3"})
        assert r.status_code == 403 and b"%PDF" not in r.data and not r.data.startswith(b"PK")


def _fake_usb(root: Path, free_bytes: int | None = None):
    (root / "proc").mkdir(parents=True)
    (root / "proc" / "mounts").write_text("/dev/sdz1 /media/usb vfat rw,nosuid 0 0\n")
    (root / "sys" / "block" / "sdz").mkdir(parents=True)
    (root / "sys" / "block" / "sdz" / "removable").write_text("1\n")
    (root / "media" / "usb").mkdir(parents=True)
    if free_bytes is None:
        return os.statvfs
    real = os.statvfs

    class Small:
        def __init__(self, st):
            self.f_blocks, self.f_frsize, self.f_bavail = st.f_blocks, st.f_frsize, free_bytes // st.f_frsize
    return lambda p: Small(real(p))


def _wait_job(ui: UiClient, location: str) -> dict:
    from tests.integration.conftest import run_jobs_in
    job_id = location.split("job=")[1]
    run_jobs_in(ui.c.application.config["CARDIOCART_SETTINGS"])    # the worker role's part, in this process
    for _ in range(300):
        j = ui.get(f"/usb/jobs/{job_id}").get_json()
        if j["state"] != "running":
            return j
        time.sleep(0.1)
    raise AssertionError("USB job did not finish")


def test_usb_bundle_written_verified_and_ejected(login, settings, app, tmp_path):
    from device.sync.bundle import BundleError, verify_bundle
    eids = [make_exam(settings.data_dir, pid=f"P{i}") for i in range(2)]
    root = tmp_path / "root"
    app.config["USB_ROOT"] = str(root)
    app.config["USB_STATVFS"] = _fake_usb(root)
    calls = []
    app.config["USB_EJECT_RUN"] = lambda cmd, **kw: (calls.append(cmd) or
                                                      subprocess.CompletedProcess(cmd, 0, "", ""))
    assert login("sono", "sonographer", "482913").get("/usb").status_code == 403
    admin = login("it", "admin", "582913")
    page = admin.get("/usb").data.decode()
    assert "/dev/sdz1" in page and 'id="usb-passphrase-error"' not in page

    assert admin.post("/usb/export", {"drive": "/dev/sdz1"}).status_code == 302   # no exam chosen
    assert "choose at least one exam" in admin.get("/usb").data.decode()
    r = admin.post("/usb/export", {"drive": "/dev/sdz1", "exam_ids": [str(e) for e in eids]})
    assert r.status_code == 302 and "job=" in r.location
    job = _wait_job(admin, r.location)
    assert job["state"] == "done", job
    bundle = root / "media" / "usb" / job["result"]["bundle"]
    manifest = verify_bundle(bundle, PASSPHRASE)
    paths = [f["path"] for f in manifest["files"]]
    assert sum(p.endswith(".pdf") for p in paths) == 2 and any("/DICOM/" in p for p in paths)
    assert any(p.endswith("_fhir.json") for p in paths) and any("/signals/" in p for p in paths)
    assert not list((root / "media" / "usb").glob(".*.part"))
    with pytest.raises(BundleError):
        verify_bundle(bundle, "wrong passphrase!")

    assert bundle.name in admin.get("/usb").data.decode()
    r = admin.post("/usb/verify", {"drive": "/dev/sdz1", "bundle": bundle.name})
    assert _wait_job(admin, r.location)["state"] == "done"
    bundle.write_bytes(bundle.read_bytes()[:-200])         # damaged on the drive: verification says so
    r = admin.post("/usb/verify", {"drive": "/dev/sdz1", "bundle": bundle.name})
    j = _wait_job(admin, r.location)
    assert j["state"] == "error" and "export again" in j["message"]

    assert admin.post("/usb/eject", {"drive": "/dev/sdz1"}).status_code == 302
    assert calls and calls[0][0] in ("udisksctl", "umount")
    detail = [a.detail for a in audit.recent(_store(settings).conn, 100, object_type="usb_bundle")]
    assert {d.get("event") for d in detail} >= {"start", "bundle", "verify"}

    # a drive with too little room is refused with a clear message, and nothing is left on it
    for p in (root / "media" / "usb").iterdir():
        p.unlink()
    app.config["USB_STATVFS"] = _fake_usb(tmp_path / "root2", free_bytes=4096)
    app.config["USB_ROOT"] = str(tmp_path / "root2")
    r = admin.post("/usb/export", {"drive": "/dev/sdz1", "exam_ids": [str(eids[0])]})
    j = _wait_job(admin, r.location)
    assert j["state"] == "error" and "free but this export needs about" in j["message"]
    assert not list((tmp_path / "root2" / "media" / "usb").iterdir())


def test_usb_passphrase_unset_or_unsafe_is_a_clear_message(login, settings, app, tmp_path):
    admin = login("it", "admin", "582913")
    Path(settings.usb.passphrase_file).chmod(0o644)
    assert "chmod 600" in admin.get("/usb").data.decode()
    from webui import create_app
    cfg = tmp_path / "nopass.toml"
    cfg.write_text(f'[paths]\ndata_dir = "{settings.data_dir}"\n')
    other = create_app(load_settings(cfg))
    ui = UiClient(other.test_client())
    ui.get("/login")
    assert ui.post("/login", {"username": "it", "pin": "582913"}).status_code == 302
    page = ui.get("/usb").data.decode()
    assert 'id="usb-passphrase-error"' in page and "passphrase_file" in page and 'id="usb-form"' not in page


def test_sync_state_shown_and_rejected_objects_retried_by_admin(login, settings):
    eid = make_exam(settings.data_dir)
    doc = login("drli", "physician", "573920")
    doc.get(f"/exams/{eid}/report")
    doc.post(f"/exams/{eid}/report/sign")
    assert 'data-sync="sending"' in doc.get(f"/exams/{eid}/report").data.decode()
    s = _store(settings)
    with Tx(s.conn):
        for i in outbox.items(s.conn):
            outbox.mark_failed(s.conn, i.id, "PACS refused: 400 bad object", None)
    s.close()
    page = doc.get("/sync").data.decode()
    assert f'data-exam="{eid}" data-sync="failed"' in page and "PACS refused" in page
    assert doc.post(f"/exams/{eid}/sync/retry").status_code == 403
    admin = login("it", "admin", "582913")
    assert 'id="sync-retry"' in admin.get(f"/exams/{eid}/report").data.decode()
    assert admin.post(f"/exams/{eid}/sync/retry", {"next": "/sync"}).status_code == 302
    s = _store(settings)
    assert {i.state for i in outbox.items(s.conn)} == {"pending"}

    # a report signed while sync was off: the sync page offers the administrator to send it
    import datetime as dt

    from device.reporting import from_store as fs
    from device.reporting import signing
    from device.reporting.settings import ReportSettings
    e2 = make_exam(settings.data_dir, pid="P-LATE")
    with Tx(s.conn):
        fs.ensure_draft(s.conn, s.blobs, e2, "en", None, ReportSettings.bundled())
    drli = next(u for u in __import__("device.store.users", fromlist=["x"]).list_users(s.conn) if u.username == "drli")
    signing.sign_and_queue(s.conn, s.blobs, e2, signer_id=drli.id, signer_role="physician", signer_name="Dr Li",
                           now=dt.datetime.now(dt.UTC), settings=ReportSettings.bundled(), target="none")
    assert not [i for i in outbox.items(s.conn) if i.exam_id == e2]
    assert f'data-exam="{e2}" data-sync="none"' in admin.get("/sync").data.decode()
    assert admin.post(f"/exams/{e2}/sync/queue").status_code == 302
    late = [i for i in outbox.items(s.conn) if i.exam_id == e2]
    assert sorted(i.object_kind for i in late) == ["ecg", "echo_sr", "pdf", "sc"]
    assert admin.post(f"/exams/{e2}/sync/queue").status_code == 302     # again: nothing is queued twice
    assert len([i for i in outbox.items(s.conn) if i.exam_id == e2]) == 4
    s.close()
    assert "sync" in _actions(settings, "exam")
