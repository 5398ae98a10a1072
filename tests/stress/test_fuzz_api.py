"""Fuzzing of every web endpoint and upload of the cart's UI (Flask), through Flask's test client on a real store.

The UI has no OpenAPI description, so schemathesis does not apply; instead the app's URL map is enumerated
(``app.url_map.iter_rules()``) and every route x method is fuzzed with hypothesis, so a route added later is fuzzed
without editing this file. A case is one request by one role (admin, physician, sonographer, or nobody) carrying a
valid CSRF token, with generated path variables (known ids, negative/huge ints, unicode, ``../``, ``%00``, very long
strings), a query string, and a body: form fields (names harvested from the templates and view code, plus random
ones), JSON (random nested JSON, and the echo contour/caliper edit with NaN, strings, deep lists), multipart uploads
(random bytes, empty files, huge or path-traversal file names, wrong content types, mutated real images, volumes and
DICOM made with the project's simulators) or a raw body.

The store is pre-populated (a patient, echo exams with a measured clip and a signed report, an ECG exam with a read
printout, a perfusion exam with an analysed study, an alert, events, a fake USB drive). Contract, checked after
every case: never a 5xx, a 4xx carries a message (never a traceback), no exception logged by the product, the
background jobs finish; after each route: ``/api/health`` answers ok and every pre-populated row and blob is intact
(signed reports byte-identical, blobs re-hashed, ``PRAGMA integrity_check`` ok).

Every crash found became an entry of ``REGRESSIONS`` (the minimal request), replayed by
``test_regression_minimal_request`` and before each fuzz run. Sizes: ``budget(short=12, full=160)`` cases per
route-method (a third of that for the slow ones: uploads, reads, signing, PDF/DICOM exports). For work on one area:
``FUZZ_API_ONLY=<regex of "METHOD /rule">`` (no figures recorded), ``FUZZ_API_N=<cases>``, ``FUZZ_API_VERBOSE=1``
(statuses per route), ``FUZZ_API_NO_SHRINK=1``.
"""

from __future__ import annotations

import ast
import datetime as dt
import hashlib
import io
import json
import logging
import os
import re
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, reject, settings as hsettings, strategies as st

ROOT = Path(__file__).resolve().parents[2]
ROLES = ("admin", "physician", "sonographer")
PIN = "482913"
TOKEN = "fuzz-csrf-token-0123456789abcdef"
MAX_UPLOAD_MB = 2
PHASES = (Phase.explicit, Phase.generate) if os.environ.get("FUZZ_API_NO_SHRINK") else \
    (Phase.explicit, Phase.generate, Phase.shrink)
RULE_ARG = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")
BIG_INTS = (0, -1, -(2 ** 31), 2 ** 31, 2 ** 53 + 1, 2 ** 63 - 1, 2 ** 63, 2 ** 64, 10 ** 30, -(10 ** 30))
NASTY = ("", " ", "\t\r\n", "0", "-1", "1.5", "nan", "NaN", "inf", "-inf", "1e309", "9" * 40, "-" + "9" * 40, "0x10",
         "²", "１２", "٣", "\x00", "a\x00b", "%00", "../", "../../etc/passwd", "..\\..\\windows\\win.ini", "/etc/passwd",
         "//evil.example/x", "http://evil.example/", "<script>alert(1)</script>", "'; DROP TABLE users; --",
         "{{7*7}}", "Ω≈ç√∫˜µ≤≥÷", "中文报告", "😀" * 30, "\u202e\u200b", "A" * 5000, "[]", "{}", "null", "true",
         '{"a": [1, 2, {"b": NaN}]}')
TRAVERSAL_NAMES = ("../../etc/passwd", "..\\..\\boot.ini", "/etc/passwd", "....//....//etc/passwd", "..%2f..%2fx",
                   "x\x00.png", "con", "", ".", "..", " ", "a/b/c.png", "ecg.png", "study.npz", "x.npy", "s.zip",
                   "slice.dcm", "中文.jpg", "😀.png", "\r\n.png", 'q"uote.png', "A" * 300 + ".png", "B" * 5000)
CONTENT_TYPES = ("image/png", "image/jpeg", "application/dicom", "application/zip", "application/octet-stream",
                 "text/plain", "text/html", "application/json", "image/svg+xml", "multipart/mixed", "", "x/y;;;=")


# ---------------------------------------------------------------- minimal requests of the crashes found so far

@dataclass(frozen=True)
class Regression:
    """The minimal request of a crash found by this fuzzer, what it did and how the product was fixed."""

    name: str
    group: str                  # blueprint
    method: str
    path: str                   # "{echo}" etc. are replaced with the pre-populated ids
    role: str
    kwargs: dict = field(default_factory=dict, hash=False, compare=False)   # query_string, data, json, headers
    expect: tuple[int, ...] = (400,)
    what: str = ""


_OVERFLOW = ("OverflowError (Python int too large to convert to SQLite INTEGER) -> 500; fixed in webui/app.py: "
             "SqliteIntConverter caps every <int:...> URL part at 2**63-1, so a larger id is a 404 'not found'")
