"""A cart with patient data for the security tests (tests/stress/test_security.py, test_audit_coverage.py).

``build_world`` makes, once per test session, a data directory holding three users (sonographer, physician,
admin), a patient with an echo exam (a simulated A4C clip measured by the real LV pipeline, a key frame, a
measurement, an alert), an ECG exam (a rendered printout uploaded and read through the UI), a perfusion exam (a
stored simulated study) and a second patient whose ECG photo and echo clip must never be served through the first
patient's exam.  Each test copies the directory (``Cart.copy_of``) and gets its own app on it.

``REQUESTS`` holds, for every route of the app, requests that exercise it with plausible data (a state-changing
request carries data that WOULD change the store if nothing stopped it); ``POLICY`` says which roles may use each
route (from README.md "Using the cart").  Both are checked against ``app.url_map``: a new route fails the tests until
it is added here, with its roles.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from device.config import load_settings
from device.store import Store, clinical, users
from device.store.db import Tx
from tests.integration.conftest import UiClient, csrf_of

ROLES = ("sonographer", "physician", "admin")
USERS = {"sono": ("sonographer", "482913"), "doc": ("physician", "529174"), "adm": ("admin", "613850")}
BY_ROLE = {role: name for name, (role, _) in USERS.items()}
PATIENT_ID, PATIENT_NAME = "H0012345", "Chen, Jing"
OTHER_ID = "H0099999"
PASSPHRASE = "correct horse battery staple"
# tables whose content a request may change; the audit log is checked separately
DATA_TABLES = ("users", "patients", "exams", "blobs", "captures", "findings", "measurements", "alerts", "reports",
               "outbox", "jobs", "clip_labels", "measurement_picks")

ANY = ROLES
EDIT = ("sonographer", "physician")
POLICY: dict[str, tuple[str, ...] | None] = {
    # public (None): no login needed
    "api.health": None, "auth.login": None, "auth.setup": None, "auth.set_language": None, "static": None,
    "auth.logout": ANY, "api.metrics": ANY, "api.alerts": ANY, "api.ack": ANY, "alerts.page": ANY, "alerts.acknowledge": ANY,
    "admin.users": ("admin",), "admin.set_active": ("admin",), "admin.audit_view": ("admin",),
    "exams.index": ANY, "exams.detail": ANY, "exams.new": EDIT, "exams.patient_lookup": EDIT, "exams.close": ANY,
    "live.page": ANY, "live.stream": ANY, "live.frame": ANY, "live.state": ANY, "live.events": ANY,
    "live.protocol": EDIT,
    "echo_report.page": ANY, "echo_report.frame_png": ANY, "echo_report.clip_loop": ANY, "echo_report.measure": EDIT, "echo_report.edit": EDIT, "echo_report.edit_2d": EDIT, "echo_report.pick": EDIT,
    "echo_report.doppler_upload": EDIT,
    "ecg.page": ANY, "ecg.blob": ANY, "ecg.upload": EDIT, "ecg.reread": EDIT, "ecg.correct": EDIT, "ecg.calipers": EDIT,
    "ecg.use_reading": EDIT,
    "ecg.camera_page": EDIT, "ecg.camera_capture": EDIT, "ecg.live_page": ANY, "ecg.live_api": ANY,
    "ecg.live_save": EDIT,
    "perfusion.page": ANY, "perfusion.job_state": ANY, "perfusion.upload": EDIT, "perfusion.demo": EDIT,
    "perfusion.reanalyse": EDIT, "perfusion.regions": EDIT,
    "sax.page": ANY, "sax.frame_png": ANY, "sax.grid_png": ANY, "sax.upload": EDIT, "sax.edit_value": EDIT, "sax.edit_contour": EDIT,
    "reports.report_page": ANY, "reports.report_html": ANY, "reports.report_pdf": ANY,
    "reports.save_text": EDIT, "reports.review_measurement": EDIT,
    "reports.sign": ("physician",), "reports.correct": ("physician",),
    "reports.export_page": ANY, "reports.export_file": ANY,
    "reports.sync_page": ANY, "reports.sync_retry": ("admin",), "reports.sync_queue": ("admin",),
    "reports.usb_page": ("admin", "physician"), "reports.usb_export": ("admin", "physician"),
    "reports.usb_verify": ("admin", "physician"), "reports.usb_eject": ("admin", "physician"),
    "reports.usb_job": ("admin", "physician"), "reports.usb_passphrase": ("admin",),
    "echo_learn.clip_label": EDIT, "echo_learn.page": ("admin",), "echo_learn.learn": ("admin",),
    "echo_learn.promote": ("admin",), "echo_learn.rollback": ("admin",),
    "jobs.status": ANY, "jobs.events": ANY,
}
PUBLIC = {k for k, v in POLICY.items() if v is None}


def png_bytes(h: int = 48, w: int = 64, seed: int = 0) -> bytes:
    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray(((np.arange(h * w).reshape(h, w) + seed) % 251).astype(np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def printout_jpeg() -> bytes:
    import cv2

    from device.sim import ecg_paper
    rng = np.random.default_rng(3)
    page = ecg_paper.render(ecg_paper.synthetic_ecg(rng, hr_bpm=72), rng=rng)
    ok, enc = cv2.imencode(".jpg", cv2.cvtColor(page.image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return enc.tobytes()


def a4c_clip(n: int = 16):
    from device.sim.echo_probe import Segment, SimulatedProbe
    probe = SimulatedProbe(script=(Segment("A4C", approach_s=0.05, hold_s=10, leave_s=0.05),), size=(480, 360),
                           fps=20, hr_bpm=75, seed=2)
    shots = [probe.next() for _ in range(n + 2)][2:]
    truth = shots[-1][1]
    return np.stack([s[0] for s in shots]), truth.mm_per_px, list(truth.sector_bbox)


# ---------------------------------------------------------------- a cart on a data directory

def write_config(root: Path, **sections: dict[str, Any]) -> Path:
    pw = root / "usb.pass"
    pw.write_text(PASSPHRASE + "\n")
    pw.chmod(0o600)
    conf: dict[str, dict[str, Any]] = {
        "paths": {"data_dir": str(root / "var")},
        "web": {"port": 18080, "lockout_attempts": 3},
        "usb": {"passphrase_file": str(pw)},
    }
    for k, v in sections.items():
        conf.setdefault(k, {}).update(v)
    lines = []
    for sec, kv in conf.items():
        lines.append(f"[{sec}]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in kv.items()]
    cfg = root / "cardiocart.toml"
    cfg.write_text("\n".join(lines) + "\n")
    return cfg


def fake_usb(root: Path, mounts: list[tuple[str, str, bool]]) -> Path:
    """A fake system root with /proc/mounts and /sys/block for ``find_usb_drives``: (device, mountpoint, removable)."""
    (root / "proc").mkdir(parents=True, exist_ok=True)
    (root / "proc" / "mounts").write_text("".join(f"{dev} {mnt} vfat rw,nosuid 0 0\n" for dev, mnt, _ in mounts))
    for dev, mnt, removable in mounts:
        disk = Path(dev).name.rstrip("0123456789")
        (root / "sys" / "block" / disk).mkdir(parents=True, exist_ok=True)
        (root / "sys" / "block" / disk / "removable").write_text("1\n" if removable else "0\n")
        (root / mnt.lstrip("/")).mkdir(parents=True, exist_ok=True)
    return root


class _Statvfs:
    def __init__(self, _path):
        self.f_blocks, self.f_frsize, self.f_bavail = 1 << 20, 4096, 1 << 19


class Cart:
    """The real Flask app on a data directory, with logged-in CSRF-aware clients per user."""

    def __init__(self, root: Path, **sections: dict[str, Any]):
        from webui import create_app
        self.root = Path(root)
        self.settings = load_settings(write_config(self.root, **sections))
        self.usb_root = fake_usb(self.root / "fakeroot", [("/dev/sdb1", "/media/STICK", True),
                                                         ("/dev/sda2", "/media/internal", False),
                                                         ("/dev/sdc1", "/srv/elsewhere", True)])
        self.app = create_app(self.settings, {"SSE_MAX_S": 0.2, "STREAM_MAX_S": 0.2, "USB_ROOT": str(self.usb_root),
                                              "USB_STATVFS": _Statvfs,
                                              "USB_EJECT_RUN": lambda *a, **k: _Done()})
        self.ids: dict[str, Any] = {}
        p = self.root / "ids.json"
        if p.exists():
            self.ids = json.loads(p.read_text())

    @classmethod
    def copy_of(cls, world: Path, dest: Path, **sections) -> Cart:
        shutil.copytree(world / "var", dest / "var")
        shutil.copy(world / "ids.json", dest / "ids.json")
        return cls(dest, **sections)

    @property
    def db_path(self) -> Path:
        return self.settings.db_path

    def user_id(self, name: str) -> int:
        return self.ids["users"][name]

    def client(self, who: str | None = None, remote: str | None = None) -> UiClient:
        ui = UiClient(self.app.test_client())
        if remote:
            ui.c.environ_base["REMOTE_ADDR"] = remote
        if who is not None:
            ui.get("/login")
            r = ui.post("/login", {"username": who, "pin": USERS[who][1]})
            assert r.status_code == 302, (who, r.status_code)
            ui.get("/")  # the CSRF token is rotated at login
        return ui

    def query(self, sql: str, *args) -> list[sqlite3.Row]:
        c = sqlite3.connect(self.db_path, timeout=30)
        c.row_factory = sqlite3.Row
        try:
            return c.execute(sql, args).fetchall()
        finally:
            c.close()

    def snapshot(self, tables: tuple[str, ...] = DATA_TABLES) -> dict[str, str]:
        """A digest of every row of each table (catches inserts, updates and deletes)."""
        c = sqlite3.connect(self.db_path, timeout=30)
        try:
            out = {}
            for t in tables:
                h = hashlib.sha256()
                for row in c.execute(f"SELECT * FROM {t} ORDER BY rowid"):  # noqa: S608 - fixed table names
                    h.update(repr(tuple(row)).encode())
                out[t] = h.hexdigest()
            return out
        finally:
            c.close()

    def audit_mark(self) -> int:
        return int(self.query("SELECT coalesce(max(id), 0) FROM audit_log")[0][0])

    def audit_since(self, mark: int) -> list[dict[str, Any]]:
        rows = self.query("SELECT * FROM audit_log WHERE id > ? ORDER BY id", mark)
        return [dict(r) | {"detail": json.loads(r["detail"] or "{}")} for r in rows]


class _Done:
    returncode = 0
    stdout = stderr = ""


# ---------------------------------------------------------------- the world

def build_world(root: Path, *, analyse_perfusion: bool = False) -> Path:
    """The shared data directory (see the module docstring). Returns ``root``."""
    from device.services.live_sink import encode_clip
    CLIP_MEDIA = "application/x-cardiocart-clip+npz"
    from device.usecases.perfusion_volumes import store_volumes

    root.mkdir(parents=True, exist_ok=True)
    cart = Cart(root)
    s = Store.open(cart.settings.data_dir)
    ids: dict[str, Any] = {"users": {}}
    try:
        with Tx(s.conn) as c:
            for name, (role, pin) in USERS.items():
                ids["users"][name] = users.create_user(c, name, name.title(), role, pin).id
            doc = ids["users"]["doc"]
            p = clinical.upsert_patient(c, PATIENT_ID, PATIENT_NAME, "F", "1961-02-03")
            echo = clinical.create_exam(c, p, "echo", doc, ["A4C"])
            ecg = clinical.create_exam(c, p, "ecg", doc)
            perf = clinical.create_exam(c, p, "perfusion", doc)
            frames, mmpp, bbox = a4c_clip()
            clip = clinical.add_capture(c, s.blobs, echo.id, "clip", encode_clip(frames, 20.0), CLIP_MEDIA, "A4C", 0.9,
                                        {"mm_per_px": mmpp, "sector_bbox": bbox})
            from device.eval.echo_2d_ivc import ivc_clip
            ivc, _, _ = ivc_clip(0, vary=False)      # a 2-D-only view: the measure job gives its calipers
            clinical.add_capture(c, s.blobs, echo.id, "clip", encode_clip(ivc.frames, ivc.fps), CLIP_MEDIA, "SC-IVC",
                                 0.9, {"mm_per_px": list(ivc.mm_per_px), "fps": ivc.fps})
            key = clinical.add_capture(c, s.blobs, echo.id, "frame", png_bytes(), "image/png", "A4C", 0.81)
            mid = clinical.add_measurement(c, echo.id, key.id, "ef_pct", 58.0, "%", "lv_seg", "1.0.0", (3, 17))
            alert = clinical.add_alert(c, echo.id, "critical", "test_alert", "EF check", {})
            from device.sim.spect import simulate_study
            st = simulate_study((), seed=5)
            buf = io.BytesIO()
            np.savez_compressed(buf, stress=st.stress, rest=st.rest, voxel_mm=np.array(st.voxel_mm))
            vols = store_volumes(c, s.blobs, perf.id, "stress", [("study.npz", buf.getvalue())], None, "auto")
            q = clinical.upsert_patient(c, OTHER_ID, "Other, Person", "M", "1950-01-01")
            o_ecg = clinical.create_exam(c, q, "ecg", doc)
            o_photo = clinical.add_capture(c, s.blobs, o_ecg.id, "photo", png_bytes(seed=7), "image/png", "ECG printout")
            o_echo = clinical.create_exam(c, q, "echo", doc, ["A4C"])
            o_clip = clinical.add_capture(c, s.blobs, o_echo.id, "clip", encode_clip(frames[::-1].copy(), 20.0),
                                          CLIP_MEDIA, "A4C", 0.9, {"mm_per_px": mmpp, "sector_bbox": bbox})
        ids.update(echo=echo.id, ecg=ecg.id, perf=perf.id, clip=clip.id, key_frame=key.id, measurement=mid,
                   alert=alert, stress=vols[0].id, other_ecg=o_ecg.id, other_photo=o_photo.id,
                   other_photo_sha=o_photo.blob_sha256, other_echo=o_echo.id, other_clip=o_clip.id)
    finally:
        s.close()
    (root / "ids.json").write_text(json.dumps(ids))
    cart = Cart(root)
    doc_ui = cart.client("doc")
    # the real pipelines: LV measurement of the clip, an ECG printout read through the upload
    r = doc_ui.post(f"/exams/{ids['echo']}/echo/measure")
    assert r.status_code == 302, r.status_code
    r = doc_ui.post(f"/exams/{ids['ecg']}/ecg/upload", {"photo": (io.BytesIO(printout_jpeg()), "ecg.jpg"),
                                                         "source": "upload"})
    assert r.status_code == 302, r.data[:300]
    ids["job"] = int(r.location.split("job=")[1].split("&")[0])
    from tests.integration.conftest import run_jobs_in
    assert {j.state for j in run_jobs_in(cart.settings)} == {"done"}     # the worker role's part (LV, ECG)
    [sig] = cart.query("SELECT id, blob_sha256, meta FROM captures WHERE exam_id = ? AND kind = 'signal'", ids["ecg"])
    meta = json.loads(sig["meta"])
    [photo] = cart.query("SELECT id, blob_sha256 FROM captures WHERE exam_id = ? AND kind = 'photo'", ids["ecg"])
    [geo] = cart.query("SELECT id, detail FROM findings WHERE exam_id = ? AND kind = 'lv_geometry' ORDER BY id DESC "
                       "LIMIT 1", ids["echo"]) or [None]
    ids.update(signal=sig["id"], photo=photo["id"], photo_sha=photo["blob_sha256"],
               preview_sha=meta.get("preview_sha256"), finding=geo["id"] if geo else None)
    [f2d] = cart.query("SELECT id, detail FROM findings WHERE exam_id = ? AND kind = 'echo_2d' ORDER BY id DESC "
                       "LIMIT 1", ids["echo"]) or [None]
    if f2d is not None:
        m = {x["name"]: x for x in json.loads(f2d["detail"])["measures"]}.get("ivc_max_mm") or {}
        pts = m.get("points") or [[10, 10], [10, 40]]
        ids.update(finding2d=f2d["id"], points2d=[pts[0], [pts[1][0] + 3, pts[1][1] + 3]])
    if geo is not None:
        d = json.loads(geo["detail"])
        es = np.asarray(d["frames"]["es"]["trace"]["contour"], float)
        ids["contour"] = ((es.mean(axis=0) + (es - es.mean(axis=0)) * 1.2).round(2)).tolist()
    for exam in ("echo", "ecg", "perf"):
        assert doc_ui.get(f"/exams/{ids[exam]}/report").status_code == 200   # draft v1
    if analyse_perfusion:
        r = doc_ui.post(f"/exams/{ids['perf']}/perfusion/analyse", {"stress_capture": str(ids["stress"])})
        wait_perfusion(doc_ui, ids["perf"], r.location)
    (root / "ids.json").write_text(json.dumps(ids))
    return root


_WORLDS: dict[str, Path] = {}


def shared_world(tmp_path_factory) -> Path:
    """One world per test session, shared by the security test modules (tests copy it, never change it)."""
    if "w" not in _WORLDS:
        _WORLDS["w"] = build_world(tmp_path_factory.mktemp("secworld") / "w")
    return _WORLDS["w"]


def wait_perfusion(ui: UiClient, exam_id: int, location: str | None, timeout_s: float = 120.0) -> dict | None:
    if not location or "job=" not in location:
        return None
    job_id = location.split("job=")[1].split("&")[0]
    from tests.integration.conftest import run_jobs_in
    run_jobs_in(ui.c.application.config["CARDIOCART_SETTINGS"])     # the worker role's part, in this process
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        j = ui.get(f"/exams/{exam_id}/perfusion/jobs/{job_id}").get_json()
        if j and j["state"] in ("done", "error"):
            return j
        time.sleep(0.1)
    raise AssertionError("the perfusion job did not finish")


def wait_usb(ui: UiClient, location: str | None, timeout_s: float = 60.0) -> dict | None:
    if not location or "job=" not in location:
        return None
    job_id = location.split("job=")[1].split("&")[0]
    from tests.integration.conftest import run_jobs_in
    run_jobs_in(ui.c.application.config["CARDIOCART_SETTINGS"])     # the worker role's part, in this process
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        j = ui.get(f"/usb/jobs/{job_id}").get_json()
        if j and j["state"] in ("done", "error"):
            return j
        time.sleep(0.1)
    raise AssertionError("the USB job did not finish")


# ---------------------------------------------------------------- one request per route (or more)

@dataclass
class Req:
    endpoint: str
    method: str
    url: str
    data: Callable[[], dict] | None = None     # form fields (files as (BytesIO, name)), made fresh per call
    json: dict | None = None
    expensive: bool = False                     # runs a pipeline: called as few times as possible
    tags: set[str] = field(default_factory=set)

    def send(self, ui: UiClient, token: str | None = "session", headers: dict | None = None):
        """``token``: "session" = the client's own CSRF token, None = none, else that string."""
        hdrs = dict(headers or {})
        if self.method in ("GET", "HEAD"):
            r = ui.c.open(self.url, method=self.method, headers=hdrs)
            r.get_data()     # streams (MJPEG, SSE) end after STREAM_MAX_S / SSE_MAX_S
            r.close()
            return r
        tok = ui.token if token == "session" else token
        if self.json is not None:
            if tok is not None:
                hdrs["X-CSRF-Token"] = tok
            return ui.c.open(self.url, method=self.method, json=self.json, headers=hdrs)
        data = dict(self.data() if self.data else {})
        if tok is not None:
            data["csrf_token"] = tok
        return ui.c.open(self.url, method=self.method, data=data, headers=hdrs)