REGRESSIONS: tuple[Regression, ...] = (
    Regression("huge_exam_id", "exams", "GET", "/exams/9223372036854775808", "admin", {}, (404,), _OVERFLOW),
    Regression("huge_exam_id_ecg", "ecg", "GET", "/exams/9223372036854775808/ecg", "admin", {}, (404,), _OVERFLOW),
    Regression("huge_exam_id_perfusion", "perfusion", "GET", "/exams/9223372036854775808/perfusion", "admin", {},
               (404,), _OVERFLOW),
    Regression("huge_report_version", "reports", "GET", "/exams/{echo_signed}/report/v1000000000000000000000000000000.html",
               "sonographer", {}, (404,), _OVERFLOW),
    Regression("huge_measurement_id", "reports", "POST", "/exams/{echo}/report/measurements/9223372036854775808",
               "physician", {"data": {"action": "confirm"}}, (404,), _OVERFLOW),
    Regression("huge_user_id", "admin", "POST", "/admin/users/1000000000000000000000000000000/active", "admin",
               {"data": {"active": "1"}}, (404,), _OVERFLOW),
    Regression("huge_last_event_id", "live", "GET", "/api/events", "sonographer",
               {"headers": {"Last-Event-ID": "1000000000000000000000000000000"}}, (200,),
               "OverflowError inside the event stream (the SSE generator passed the id to SQLite): the stream broke "
               "after its 200 header; fixed in webui/views/live.py: an id >= 2**63 starts from the newest event"),
    Regression("huge_exam_id_in_form", "ecg", "POST", "/ecg/live/save", "physician",
               {"data": {"exam_id": "9223372036854775808"}}, (400,),
               "OverflowError from clinical.get_exam -> 500; fixed in device/store/clinical.py: get_exam and get_capture "
               "look a too-large id up as 'no such exam/capture' (a clear 400)"),
    Regression("huge_capture_id_in_form", "perfusion", "POST", "/exams/{perf}/perfusion/analyse", "physician",
               {"data": {"stress_capture": "9223372036854775808"}}, (400,),
               "OverflowError from clinical.get_capture -> 500; same fix (device/store/clinical.py)"),
    Regression("unicode_digit_exam_id", "reports", "POST", "/usb/export", "admin",
               {"data": {"drive": "/dev/sdz1", "exam_ids": "²"}}, (302,),
               "'²'.isdigit() is True but int('²') raises ValueError -> 500; fixed in webui/views/reports.py: only "
               "ASCII digits are exam ids (the page then says to choose an exam)"),
    Regression("infinite_finding_id", "echo_report", "POST", "/exams/{echo}/echo/edit", "sonographer",
               {"data": '{"finding_id": Infinity, "change": {}}', "content_type": "application/json"}, (400,),
               "int(Infinity) raised OverflowError -> 500; fixed in webui/views/echo_report.py: a finding_id that is "
               "not a finite number is refused (400 'finding_id must be a number')"),
    Regression("deeply_nested_json", "echo_report", "POST", "/exams/{echo}/echo/edit", "sonographer",
               {"data": "[" * 100000 + "]" * 100000, "content_type": "application/json"}, (400,),
               "RecursionError in the JSON decoder (get_json(silent=True) only absorbs ValueError) -> 500; fixed in "
               "webui/views/echo_report.py: JSON nested too deep is refused like any body that is not an edit"),
    Regression("deep_list_in_contour", "echo_report", "POST", "/exams/{echo}/echo/edit", "sonographer",
               {"data": '{"finding_id": {finding}, "change": {"phase": "ed", "contour": ' + "[" * 5000 + "]" * 5000
                + "}}", "content_type": "application/json"}, (400,),
               "the same RecursionError with a contour of nested lists; same fix"),
    Regression("report_text_before_any_report", "reports", "POST", "/exams/{ecg}/report/text", "physician",
               {"data": {}}, (400,),
               "saving report text of an exam that has no report yet: the refusal (UserError) was rendered on the "
               "report page, which indexed the empty version list -> IndexError 500; fixed in webui/views/reports.py: "
               "with no report yet the refusal is shown on its own (400 with the reason)"),
    Regression("review_measurement_before_any_report", "reports", "POST", "/exams/{perf}/report/measurements/1",
               "sonographer", {"data": {"action": "confirm"}}, (400,), "the same IndexError; same fix"),
    Regression("correct_before_any_report", "reports", "POST", "/exams/{perf}/report/correct", "physician",
               {"data": {"reason": "typo"}}, (400,), "the same IndexError; same fix"),
)


# ---------------------------------------------------------------- the pre-populated world

@dataclass
class World:
    app: Any
    settings: Any
    users: dict[str, Any]
    ids: dict[str, list[int]]
    shas: list[str]
    samples: dict[str, bytes]
    contours: list[dict]
    ecg_boxes: str
    job_ids: list[str]
    static_files: list[str]
    kind_words: dict = field(default_factory=dict)     # (path variable, id) -> words of rules it suits
    snapshot: dict = field(default_factory=dict)


def _png(rgb: np.ndarray) -> bytes:
    import cv2
    ok, enc = cv2.imencode(".png", cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR))
    assert ok
    return enc.tobytes()


def _nm_dicom(vol: np.ndarray) -> bytes:
    """A small multi-frame NM DICOM of a (z, y, x) volume (what a SPECT console exports)."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, NuclearMedicineImageStorage, generate_uid

    v = np.clip(vol / max(float(vol.max()), 1e-6) * 4000, 0, 65535).astype(np.uint16)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = NuclearMedicineImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = NuclearMedicineImageStorage, ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.PatientID = "NM", "FZ0002"
    ds.NumberOfFrames, (ds.Rows, ds.Columns) = v.shape[0], v.shape[1:]
    ds.PixelSpacing, ds.SliceThickness = [3.2, 3.2], 3.2
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PixelData = v.tobytes()
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def _fake_usb(root: Path) -> None:
    (root / "proc").mkdir(parents=True)
    (root / "proc" / "mounts").write_text("/dev/sdz1 /media/usb vfat rw,nosuid 0 0\n")
    (root / "sys" / "block" / "sdz").mkdir(parents=True)
    (root / "sys" / "block" / "sdz" / "removable").write_text("1\n")
    (root / "media" / "usb").mkdir(parents=True)


def build_world(tmp: Path) -> World:
    """Users of every role and a store with a patient, exams, captures, measurements, reports (one signed)."""
    import subprocess

    import cv2

    from device.config import load_settings
    from device.reporting import from_store as fs
    from device.reporting import signing
    from device.reporting.settings import ReportSettings
    from device.services import echo_measure as em
    from device.services.live_sink import encode_clip
    from device.sim import ecg_paper
    from device.sim.echo_probe import Segment, SimulatedProbe
    from device.sim.spect import Defect, simulate_study
    from device.store import Store, clinical, users
    from device.store.db import Tx
    from webui import create_app
    from device.jobs import get_job
    from device.usecases import perfusion_study as pv
    from device.usecases.perfusion_volumes import store_volumes

    pw = tmp / "usb.pass"
    pw.write_text("correct horse battery staple\n")
    pw.chmod(0o600)
    cfg = tmp / "cardiocart.toml"
    cfg.write_text(f'[paths]\ndata_dir = "{tmp / "var"}"\n[web]\nport = 18080\nmax_upload_mb = {MAX_UPLOAD_MB}\n'
                   f'[sync]\ntarget = "dicomweb"\ndicomweb_url = "http://127.0.0.1:9/dicom-web"\n'
                   f'[usb]\npassphrase_file = "{pw}"\n')
    settings = load_settings(cfg)
    app = create_app(settings, {"SSE_MAX_S": 0.05, "STREAM_MAX_S": 0.05})
    usb_root = tmp / "usbroot"
    _fake_usb(usb_root)
    app.config["USB_ROOT"] = str(usb_root)
    app.config["USB_EJECT_RUN"] = lambda cmd, **kw: subprocess.CompletedProcess(cmd, 0, "", "")

    s = Store.open(settings.data_dir)
    try:
        with Tx(s.conn):
            us = {r: users.create_user(s.conn, f"fz_{r}", f"Fuzz {r}", r, PIN) for r in ROLES}
        # echo: a clip of the simulated probe holding A4C, measured by lv_seg; one exam signed, one a draft
        probe = SimulatedProbe(script=(Segment("A4C", approach_s=0.05, hold_s=10, leave_s=0.05),), size=(480, 360),
                               fps=20, hr_bpm=75, seed=2)
        shots = [probe.next() for _ in range(24)][2:]
        frames = np.stack([x[0] for x in shots])
        truth = shots[-1][1]
        clip = encode_clip(frames, 20.0)
        with Tx(s.conn):
            p = clinical.upsert_patient(s.conn, "FZ0001", "Fuzz, Pre", "F", "1960-01-01")
            echo_signed = clinical.create_exam(s.conn, p, "echo", us["sonographer"].id, ["A4C"])
            echo_draft = clinical.create_exam(s.conn, p, "echo", us["sonographer"].id, ["A4C", "PLAX"])
            for e in (echo_signed, echo_draft):
                clinical.add_capture(s.conn, s.blobs, e.id, "clip", clip, "application/x-cardiocart-clip+npz", "A4C",
                                     0.9, {"mm_per_px": truth.mm_per_px, "sector_bbox": list(truth.sector_bbox)})
        for e in (echo_signed, echo_draft):
            em.measure_exam(s.conn, s.blobs, e.id, table=ReportSettings.bundled().case_table)
        signing.sign_and_queue(s.conn, s.blobs, echo_signed.id, signer_id=us["physician"].id, signer_role="physician",
                               signer_name="Fuzz physician", now=dt.datetime.now().astimezone(),
                               settings=ReportSettings.bundled(), target="dicomweb")
        with Tx(s.conn):
            fs.ensure_draft(s.conn, s.blobs, echo_draft.id, "en", us["sonographer"].id,
                            ReportSettings.bundled())
            alert = clinical.add_alert(s.conn, echo_draft.id, "critical", "fuzz_alert", "pre-populated alert")
            for k in range(3):
                clinical.add_event(s.conn, "fuzz", {"k": k}, echo_draft.id)
            ecg = clinical.create_exam(s.conn, p, "ecg", us["sonographer"].id)
            perf = clinical.create_exam(s.conn, p, "perfusion", us["sonographer"].id)
        # perfusion: a simulated stress/rest study stored and analysed like an upload
        study = simulate_study((Defect("LAD", 0.5, 0.6, 1.0),), seed=1)
        npz = io.BytesIO()
        np.savez_compressed(npz, stress=study.stress, rest=study.rest, voxel_mm=np.array(study.voxel_mm),
                            orientation=np.array(study.orientation))
        with Tx(s.conn):
            vols = store_volumes(s.conn, s.blobs, perf.id, "stress", [("study.npz", npz.getvalue())], None, "auto")
        job_id = pv.enqueue_analysis(s.conn, perf.id, vols[0].id, pv.rest_of(vols),
                                     (us["physician"].id, us["physician"].username))
        # ECG: a rendered printout uploaded through the UI (photo + reading + measurements + findings)
        rng = np.random.default_rng(3)
        page = ecg_paper.render(ecg_paper.synthetic_ecg(rng, hr_bpm=72), rng=rng, px_per_mm=6.0)
        ok, jpg = cv2.imencode(".jpg", cv2.cvtColor(page.image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 80])
        assert ok
        client = session_client(app, us["sonographer"].id)
        r = client.post(f"/exams/{ecg.id}/ecg/upload", data={"photo": (io.BytesIO(jpg.tobytes()), "ecg.jpg")},
                        headers={"X-CSRF-Token": TOKEN}, content_type="multipart/form-data")
        assert r.status_code == 302 and "/login" not in r.headers["Location"], r.get_data()[:500]
        wait_jobs(settings)
        assert get_job(s.conn, job_id).state == "done"
        caps = [dict(c) for c in s.conn.execute("SELECT * FROM captures ORDER BY id")]
        meas = [r[0] for r in s.conn.execute("SELECT id FROM measurements")]
        geo = [f for e in (echo_signed, echo_draft) for f in em.geometry_findings(s.conn, e.id).values()]
        sig = next(c for c in caps if c["kind"] == "signal" and c["exam_id"] == ecg.id)
        boxes = json.dumps(json.loads(sig["meta"])["boxes"])
        shas = [r[0] for r in s.conn.execute("SELECT sha256 FROM blobs")]
    finally:
        s.close()
    eimg = frames[5]
    samples = {
        "ecg.jpg": jpg.tobytes(),
        "ecg.png": _png(cv2.resize(page.image, None, fx=0.5, fy=0.5)),
        "echo.png": _png(eimg),
        "echo.bmp": cv2.imencode(".bmp", eimg)[1].tobytes(),
        "echo.tif": cv2.imencode(".tiff", eimg)[1].tobytes(),
        "clip.npz": clip,
        "study.npz": npz.getvalue(),
        "stress.npy": _npy(study.stress),
        "nm.dcm": _nm_dicom(study.stress),
        "series.zip": _zip({f"s{i}.dcm": _nm_dicom(study.stress[i:i + 1]) for i in range(0, 8, 2)}),
        "empty.zip": _zip({}),
        "fake.pdf": b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n",
    }
    ids = {"exam_id": [echo_signed.id, echo_draft.id, ecg.id, perf.id], "capture_id": [c["id"] for c in caps],
           "measurement_id": meas, "user_id": [u.id for u in us.values()], "alert_id": [alert],
           "version": [1, 2], "index": [0, 1, 10, 21, 22], "finding_id": [f["id"] for f in geo]}
    static = sorted(p.name for p in (ROOT / "webui" / "static").iterdir())
    words = {"clip": ("/clip/", "/echo"), "photo": ("/photo/",), "signal": ("/reading/",), "volume": ("/perfusion",)}
    kind_words = {("exam_id", echo_signed.id): ("/echo", "/report", "/export", "/sync"),
                  ("exam_id", echo_draft.id): ("/echo", "/report", "/protocol", "/close"),
                  ("exam_id", ecg.id): ("/ecg",), ("exam_id", perf.id): ("/perfusion",)}
    kind_words |= {("capture_id", c["id"]): words.get(c["kind"], ()) for c in caps}
    return World(app, settings, us, ids, shas, samples, [f for f in geo], boxes, [str(job_id)], static, kind_words)


def _npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for n, d in files.items():
            zf.writestr(n, d)
    return buf.getvalue()


def session_client(app, uid: int | None):
    """A test client whose session is logged in as ``uid`` (None: nobody) and holds the CSRF token."""
    c = app.test_client()
    sid = None
    if uid is not None:   # sessions are server-side since 0004_sessions.sql: a cookie without its row is logged out
        from device.store import users as users_repo
        from device.store.db import Tx
        sid = f"test-{uid}-{time.monotonic_ns()}"
        with app.app_context():
            db = app.extensions["cardiocart"].conn()
            with Tx(db):
                users_repo.create_session(db, sid, uid, time.time(), "127.0.0.1")
    with c.session_transaction() as sess:
        if uid is not None:
            sess["uid"] = uid
            sess["sid"] = sid
            sess["seen"] = time.time()
        sess["csrf"] = TOKEN
    return c


def wait_jobs(settings, timeout_s: float = 120.0) -> None:
    """Run the queued durable jobs (ECG reads, perfusion analyses, LV measurements, USB bundles) as the worker role
    would, in this process: a job's crash is logged here; a job taking longer than ``timeout_s`` is a hang."""
    from tests.integration.conftest import run_jobs_in

    t0 = time.monotonic()
    done = run_jobs_in(settings)
    if time.monotonic() - t0 > timeout_s:
        raise AssertionError(f"background job(s) {[j.id for j in done]} took more than {timeout_s:.0f} s")