def requests_for(ids: dict[str, Any]) -> list[Req]:
    e, g, p = ids["echo"], ids["ecg"], ids["perf"]
    npy = io.BytesIO()
    np.save(npy, np.zeros((8, 16, 16), np.float32))
    npy_bytes = npy.getvalue()
    R = Req
    return [
        R("api.health", "GET", "/api/health"),
        R("auth.login", "GET", "/login"),
        R("auth.login", "POST", "/login", lambda: {"username": "sono", "pin": "000000"}),
        R("auth.setup", "GET", "/setup"),
        R("auth.setup", "POST", "/setup", lambda: {"username": "intruder", "display_name": "X", "pin": "739164",
                                                     "pin2": "739164"}),
        R("auth.set_language", "POST", "/lang/zh-CN", lambda: {"next": "/"}),
        R("auth.logout", "POST", "/logout"),
        R("static", "GET", "/static/style.css"),
        R("api.metrics", "GET", "/api/metrics"),
        R("api.alerts", "GET", "/api/alerts"),
        R("api.ack", "POST", f"/api/alerts/{ids['alert']}/ack"),
        R("alerts.page", "GET", "/alerts"),
        R("alerts.acknowledge", "POST", f"/alerts/{ids['alert']}/acknowledge"),
        R("admin.users", "GET", "/admin/users"),
        R("admin.users", "POST", "/admin/users", lambda: {"username": "newbie", "display_name": "New", "role": "admin",
                                                           "pin": "739164", "pin2": "739164"}),
        R("admin.set_active", "POST", f"/admin/users/{ids['users']['sono']}/active", lambda: {"active": "0"}),
        R("admin.audit_view", "GET", "/admin/audit"),
        R("exams.index", "GET", "/"),
        R("exams.detail", "GET", f"/exams/{e}"),
        R("exams.new", "GET", "/exams/new"),
        R("exams.patient_lookup", "GET", f"/exams/new/patient?patient_id={PATIENT_ID}"),
        R("exams.new", "POST", "/exams/new", lambda: {"patient_id": "H0077777", "name": "New, Patient", "sex": "M",
                                                       "kind": "ecg"}),
        R("exams.close", "POST", f"/exams/{p}/close"),
        R("live.page", "GET", "/live"),
        R("live.stream", "GET", "/live/stream.mjpg"),
        R("live.frame", "GET", "/live/frame.jpg"),
        R("live.state", "GET", "/api/live/state"),
        R("live.events", "GET", "/api/events"),
        R("live.protocol", "POST", f"/exams/{e}/protocol", lambda: {"protocol": "A4C, PLAX"}),
        R("echo_report.page", "GET", f"/exams/{e}/echo"),
        R("echo_report.frame_png", "GET", f"/exams/{e}/echo/clip/{ids['clip']}/frame/0.png"),
        R("echo_report.clip_loop", "GET", f"/exams/{e}/echo/clip/{ids['clip']}/loop.webp"),
        R("echo_report.measure", "POST", f"/exams/{e}/echo/measure", lambda: {"remeasure": "1"}, expensive=True),
        R("echo_report.pick", "POST", f"/exams/{e}/echo/pick", lambda: {"capture_id": str(ids["clip"])}),
        R("echo_report.doppler_upload", "POST", f"/exams/{e}/echo/doppler",
          lambda: {"screen": (io.BytesIO(b"not an image"), "screen.png")}),
        R("echo_report.edit", "POST", f"/exams/{e}/echo/edit",
          json={"finding_id": ids.get("finding"), "change": {"phase": "es", "contour": ids.get("contour")}}),
        R("echo_report.edit_2d", "POST", f"/exams/{e}/echo/edit2d",
          json={"finding_id": ids.get("finding2d"), "name": "ivc_max_mm", "points": ids.get("points2d")}),
        R("ecg.page", "GET", f"/exams/{g}/ecg"),
        R("ecg.blob", "GET", f"/exams/{g}/ecg/blob/{ids['photo_sha']}"),
        R("ecg.upload", "POST", f"/exams/{g}/ecg/upload",
          lambda: {"photo": (io.BytesIO(png_bytes(seed=3)), "scan.png"), "source": "upload"}),
        R("ecg.reread", "POST", f"/exams/{g}/ecg/photo/{ids['photo']}/read", expensive=True),
        R("ecg.correct", "GET", f"/exams/{g}/ecg/reading/{ids['signal']}/correct"),
        R("ecg.correct", "POST", f"/exams/{g}/ecg/reading/{ids['signal']}/correct",
          lambda: {"speed": "25", "gain": "20"}, expensive=True),
        R("ecg.calipers", "POST", f"/exams/{g}/ecg/reading/{ids['signal']}/calipers",
          lambda: {"qrs_onset_ms": "-40", "qrs_offset_ms": "60", "t_end_ms": "360"}),
        R("ecg.use_reading", "POST", f"/exams/{g}/ecg/reading/{ids['signal']}/report"),
        R("ecg.camera_page", "GET", f"/exams/{g}/ecg/camera"),
        R("ecg.camera_capture", "POST", f"/exams/{g}/ecg/camera/capture"),
        R("ecg.live_page", "GET", "/ecg/live"),
        R("ecg.live_api", "GET", "/api/ecg/live"),
        R("ecg.live_save", "POST", "/ecg/live/save", lambda: {"exam_id": str(g)}),
        R("perfusion.page", "GET", f"/exams/{p}/perfusion"),
        R("perfusion.job_state", "GET", f"/exams/{p}/perfusion/jobs/0000000000000000"),
        R("perfusion.upload", "POST", f"/exams/{p}/perfusion/upload",
          lambda: {"stress": (io.BytesIO(npy_bytes), "stress.npy"), "voxel_mm": "3.2", "orientation": "auto"}),
        R("perfusion.demo", "POST", f"/exams/{p}/perfusion/demo",
          lambda: {"territory": "LAD", "severity": "moderate", "defect_type": "ischaemia",
                   "orientation": "short_axis"}),
        R("perfusion.reanalyse", "POST", f"/exams/{p}/perfusion/analyse",
          lambda: {"stress_capture": str(ids["stress"])}),
        R("perfusion.regions", "POST", f"/exams/{p}/perfusion/regions", lambda: {"text": ",".join(["70"] * 44)}),
        R("sax.page", "GET", f"/exams/{e}/sax"),
        R("sax.frame_png", "GET", f"/exams/{e}/sax/frame/{ids['key_frame']}/0.png"),
        R("sax.grid_png", "GET", f"/exams/{e}/sax/grid/{ids['key_frame']}.png"),
        R("sax.upload", "POST", f"/exams/{e}/sax/upload", lambda: {"series": (io.BytesIO(b"not dicom"), "x.dcm")}),
        R("sax.edit_value", "POST", f"/exams/{e}/sax/value", lambda: {"name": "mri_sax_edv_ml", "value": "120"}),
        R("sax.edit_contour", "POST", f"/exams/{e}/sax/contour",
          json={"analysis_id": ids["key_frame"], "k": 0, "endo": [[1, 1], [5, 1], [3, 4]], "epi": [[0, 0], [6, 0], [3, 6]]}),
        R("reports.report_page", "GET", f"/exams/{e}/report"),
        R("reports.report_html", "GET", f"/exams/{e}/report/v1.html"),
        R("reports.report_pdf", "GET", f"/exams/{e}/report/v1.pdf"),
        R("reports.save_text", "POST", f"/exams/{e}/report/text", lambda: {"free_text": "Normal LV size."}),
        R("reports.review_measurement", "POST", f"/exams/{e}/report/measurements/{ids['measurement']}",
          lambda: {"action": "edit", "value": "55"}),
        R("reports.sign", "POST", f"/exams/{g}/report/sign"),
        R("reports.correct", "POST", f"/exams/{g}/report/correct", lambda: {"reason": "wrong lead"}),
        R("reports.export_page", "GET", f"/exams/{e}/export"),
        R("reports.export_file", "GET", f"/exams/{e}/export/measurements.csv"),
        R("reports.sync_page", "GET", "/sync"),
        R("reports.sync_retry", "POST", f"/exams/{g}/sync/retry", lambda: {"next": "/sync"}),
        R("reports.sync_queue", "POST", f"/exams/{g}/sync/queue"),
        R("reports.usb_page", "GET", "/usb"),
        R("reports.usb_export", "POST", "/usb/export", lambda: {"drive": "/dev/sdb1", "exam_ids": [str(e)]}),
        R("reports.usb_passphrase", "POST", "/usb/passphrase", lambda: {"passphrase": "correct horse battery",
                                                                        "passphrase2": "correct horse battery"}),
        R("reports.usb_verify", "POST", "/usb/verify", lambda: {"drive": "/dev/sdb1", "bundle": "none.zip"}),
        R("reports.usb_eject", "POST", "/usb/eject", lambda: {"drive": "/dev/sdb1"}),
        R("reports.usb_job", "GET", "/usb/jobs/0000000000000000"),
        R("echo_learn.clip_label", "POST", f"/exams/{e}/clips/{ids['clip']}/label", lambda: {"view": "A4C"}),
        R("echo_learn.page", "GET", "/admin/echo-learn"),
        R("echo_learn.learn", "POST", "/admin/echo-learn/learn"),
        R("echo_learn.promote", "POST", "/admin/echo-learn/promote", lambda: {"job_id": "1"}),
        R("echo_learn.rollback", "POST", "/admin/echo-learn/rollback"),
        R("jobs.status", "GET", f"/api/jobs/{ids['job']}"),
        R("jobs.events", "GET", f"/api/jobs/{ids['job']}/events"),
    ]


def csrf_message(app) -> bytes:
    from webui.i18n import translate
    return translate("en", "csrf_failed").encode()


__all__ = ["ANY", "BY_ROLE", "Cart", "EDIT", "OTHER_ID", "PATIENT_ID", "PATIENT_NAME", "POLICY", "PUBLIC", "ROLES",
           "Req", "USERS", "build_world", "shared_world", "csrf_of", "png_bytes", "requests_for", "wait_perfusion", "wait_usb"]