def current_findings(world: World) -> list[int]:
    """Ids of the current LV geometry findings of the echo exams (an edit supersedes the one it changes)."""
    from device.services import echo_measure as em
    from device.store import Store
    s = Store.open(world.settings.data_dir, run_migrations=False)
    try:
        return [f["id"] for e in world.ids["exam_id"][:2] for f in em.geometry_findings(s.conn, e).values()] or [0]
    finally:
        s.close()


# ---------------------------------------------------------------- integrity of the pre-populated data

IMMUTABLE = {   # table -> columns that no request may change on a row that existed before
    "users": "id, username, display_name, role, pin_hash, created_at",
    "patients": "*",
    "exams": "id, patient_ref, kind, accession, study_uid, created_by, created_at",
    "blobs": "*",
    "captures": "*",
    "findings": "*",
    "measurements": "*",
    "alerts": "id, exam_id, level, code, message, detail, created_at",
    "audit_log": "*",
    "outbox": "id, exam_id, target, object_kind, sop_instance_uid, blob_sha256, created_at",
    "reports": "id, exam_id, version, created_at",
}


def snapshot(settings) -> dict:
    from device.store import Store
    s = Store.open(settings.data_dir, run_migrations=False)
    try:
        snap = {t: {tuple(r) for r in s.conn.execute(f"SELECT {cols} FROM {t}")} for t, cols in IMMUTABLE.items()}
        snap["signed_reports"] = {tuple(r) for r in s.conn.execute("SELECT * FROM reports WHERE status = 'signed'")}
        snap["blob_files"] = {sha: hashlib.sha256(s.blobs.path_for(sha).read_bytes()).hexdigest()
                              for (sha, *_rest) in snap["blobs"]}
        return snap
    finally:
        s.close()


def integrity_problems(settings, before: dict, verified: set[str] | None = None) -> list[str]:
    """What of ``before`` is missing or changed now, plus blobs whose file is not complete (those not yet in
    ``verified``, which collects the complete ones), plus SQLite damage."""
    from device.store import Store
    now = snapshot(settings)
    out = []
    for key, rows in before.items():
        if key == "blob_files":
            bad = [sha for sha, h in rows.items() if now[key].get(sha) != h]
        else:
            bad = sorted(rows - now[key], key=repr)
        if bad:
            out.append(f"{key}: {len(bad)} pre-populated row(s) changed or lost, e.g. {repr(bad[0])[:200]}")
    s = Store.open(settings.data_dir, run_migrations=False)
    try:
        verified = set() if verified is None else verified
        new = [sha for (sha,) in s.conn.execute("SELECT sha256 FROM blobs") if sha not in verified]
        torn = [sha for sha in new if not s.blobs.verify(sha)]
        verified.update(set(new) - set(torn))
        check = s.conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        s.close()
    if torn:
        out.append(f"{len(torn)} blob row(s) without a complete file, e.g. {torn[0]}")
    if check != "ok":
        out.append(f"PRAGMA integrity_check: {check}")
    return out


def reset_session_state(world: World) -> None:
    """Undo what a case may legitimately change and the next case needs: users active/unlocked, exams open."""
    from device.store import Store
    s = Store.open(world.settings.data_dir, run_migrations=False)
    try:
        with s.conn:
            uids = [u.id for u in world.users.values()]
            s.conn.execute(f"UPDATE users SET active = 1, failed_attempts = 0, locked_until = 0 "
                           f"WHERE id IN ({','.join('?' * len(uids))})", uids)
            eids = world.ids["exam_id"]
            s.conn.execute(f"UPDATE exams SET status = 'open' WHERE id IN ({','.join('?' * len(eids))})", eids)
    finally:
        s.close()


# ---------------------------------------------------------------- what a request may contain

def harvest() -> tuple[list[str], list[str]]:
    """Field names (templates' name="...", and .get/.getlist/_files("...") calls in the views) and short string
    literals of the view code (the values the views compare against: 'confirm', 'LAD', 'short_axis', ...)."""
    names: set[str] = set()
    literals: set[str] = set()
    for p in (ROOT / "webui" / "templates").glob("*.html"):
        names |= set(re.findall(r'name="([A-Za-z_][\w\-\[\]]*)"', p.read_text(encoding="utf-8")))
    for p in (ROOT / "webui" / "views").glob("*.py"):
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                    and isinstance(node.args[0].value, str):
                fn = node.func
                fname = fn.attr if isinstance(fn, ast.Attribute) else getattr(fn, "id", "")
                if fname in ("get", "getlist", "_files"):
                    names.add(node.args[0].value)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and 0 < len(node.value) <= 24 \
                    and "\n" not in node.value:
                literals.add(node.value)
    return sorted(n for n in names if len(n) <= 40), sorted(literals)


FIELD_NAMES, LITERALS = harvest()


@dataclass(frozen=True)
class Profile:
    """What one view reads, from its source: field names, the constants it compares with, files, JSON."""

    fields: tuple[str, ...] = ()
    file_fields: tuple[str, ...] = ()
    literals: tuple[str, ...] = ()
    files: bool = False
    json: bool = False


def profile(app, endpoint: str) -> Profile:
    import inspect
    import textwrap

    fn = app.view_functions[endpoint]
    try:
        src = textwrap.dedent(inspect.getsource(inspect.unwrap(fn)))
    except (OSError, TypeError):
        return Profile()
    fields, files, lits = set(), set(), set()
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            fname = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if fname in ("get", "getlist"):
                fields.add(node.args[0].value)
            if fname == "_files" or (fname == "getlist" and "files" in ast.unparse(node.func)):
                files.add(node.args[0].value)
        if isinstance(node, ast.Constant) and isinstance(node.value, (str, int, float)) \
                and not isinstance(node.value, bool) and len(str(node.value)) <= 24:
            v = node.value
            lits.add(str(int(v)) if isinstance(v, float) and v.is_integer() else str(v))
    return Profile(tuple(sorted(fields - files)), tuple(sorted(files)), tuple(sorted(lits)),
                   bool(files) or "request.files" in src, "get_json" in src)
FILE_FIELDS = ("photo", "stress", "rest", "file", "upload")


def weighted(*pairs: tuple[int, st.SearchStrategy]) -> st.SearchStrategy:
    """One of the strategies, chosen with these weights (hypothesis' own choices lean hard on the first one)."""
    ws, ss = [w for w, _ in pairs], [s for _, s in pairs]
    return st.randoms(use_true_random=True).flatmap(lambda r: r.choices(ss, ws)[0])


def _mutate(data: bytes, edits: list[tuple[float, int, int]], cut: float) -> bytes:
    """Flip/replace/insert/delete bytes at relative positions, then keep the first ``cut`` of it."""
    b = bytearray(data)
    for pos, op, val in edits:
        if not b:
            b.append(val)
            continue
        i = min(int(pos * len(b)), len(b) - 1)
        if op == 0:
            b[i] ^= 1 << (val % 8)
        elif op == 1:
            b[i] = val
        elif op == 2:
            b[i:i] = bytes([val]) * (1 + val % 16)
        else:
            del b[i:i + 1 + val % 64]
    return bytes(b[:max(0, int(round(cut * len(b))))]) if cut < 1 else bytes(b)


def strategies(world: World, prof: Profile = Profile()) -> dict[str, st.SearchStrategy]:
    leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.sampled_from(BIG_INTS),
                     st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20), st.sampled_from(NASTY))
    any_json = st.recursive(leaf, lambda ch: st.lists(ch, max_size=6)
                            | st.dictionaries(st.one_of(st.text(max_size=8), st.sampled_from(FIELD_NAMES)), ch,
                                              max_size=6), max_leaves=25)
    deep = st.randoms(use_true_random=True).map(lambda r: r.choice([3, 30, 300, 1500, 5000, 100_000])).map(
        lambda d: json.loads("[" * d + "]" * d) if d < 400 else "[" * d + "]" * d)  # raw text past the decoder

    @st.composite
    def shifted(draw):
        f = draw(st.sampled_from(world.contours))
        d = f["detail"]
        mode = d.get("mode")
        if mode == "plax":
            name = draw(st.sampled_from(sorted(d["calipers"])))
            pts = np.asarray(d["calipers"][name], float)
            return {"caliper": name, "points": (pts + draw(st.floats(-60, 60))).tolist()}
        ph = draw(st.sampled_from(["ed", "es"]))
        tr = d["frames"][ph]["trace"] if mode == "apical" else d["frames"][ph]
        key = draw(st.sampled_from([k for k in ("contour", "apex", "annulus", "endo", "epi") if k in tr]))
        pts = np.asarray(tr[key], float)
        scale = draw(st.one_of(st.floats(0.2, 3.0), st.sampled_from([0.0, -1.0, 1e6, float("nan")])))
        centre = pts.reshape(-1, 2).mean(axis=0)
        return {"phase": ph, key: ((pts - centre) * scale + centre).tolist()}

    points = st.one_of(st.lists(st.lists(leaf, min_size=2, max_size=2), max_size=60),
                       st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=9), any_json, deep)
    change = weighted((4, shifted()), (2, st.fixed_dictionaries({}, optional={
        "phase": st.one_of(st.sampled_from(["ed", "es", "ES", ""]), leaf), "contour": points, "apex": points,
        "annulus": points, "endo": points, "epi": points, "points": points,
        "caliper": st.one_of(st.sampled_from(["lvidd", "lvids", "ivsd", "lvpwd", "x"]), leaf)})), (1, any_json))
    current = st.randoms(use_true_random=True).map(lambda r: r.choice(current_findings(world)))
    finding = weighted((3, current), (1, st.sampled_from(world.ids["finding_id"])), (1, leaf))
    edit = weighted((5, st.fixed_dictionaries({"finding_id": finding, "change": change})), (1, any_json))

    @st.composite
    def boxes_text(draw):
        boxes = json.loads(world.ecg_boxes)
        for _ in range(draw(st.integers(0, 4))):
            b = draw(st.sampled_from(boxes))
            b[draw(st.sampled_from(sorted(b)))] = draw(leaf)
        if draw(st.booleans()):
            boxes = boxes[:draw(st.integers(0, len(boxes)))]
        return json.dumps(boxes)

    ids_text = st.sampled_from(sorted({str(i) for v in world.ids.values() for i in v}))
    value = weighted((2, st.sampled_from(LITERALS)), (2, ids_text), (1, st.just("/dev/sdz1")),
                     (3, st.sampled_from(NASTY)), (2, st.text(max_size=40)), (1, st.integers().map(str)),
                     (1, st.floats().map(repr)), (1, st.sampled_from(BIG_INTS).map(str)), (2, boxes_text()),
                     (1, any_json.map(lambda j: json.dumps(j, allow_nan=True))), (1, st.just("x" * 200_000)))
    if prof.literals:   # mostly the values this view compares with, so that cases get past its checks
        value = weighted((3, st.sampled_from(prof.literals)), (2, value))
    fname = st.one_of(st.sampled_from(FIELD_NAMES), st.text(min_size=1, max_size=20))
    extra = st.dictionaries(fname, st.one_of(value, st.lists(value, max_size=4)), max_size=4)
    mine = st.fixed_dictionaries({}, optional={f: weighted((4, value), (1, st.lists(value, max_size=3)))
                                               for f in prof.fields})
    form = st.builds(lambda a, b: {**b, **a}, mine, extra)

    sample = st.sampled_from(sorted(world.samples))
    edits = st.lists(st.tuples(st.floats(0, 1), st.integers(0, 3), st.integers(0, 255)), max_size=12)
    content = weighted(
        (2, st.binary(max_size=3000)), (1, st.just(b"")), (1, st.just(b"\x00" * (MAX_UPLOAD_MB << 20))),
        (4, st.builds(lambda k, e, c: _mutate(world.samples[k], e, c), sample, edits,
                      weighted((2, st.just(1.0)), (1, st.floats(0, 1))))),
        (3, sample.map(world.samples.get)))
    ffield = st.sampled_from(prof.file_fields) if prof.file_fields else st.sampled_from(FILE_FIELDS)
    upload = st.tuples(weighted((4, ffield), (1, st.sampled_from(FILE_FIELDS)), (1, fname)), content,
                       weighted((2, st.sampled_from(TRAVERSAL_NAMES)), (2, st.sampled_from(sorted(world.samples))),
                                (1, st.text(max_size=60))),
                       st.sampled_from(CONTENT_TYPES))
    raw = st.tuples(st.one_of(st.binary(max_size=2000), st.sampled_from(
        [b"{", b"[" * 100000, b'{"finding_id": NaN, "change": {}}', b"\xff\xfe\x00", b"a=1&a=2&&=&%zz=%"])),
        st.sampled_from(CONTENT_TYPES))
    kinds = {"none": st.tuples(st.just("none"), st.none()),
             "form": st.tuples(st.just("form"), form),
             "json": st.tuples(st.just("json"), weighted((3, edit), (1, any_json), (2, deep))),
             "multipart": st.tuples(st.just("multipart"), st.tuples(form, st.lists(upload, min_size=1, max_size=3))),
             "raw": st.tuples(st.just("raw"), raw)}
    weights = {"none": 1, "form": 1 + 2 * bool(prof.fields), "json": 1 + 4 * prof.json,
               "multipart": 1 + 4 * prof.files, "raw": 1}
    body = weighted(*[(w, kinds[k]) for k, w in weights.items()])
    headers = st.fixed_dictionaries({}, optional={
        "Accept": st.sampled_from(["application/json", "text/html", "*/*", "image/*", "x;q=nan"]),
        "Last-Event-ID": st.one_of(st.sampled_from(BIG_INTS).map(str), st.sampled_from(NASTY)),
        "Accept-Language": st.sampled_from(NASTY)})
    query = st.dictionaries(fname, st.one_of(value, st.lists(value, max_size=3)), max_size=5)
    return {"body": body, "headers": headers, "query": query, "leaf": leaf, "value": value}


def path_strategy(world: World, rule: str) -> st.SearchStrategy[str]:
    """The rule's URL with each variable generated: known ids and names, odd ints, text, traversal, escapes."""
    known_text = {"code": ["en", "zh-CN"], "fmt": ["dicom.zip", "fhir.json", "measurements.csv", "measurements.json",
                                                   "signal-I.csv", "signal-II.json", "signal-../x.csv"],
                  "sha": world.shas, "job_id": world.job_ids, "filename": world.static_files}
    parts = []
    pos = 0
    for m in RULE_ARG.finditer(rule):
        parts.append(st.just(rule[pos:m.start()]))
        conv, name = m.group(1) or "string", m.group(2)
        text = st.one_of(st.sampled_from(NASTY), st.text(max_size=30), st.sampled_from(TRAVERSAL_NAMES))
        if conv == "int":       # mostly ids that exist (of the kind the rule names), to get past the lookup
            every = world.ids.get(name) or [1]
            liked = [i for i in every if any(w in rule for w in world.kind_words.get((name, i), ()))]
            known = st.sampled_from(liked * 3 + every).map(str)
            odd = st.one_of(st.integers(-5, 60), st.sampled_from(BIG_INTS), st.integers()).map(str) | text
        else:
            known = st.sampled_from(known_text.get(name) or ["x"])
            odd = text
        seg = weighted((6, known), (1, odd))
        safe = st.sampled_from(["", "/", "/%", "%"])
        parts.append(st.tuples(seg, safe).map(lambda t: quote(t[0], safe=t[1])))
        pos = m.end()
    parts.append(st.just(rule[pos:]))
    return st.tuples(*parts).map("".join)


# ---------------------------------------------------------------- running one case

class ExceptionLog(logging.Handler):
    """Collects every log record that carries an exception: the product caught something it did not expect."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []
        self._mu = threading.Lock()      # not ``self.lock``: logging.Handler holds that one around emit()

    def emit(self, record):
        if record.exc_info:
            with self._mu:
                self.records.append(record)

    def take(self) -> list[str]:
        with self._mu:
            out = [f"{r.name}: {r.getMessage()} -> {r.exc_info[0].__name__}: {r.exc_info[1]}" for r in self.records]
            self.records.clear()
        return out


@dataclass
class Case:
    role: str | None
    method: str
    path: str
    query: dict
    headers: dict
    body: tuple

    def describe(self) -> str:
        kind, payload = self.body
        text = repr(payload)
        return (f"{self.method} {self.path[:300]} as {self.role or 'nobody'} query={repr(self.query)[:200]} "
                f"headers={self.headers} body={kind}:{text[:400]}{'...' if len(text) > 400 else ''}")


def builder_kwargs(case: Case) -> dict:
    kw: dict[str, Any] = {"method": case.method, "headers": {**case.headers, "X-CSRF-Token": TOKEN}}
    if case.query:
        kw["query_string"] = urlencode(case.query, doseq=True)
    kind, payload = case.body
    if kind == "form":
        kw["data"] = {"csrf_token": TOKEN, **payload}
    elif kind == "json":
        kw["data"] = json.dumps(payload, allow_nan=True) if not isinstance(payload, str) else payload
        kw["content_type"] = "application/json"
    elif kind == "multipart":
        fields, files = payload
        data: dict[str, Any] = {"csrf_token": TOKEN, **fields}
        for name, content, filename, ctype in files:
            data.setdefault(name, [])
            if not isinstance(data[name], list):
                data[name] = [data[name]]
            data[name].append((io.BytesIO(content), filename, ctype or None))
        kw["data"] = data
        kw["content_type"] = "multipart/form-data"
    elif kind == "raw":
        kw["data"], kw["content_type"] = payload[0], payload[1] or None
    return kw


@dataclass
class Stats:
    cases: dict = field(default_factory=dict)        # (rule, method) -> executed cases
    answered: dict = field(default_factory=dict)     # (rule, method) -> cases answered 2xx/3xx
    failures: dict = field(default_factory=dict)     # (rule, method) -> minimal failing case + what went wrong
    statuses: dict = field(default_factory=dict)     # (rule, method) -> {status: count}
    rejected: int = 0


def fire(world: World, case: Case, exc_log: ExceptionLog) -> tuple[int, bytes, str]:
    """Send one case; returns (status, body, problem) where problem is '' when the contract held."""
    from flask.testing import EnvironBuilder

    try:
        builder = EnvironBuilder(world.app, path=case.path, **builder_kwargs(case))
        request = builder.get_request()
    except Exception:   # noqa: BLE001 - a request the HTTP client itself cannot express is not a case
        reject()
    uid = world.users[case.role].id if case.role else None
    client = session_client(world.app, uid)
    problem = ""
    status, data = 0, b""
    try:
        resp = client.open(request)
        status = resp.status_code
        data = resp.get_data()          # streams (MJPEG, SSE) are read to their end
    except Exception as exc:  # noqa: BLE001 - anything escaping the app is exactly what we look for
        problem = f"exception escaped the app: {type(exc).__name__}: {exc}"
    finally:
        builder.close()
    try:
        wait_jobs(world.settings)
    except AssertionError as exc:
        problem = problem or str(exc)
    logged = exc_log.take()
    if not problem:
        if status >= 500 or status < 200:
            problem = f"status {status}: {data[:300]!r}"
        elif logged:
            problem = f"status {status} but the product logged an exception: {logged[0]}"
        elif 400 <= status < 500 and (not data.strip() or b"Traceback (most recent call" in data):
            problem = f"status {status} without a message (or with a traceback): {data[:300]!r}"
    reset_session_state(world)
    return status, data, problem


def case_strategy(world: World, strat: dict, rule: str, method: str) -> st.SearchStrategy[Case]:
    role = st.randoms(use_true_random=True).map(       # the editing roles twice as often: most routes are theirs
        lambda r: r.choices(("admin", "physician", "sonographer", None), (1, 2, 2, 1))[0])
    return st.builds(Case, role, st.just(method), path_strategy(world, rule),
                     strat["query"], strat["headers"],
                     strat["body"] if method not in ("GET", "HEAD") else
                     weighted((1, st.tuples(st.just("none"), st.none())), (1, strat["body"])))


def fuzz_route(world: World, strat: dict, rule: str, method: str, n: int, stats: Stats, exc_log: ExceptionLog):
    key = (rule, method)
    stats.cases.setdefault(key, 0)
    stats.answered.setdefault(key, 0)
    last_failure: list[str] = []

    @hsettings(max_examples=n, deadline=None, database=None, derandomize=False, print_blob=False,
               phases=PHASES,
               suppress_health_check=list(HealthCheck))
    @given(case=case_strategy(world, strat, rule, method))
    def run(case: Case):
        status, _data, problem = fire(world, case, exc_log)
        stats.cases[key] += 1
        stats.answered[key] += int(200 <= status < 400)
        hist = stats.statuses.setdefault(key, {})
        hist[status] = hist.get(status, 0) + 1
        if problem:
            last_failure[:] = [f"{case.describe()}\n    -> {problem}"]   # hypothesis replays the minimal one last
            raise AssertionError(problem)

    t0 = time.monotonic()
    try:
        run()
    except AssertionError:
        stats.failures[key] = last_failure[0] if last_failure else "failed"
    except Exception as exc:  # noqa: BLE001 - e.g. hypothesis found the strategy unusable; report, go on
        stats.failures[key] = f"fuzzer error: {type(exc).__name__}: {exc}"
    if os.environ.get("FUZZ_API_VERBOSE"):
        print(f"{method} {rule}: {stats.cases[key]} cases in {time.monotonic() - t0:.1f} s "
              f"{dict(sorted(stats.statuses.get(key, {}).items()))}"
              f"{' FAIL ' + stats.failures[key][:300] if key in stats.failures else ''}", flush=True)


def route_methods(app) -> list[tuple[str, str, str]]:
    """(blueprint, rule, method) of every route and method of the app (HEAD and OPTIONS are Flask's own)."""
    out = []
    for r in app.url_map.iter_rules():
        for m in sorted(r.methods - {"HEAD", "OPTIONS"}):
            out.append((r.endpoint.split(".")[0] if "." in r.endpoint else r.endpoint, r.rule, m))
    return sorted(out)


def _entry_point(group: str, keys: list[tuple[str, str]]) -> str:
    text = ", ".join(f"{m} {r}" for r, m in keys)
    return f"blueprint {group} ({len(keys)} route-methods): " + (text if len(text) <= 150 else text[:147] + "...")


def _regression_request(world: World, reg: Regression):
    ids = {"echo": world.ids["exam_id"][1], "echo_signed": world.ids["exam_id"][0], "ecg": world.ids["exam_id"][2],
           "perf": world.ids["exam_id"][3], "finding": world.ids["finding_id"][-1]}
    path = reg.path.format(**ids)
    kw = json.loads(json.dumps(reg.kwargs).replace("{finding}", str(ids["finding"])))
    kw.setdefault("headers", {})["X-CSRF-Token"] = TOKEN
    if isinstance(kw.get("data"), dict):
        kw["data"].setdefault("csrf_token", TOKEN)
    client = session_client(world.app, world.users[reg.role].id if reg.role else None)
    r = client.open(path, method=reg.method, **kw)
    return r.status_code, r.get_data()


# ---------------------------------------------------------------- tests

@pytest.fixture(scope="module")
def world(tmp_path_factory):
    w = build_world(tmp_path_factory.mktemp("fuzz_api"))
    w.snapshot = snapshot(w.settings)
    return w


@pytest.fixture()
def exc_log():
    h = ExceptionLog()
    root = logging.getLogger()
    root.addHandler(h)
    try:
        yield h
    finally:
        root.removeHandler(h)


@pytest.mark.parametrize("reg", REGRESSIONS, ids=[r.name for r in REGRESSIONS])
def test_regression_minimal_request(world, exc_log, reg):
    """Each crash the fuzzer found, as its minimal request: now a clear 4xx (or 2xx/3xx), nothing logged, data
    intact."""
    status, data = _regression_request(world, reg)
    assert status in reg.expect, (status, data[:300])
    assert data.strip() and b"Traceback (most recent call" not in data
    assert exc_log.take() == []
    wait_jobs(world.settings)
    assert integrity_problems(world.settings, world.snapshot) == []


def test_fuzz_every_route(world, exc_log, budget, figures):
    t0 = time.monotonic()
    app = world.app
    pairs = route_methods(app)
    n_map = sum(len(r.methods - {"HEAD", "OPTIONS"}) for r in app.url_map.iter_rules())
    assert len(pairs) == n_map and len(set(pairs)) == n_map    # every route x method of the map, once
    per_route = int(os.environ.get("FUZZ_API_N", 0)) or budget(short=12, full=160)
    stats = Stats()

    fixed: dict[str, int] = {}
    for reg in REGRESSIONS:                                  # the crashes found before stay fixed
        status, _ = _regression_request(world, reg)
        fixed[reg.group] = fixed.get(reg.group, 0) + int(status in reg.expect and not exc_log.take())
        reset_session_state(world)

    integrity: dict[str, list[str]] = {}
    verified: set[str] = set()
    only = os.environ.get("FUZZ_API_ONLY")     # a regex of rules, for working on one area
    for group, rule, method in pairs:
        if only and not re.search(only, f"{method} {rule}"):
            stats.cases[(rule, method)] = -1
            continue
        heavy = rule.endswith(("/upload", "/read", "/correct", "/measure", "/sign", "/demo", "/analyse", "/export",
                               "/queue", ".pdf", "/export/<fmt>"))
        endpoint = next(r.endpoint for r in app.url_map.iter_rules() if r.rule == rule and method in r.methods)
        strat = strategies(world, profile(app, endpoint))
        fuzz_route(world, strat, rule, method, max(3, per_route // 3) if heavy else per_route, stats, exc_log)
        health = session_client(app, None).get("/api/health")
        if health.status_code != 200 or health.get_json() != {"status": "ok"}:
            integrity.setdefault(f"{method} {rule}", []).append(f"/api/health answered {health.status_code}")
        problems = integrity_problems(world.settings, world.snapshot, verified)
        if problems:
            integrity.setdefault(f"{method} {rule}", []).extend(problems)
            world.snapshot = snapshot(world.settings)      # report each damage once, at the route that did it
    elapsed = time.monotonic() - t0

    if only:
        pairs = [p for p in pairs if stats.cases.get(p[1:], -1) >= 0]
    groups = sorted({g for g, _, _ in pairs})
    for g in groups if not only else ():          # a partial run (FUZZ_API_ONLY) records no figures
        keys = [(r, m) for gg, r, m in pairs if gg == g]
        regs = [r for r in REGRESSIONS if r.group == g]
        found_now = sum(1 for k in keys if k in stats.failures)
        figures.row("fuzzing", parser=f"web API {g}",
                    entry_point=_entry_point(g, keys),
                    cases=sum(stats.cases.get(k, 0) for k in keys), crashes_found=len(regs) + found_now,
                    crashes_fixed=fixed.get(g, 0),
                    regression_tests=", ".join(f"tests/stress/test_fuzz_api.py::test_regression_minimal_request[{r.name}]"
                                               for r in regs) or "-")
    total = sum(stats.cases.values())
    if not only:
        figures.row("fuzzing", parser="web API (all routes)",
                    entry_point=f"the Flask URL map: {len(pairs)} route-methods in {len(groups)} blueprints, as 3 roles "
                                f"and a visitor; {sum(stats.answered.values())} of the cases answered 2xx/3xx, the rest "
                                f"4xx; {elapsed:.0f} s",
                    cases=total, crashes_found=len(REGRESSIONS) + len(stats.failures), crashes_fixed=sum(fixed.values()),
                    regression_tests=f"{len(REGRESSIONS)} x tests/stress/test_fuzz_api.py::test_regression_minimal_request")
        figures.note("fuzzing", "Web API: the UI has no OpenAPI description, so schemathesis does not apply; the Flask "
                     "URL map is enumerated instead (a route added later is fuzzed without editing the test) and every "
                     "route x method is fuzzed with hypothesis as admin, physician, sonographer and a visitor, with a "
                     "valid CSRF token, on a store pre-populated with a patient, exams, captures and a signed report; "
                     "after every route /api/health must answer ok and every pre-populated row and blob must be intact "
                     "(signed reports byte-identical, blobs re-hashed, PRAGMA integrity_check).")
    for reg in REGRESSIONS if not only else ():
        figures.note("fuzzing", f"Web API crash '{reg.name}': {reg.method} {reg.path} -> {reg.what}")

    missing = [f"{m} {r}" for _, r, m in pairs if stats.cases.get((r, m), 0) == 0]
    assert not missing, f"route-methods never exercised: {missing}"
    assert not stats.failures, "contract broken:\n" + "\n".join(
        f"{m} {r}: {v}" for (r, m), v in sorted(stats.failures.items()))
    assert not integrity, f"data damaged or health lost: {integrity}"


def test_integrity_check_sees_damage(world):
    """The data check the fuzzer relies on fails when a pre-populated row changes or a blob file is damaged."""
    from device.store import Store
    before = snapshot(world.settings)
    s = Store.open(world.settings.data_dir, run_migrations=False)
    try:
        mid, value = s.conn.execute("SELECT id, value FROM measurements ORDER BY id LIMIT 1").fetchone()
        with s.conn:
            s.conn.execute("UPDATE measurements SET value = value + 1 WHERE id = ?", (mid,))
        assert any(p.startswith("measurements:") for p in integrity_problems(world.settings, before))
        with s.conn:
            s.conn.execute("UPDATE measurements SET value = ? WHERE id = ?", (value, mid))
        sha = world.shas[0]
        path = s.blobs.path_for(sha)
        good = path.read_bytes()
        path.chmod(0o640)
        path.write_bytes(good[:-1])
        try:
            problems = integrity_problems(world.settings, before)
        finally:
            path.write_bytes(good)
        assert any(p.startswith("blob_files:") for p in problems) and any("blob row" in p for p in problems)
        assert integrity_problems(world.settings, before) == []
    finally:
        s.close()
