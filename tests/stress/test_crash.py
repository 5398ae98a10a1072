"""Crash and power loss: SIGKILL each service of the cart in the middle of its work, at a random moment (a seeded
random delay per kill), then cut the power of the whole cart with its last write torn.

After every kill: ``PRAGMA integrity_check`` is ok and ``foreign_key_check`` empty; every record the store had
committed right before the kill (read from a separate connection: the outside evidence) is still there and
unchanged; every blob file hashes to its name and row; a half-written file exists only as a ``*.part`` temp file;
signed reports are unchanged; and the restarted service finishes the queued work (clips keep being saved, pending
clip measurements and ECG reads get done, interrupted signatures and exports complete, the outbox delivers every
object to a real Orthanc exactly once).

The short version (``make test``) kills each service twice and cuts the power once; ``make stress`` kills each
service 20 times and cuts the power 10 times. Each kill delay is drawn from a seeded generator, measured from the
moment the work starts (process start, the gate holding a view, the bundle's first byte on the drive; calibrated on
the measured duration of that work where it varies with the machine's load), and listed in the figures notes. Every
test records one figures row (section "crash") with what it measured; problems are collected first and asserted at
the end so the row is written even when a check fails. The checks were shown to fail on deliberately broken
products (blobs written in place, the signature and its outbox rows in two transactions, a bundle written under its
final name, a sync worker that does not ask the PACS before resending).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from device.paths import REPO_ROOT
from tests.cart import Cart
from tests.stress.crash_helpers import (
    CountingProxy,
    Web,
    check_store,
    in_thread,
    kill_group,
    rows,
    snapshot,
    truncate_tail,
    wal_committed_end,
)

pytestmark = pytest.mark.slow

PHYSICIAN = ("drli", "573920")
PASSPHRASE = "crash-test-passphrase"
MEASURED = ("A4C", "A2C", "PLAX", "PSAX-PM")


class Tally:
    """Per-scenario counts for the figures row."""

    def __init__(self, name: str, seed: int):
        self.name, self.seed = name, seed
        self.rng = random.Random(seed)
        self.kills = self.intact = self.records = self.blobs = self.mid_write = 0
        self.delays: list[float] = []
        self._temps = 0
        self.problems: list[str] = []

    def delay(self, lo: float, hi: float) -> float:
        d = round(self.rng.uniform(lo, hi), 3)
        self.delays.append(d)
        return d

    def after_kill(self, data_dir: Path, before: dict, extra: list[str] | None = None) -> None:
        self.kills += 1
        chk = check_store(data_dir, before)
        probs = chk.problems + (extra or [])
        self.records += chk.records_checked
        self.blobs += chk.blobs_checked
        if chk.temp_files > self._temps:  # a new temp file: the kill landed while a blob was being written
            self.mid_write += 1
        self._temps = chk.temp_files
        if probs:
            self.problems += [f"kill {self.kills} (after {self.delays[-1]} s): {p}" for p in probs]
        else:
            self.intact += 1

    def record(self, figures, queue_resumed: str, defects_found: int = 0) -> None:
        figures.row("crash", scenario=self.name, kills=self.kills, survived_intact=self.intact,
                    records_checked=self.records, blobs_checked=self.blobs, queue_resumed=queue_resumed,
                    defects_found=defects_found, seed=self.seed)
        _set_note(figures, f"{self.name}: seed {self.seed}, kill delays (s) ",
                  ", ".join(f"{d:g}" for d in self.delays))


def _set_note(figures, prefix: str, text: str) -> None:
    """A note that replaces the previous run's note with the same prefix (delays depend on measured durations)."""
    data = figures._load("crash")
    data["notes"] = [n for n in data["notes"] if not n.startswith(prefix)] + [prefix + text]
    figures._save("crash", data)


def _cart(tmp: Path, role: str, extra: str = "") -> Cart:
    cart = Cart(tmp, extra_toml=extra, role=role)
    res = cart.cli("migrate")
    assert res.returncode == 0, res.stderr
    return cart


def _db(cart: Cart) -> Path:
    return cart.data / "cardiocart.sqlite3"


def _kill(cart: Cart) -> None:
    kill_group(cart.proc)
    cart.log.close()


def _new_exam(cart: Cart, kind: str, pid: str) -> int:
    from device.store import Store, clinical
    from device.store.db import Tx
    s = Store.open(cart.data, run_migrations=False)
    try:
        with Tx(s.conn):
            return clinical.create_exam(s.conn, clinical.upsert_patient(s.conn, pid), kind, None).id
    finally:
        s.close()


# --------------------------------------------------------------------------------------------------- (a) capture

CAPTURE_TOML = "[echo]\nhold_s = 0.2\nquality_threshold = 0.3\nclip_s = 1.0\nmeasure_clips = false\n"


def test_sigkill_core_while_it_saves_clips(tmp_path, budget, figures):
    """The real ``python -m device core`` on the simulated probe, killed at a random moment (0-3.5 s after the gate
    starts holding the target view; the clip is committed ~1.5-2.5 s after that); a new exam before each start so the
    protocol and the probe both begin at PLAX."""
    n = budget(short=2, full=20)
    t = Tally("capture: SIGKILL core while saving clips", 8101)
    cart = _cart(tmp_path, "core", CAPTURE_TOML)
    db = _db(cart)
    for i in range(n):
        _new_exam(cart, "echo", f"CAP{i}")
        t0 = time.time()
        cart.start()
        # the kill lands a random time after the gate starts holding a view: the clip is saved ~2 s later
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            st = cart.live_state()
            if st.get("wall_time", 0) > t0 and st.get("status") in ("holding", "standard"):
                break
            time.sleep(0.05)
        time.sleep(t.delay(0.0, 3.5))
        before = snapshot(db)
        _kill(cart)
        t.after_kill(cart.data, before)
        if i == 0:
            first_run_clips = len(rows(db, "SELECT id FROM captures WHERE kind = 'clip'"))
    n_clips = lambda: len(rows(db, "SELECT id FROM captures WHERE kind = 'clip'"))  # noqa: E731
    clips_before = n_clips()
    # the queue resumes: a core started after a kill saved a clip during the kills, or the restarted core does now
    restarted_saved = clips_before - first_run_clips
    chk = check_store(cart.data, None)
    if not restarted_saved:
        _new_exam(cart, "echo", "CAP-LAST")
        cart.start()
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and n_clips() <= clips_before:
            time.sleep(0.3)
        restarted_saved = n_clips() - clips_before
        before = snapshot(db)
        cart.stop()
        chk = check_store(cart.data, before)
    resumed = restarted_saved > 0
    t.record(figures, f"{'yes' if resumed else 'no'}: {n_clips()} clips saved, {restarted_saved} of them by a core "
                      f"restarted after a kill; {t.mid_write} kills left a temp blob")
    assert not t.problems, t.problems[:5]
    assert not chk.problems, chk.problems[:5]
    assert resumed, "the restarted core saved no clip"


# --------------------------------------------------------------------------------------------------- (b) analysis

ANALYSER = r"""
import pathlib, sys, time
import numpy as np
from device.config import load_settings
from device.jobs.worker import run_worker
from device.services.core import ClipJobs, MeasuringSink
from device.domain.live import ClipRecord
from device.services.live_sink import StoreSink
from device.store import Store
# the core's own path: a saved clip goes through MeasuringSink, which queues its measurement job (ClipJobs); then
# this process runs the worker role's loop (run_worker: recovery, claim, measure), the process the test kills
s = load_settings(sys.argv[1])
store = Store.open(s.data_dir, run_migrations=False)
sink = MeasuringSink(StoreSink(store, s.run_dir), ClipJobs(s))
for p in sys.argv[2:]:
    with np.load(p) as z:
        q = float(z["quality"])
        sink.keep_clip(ClipRecord(frames=z["frames"], fps=30.0, view=str(z["view"]), quality_mean=q, quality_min=q,
                                  duration_s=len(z["frames"]) / 30.0, model_name="echo_view", model_version="sim",
                                  model_tag="echo_view sim", mm_per_px=float(z["mm_per_px"]),
                                  sector_bbox=tuple(int(v) for v in z["bbox"])))
run_worker(s)
"""


def _sim_clips(directory: Path, n: int, seed: int) -> list[Path]:
    """n clips (30 frames, 320x240) of the measured views from the simulated probe, as .npz files."""
    from device.sim.echo_probe import Segment, SimulatedProbe
    directory.mkdir(parents=True, exist_ok=True)
    out = []
    for k in range(n):
        view = MEASURED[k % len(MEASURED)]
        probe = SimulatedProbe((Segment(view, approach_s=0.05, hold_s=60.0, leave_s=0.05),), (320, 240), 30.0,
                               seed=seed + k)
        frames, truth = [], None
        for _ in range(30):
            rgb, truth = probe.next()
            frames.append(rgb)
        p = directory / f"clip{k:03d}.npz"
        np.savez(p, frames=np.stack(frames), view=view, quality=truth.quality, mm_per_px=truth.mm_per_px,
                 bbox=np.array(truth.sector_bbox))
        out.append(p)
    return out


def _unmeasured(db: Path) -> list[int]:
    """Clips of a measured view in open exams without an LV result (measured or refused)."""
    return [r["id"] for r in rows(db, "SELECT c.id FROM captures c JOIN exams e ON e.id = c.exam_id WHERE "
                                      "c.kind = 'clip' AND e.status = 'open' AND c.label IN (?, ?, ?, ?) AND NOT EXISTS "
                                      "(SELECT 1 FROM findings f WHERE f.capture_id = c.id AND f.kind = 'lv_geometry')",
                                  *MEASURED)]


def test_sigkill_clip_measurement_in_flight(tmp_path, budget, figures):
    """The LV measurement jobs of saved clips, their worker killed while it measures; the clips it had not measured
    must be measured by the restarted worker (the job it was killed in resumed), each exactly once."""
    n = budget(short=2, full=20)
    per_run = 2
    t = Tally("analysis: SIGKILL the worker during echo clip measurement jobs", 8201)
    cart = _cart(tmp_path, "core")
    db = _db(cart)
    _new_exam(cart, "echo", "MEAS1")
    clips = _sim_clips(tmp_path / "clips", min(n * per_run, 8), 40)  # reused in turn: each save is a new capture
    pending_ids: set[int] = set()
    kills_leaving = 0

    def start(files):
        log = open(tmp_path / "analyser.log", "a")
        return subprocess.Popen([sys.executable, "-c", ANALYSER, str(cart.config), *map(str, files)], cwd=REPO_ROOT,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True), log

    # calibration: from the child's start to its clips measured (the kill window is drawn over this)
    t0 = time.monotonic()
    proc, log = start(clips[:per_run])
    while time.monotonic() - t0 < 60 and (len(rows(db, "SELECT id FROM captures")) < per_run or _unmeasured(db)):
        time.sleep(0.05)
    t_work = time.monotonic() - t0
    kill_group(proc)
    log.close()
    for i in range(n):
        proc, log = start([clips[(i * per_run + j + 1) % len(clips)] for j in range(per_run)])
        time.sleep(t.delay(0.0, 1.2 * t_work))
        before = snapshot(db)
        kill_group(proc)
        log.close()
        t.after_kill(cart.data, before)
        left_by_kill = set(_unmeasured(db))  # the next start (or the last one) must measure these
        pending_ids |= left_by_kill
        kills_leaving += bool(left_by_kill)
    # restart with no new clip: the pending measurements must get done
    proc, log = start([])
    deadline = time.monotonic() + 30 + 3 * len(_unmeasured(db))
    while time.monotonic() < deadline and _unmeasured(db):
        time.sleep(0.5)
    left = _unmeasured(db)
    before = snapshot(db)
    kill_group(proc)
    log.close()
    chk = check_store(cart.data, before)
    n_clips = len(rows(db, "SELECT id FROM captures WHERE kind = 'clip'"))
    dup = rows(db, "SELECT capture_id, count(*) n FROM findings WHERE kind = 'lv_geometry' GROUP BY capture_id "
                   "HAVING n > 1")
    orphan = rows(db, "SELECT m.id FROM measurements m WHERE m.capture_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM "
                      "findings f WHERE f.capture_id = m.capture_id AND f.kind = 'lv_geometry')")
    t.record(figures, f"{'yes' if not left and not dup else 'no'}: {kills_leaving} kills left clips unmeasured "
                      f"({len(pending_ids)} clips), measured by the next start; {n_clips} clips, "
                      f"{n_clips - len(left)} measured, {len(dup)} twice (storing and measuring {per_run} took {t_work:.1f} s)",
             defects_found=1)
    assert not t.problems, t.problems[:5]
    assert not chk.problems, chk.problems[:5]
    assert not left, f"clips {left} were never measured after the restart"
    assert not dup, f"clips measured twice: {dup}"
    assert not orphan, f"measurements without their geometry finding: {orphan}"
    jobs = rows(db, "SELECT state FROM jobs WHERE kind = 'echo.measure_clip'")
    assert [j["state"] for j in jobs] == ["done"] * n_clips, jobs        # one job per clip, each finished


def _ecg_photos(n: int, seed: int) -> list[bytes]:
    import cv2

    from device.sim import ecg_paper
    out = []
    for k in range(n):
        rng = np.random.default_rng(seed + k)
        page = ecg_paper.render(ecg_paper.synthetic_ecg(rng, hr_bpm=float(60 + 5 * k)), rng=rng)
        ok, enc = cv2.imencode(".jpg", cv2.cvtColor(page.image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
        assert ok
        out.append(enc.tobytes())
    return out


def _worker(cart: Cart, log_name: str = "worker.log") -> subprocess.Popen:
    """The real worker role (``python -m device worker``) on the cart's config, in its own process group."""
    log = open(cart.tmp / log_name, "a")
    return subprocess.Popen([sys.executable, "-m", "device", "--config", str(cart.config), "worker"], cwd=REPO_ROOT,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})


def _signal_problems(db: Path, eid: int) -> list[str]:
    """Photos stored without their audit row; readings stored without their findings or preview blobs."""
    extra = []
    for c in rows(db, "SELECT id, kind, meta FROM captures WHERE exam_id = ?", eid):
        if c["kind"] == "photo" and not rows(db, "SELECT 1 FROM audit_log WHERE action = 'create' AND "
                                                "object_type = 'capture' AND object_id = ?", str(c["id"])):
            extra.append(f"photo capture {c['id']} stored without its audit row")
        if c["kind"] == "signal":
            fk = {f["kind"] for f in rows(db, "SELECT kind FROM findings WHERE capture_id = ?", c["id"])}
            if not {"ecg_screen", "rhythm"} <= fk:
                extra.append(f"signal capture {c['id']} stored without its findings")
            for k in ("preview_sha256", "overlay_sha256", "traces_sha256"):
                sha = json.loads(c["meta"]).get(k)
                if sha and not rows(db, "SELECT 1 FROM blobs WHERE sha256 = ?", sha):
                    extra.append(f"signal capture {c['id']}: {k} has no blob row")
    return extra


def test_sigkill_worker_while_it_reads_an_ecg_photo(tmp_path, budget, figures):
    """An ECG photo upload is stored and queued by the web UI (``ecg.read`` job); the worker role reads it (~1-2 s)
    and is killed at a random moment of that. Afterwards each reading is either stored completely (signal +
    measurements + findings + audit, one transaction) or not at all; the restarted worker resumes the job it was
    killed in and the queue, and every photo ends with exactly one reading."""
    n = budget(short=2, full=20)
    t = Tally("analysis: SIGKILL the worker during an ECG photo read", 8202)
    cart = _cart(tmp_path, "webui")
    cart.add_user("sono", "sonographer", "482913")
    db = _db(cart)
    eid = _new_exam(cart, "ecg", "ECG1")
    photos = _ecg_photos(min(n, 4), 300)  # reused in turn: each upload is a new photo capture
    cart.start()
    web = Web(cart.url).login("sono", "482913")

    def upload(i):
        files = {"photo": (f"ecg{i}.jpg", photos[i % len(photos)], "image/jpeg")}
        r = web.s.post(f"{cart.url}/exams/{eid}/ecg/upload", data={"csrf_token": web.token, "source": "upload"},
                       files=files, allow_redirects=False, timeout=60)
        assert r.status_code == 302 and "job=" in r.headers["Location"], r.status_code
        return int(r.headers["Location"].split("job=")[1])

    def unread():
        caps = rows(db, "SELECT id, kind, meta FROM captures WHERE exam_id = ?", eid)
        done = {json.loads(c["meta"]).get("photo_capture_id") for c in caps if c["kind"] == "signal"}
        return [c["id"] for c in caps if c["kind"] == "photo" and c["id"] not in done]

    # calibration: from a cold worker's start to the photo read (like every read after a restart)
    upload(0)
    t0 = time.monotonic()
    proc = _worker(cart)
    while time.monotonic() - t0 < 120 and unread():
        time.sleep(0.05)
    t_read = time.monotonic() - t0
    kill_group(proc)
    mid_job = 0
    for i in range(n):
        upload(i + 1)
        proc = _worker(cart)
        time.sleep(t.delay(0.0, 1.2 * t_read))
        before = snapshot(db)
        kill_group(proc)
        mid_job += bool(rows(db, "SELECT id FROM jobs WHERE state = 'running'"))
        t.after_kill(cart.data, before, _signal_problems(db, eid))
    pending = unread()
    # resume: the restarted worker finishes the job it was killed in and the rest of the queue
    proc = _worker(cart)
    deadline = time.monotonic() + 60 + 10 * len(pending)
    while time.monotonic() < deadline and (unread() or rows(db, "SELECT id FROM jobs WHERE state IN "
                                                                "('queued', 'running')")):
        time.sleep(0.2)
    kill_group(proc)
    left = unread()
    page = web.get(f"/exams/{eid}/ecg")
    before = snapshot(db)
    cart.stop()
    chk = check_store(cart.data, before)
    n_photos = len(rows(db, "SELECT id FROM captures WHERE exam_id = ? AND kind = 'photo'", eid))
    twice = rows(db, "SELECT json_extract(meta, '$.photo_capture_id') p, count(*) n FROM captures WHERE exam_id = ? "
                     "AND kind = 'signal' GROUP BY p HAVING n > 1", eid)
    jobs = rows(db, "SELECT state, attempts FROM jobs WHERE kind = 'ecg.read'")
    t.record(figures, f"{'yes' if not left and not twice else 'no'}: {n_photos} photos stored, {mid_job} kills "
                      f"inside a running read, {len(pending)} unread after the kills, all read by the restarted "
                      f"worker, {len(twice)} read twice; {sum(j['attempts'] > 1 for j in jobs)} jobs resumed "
                      f"(a cold read took {t_read:.1f} s)")
    assert not t.problems, t.problems[:5]
    assert not chk.problems, chk.problems[:5]
    assert page.status_code == 200
    assert not left
    assert not twice, twice
    assert [j["state"] for j in jobs] == ["done"] * n_photos, jobs


# --------------------------------------------------------------------------------------------------- (c) signing

SIGN_TOML = '[sync]\ntarget = "dicomweb"\ndicomweb_url = "http://127.0.0.1:9/dicom-web"\n'


def _sign_state(db: Path, eid: int) -> tuple[str, int, int]:
    latest = rows(db, "SELECT status FROM reports WHERE exam_id = ? ORDER BY version DESC LIMIT 1", eid)
    n_out = rows(db, "SELECT count(*) n FROM outbox WHERE exam_id = ?", eid)[0]["n"]
    n_audit = rows(db, "SELECT count(*) n FROM audit_log WHERE action = 'sign' AND object_id = ?", str(eid))[0]["n"]
    return (latest[0]["status"] if latest else "none"), n_out, n_audit


def test_sigkill_webui_while_it_signs_a_report(tmp_path, budget, figures):
    """A physician's sign request in flight (the PDF and DICOM objects are rendered, then the signature, the objects
    as blobs + outbox rows and the audit row are written in ONE transaction); the web UI is killed at a random
    moment. Afterwards each report is either signed with all its objects queued and its audit row, or still a draft
    with nothing queued; signing again on the restarted UI completes."""
    from tests.integration.test_reports_ui import make_exam
    n = budget(short=2, full=20)
    t = Tally("signing: SIGKILL web UI during report signing", 8301)
    cart = _cart(tmp_path, "webui", SIGN_TOML)
    cart.add_user(*PHYSICIAN[:1], "physician", PHYSICIAN[1])
    db = _db(cart)
    exams = [make_exam(cart.data, "echo", f"SIGN{i}") for i in range(n + 1)]
    cart.start()
    web = Web(cart.url).login(*PHYSICIAN)
    for eid in exams:  # a draft to sign (the page makes it)
        assert web.get(f"/exams/{eid}/report").status_code == 200
    # calibration: one whole signature on a freshly started UI (cold, like every signature after a restart)
    _kill(cart)
    cart.start()
    t0 = time.monotonic()
    assert web.post(f"/exams/{exams[0]}/report/sign").status_code == 302
    t_sign = time.monotonic() - t0
    _kill(cart)
    cart.start()
    signed_objects: dict[int, int] = {}
    for i, eid in enumerate(exams[1:]):
        in_thread(web.post, f"/exams/{eid}/report/sign")
        time.sleep(t.delay(0.0, 2.0 * t_sign))  # twice: a signature's duration varies with the load
        before = snapshot(db)
        _kill(cart)
        extra = []
        for e in exams:
            status, n_out, n_audit = _sign_state(db, e)
            if status == "signed" and (n_out == 0 or n_audit != 1):
                extra.append(f"exam {e} signed with {n_out} objects queued and {n_audit} audit rows")
            if status != "signed" and (n_out or n_audit):
                extra.append(f"exam {e} not signed but {n_out} objects queued, {n_audit} audit rows")
            if status == "signed":
                signed_objects[e] = n_out
        t.after_kill(cart.data, before, extra)
        cart.start()
    interrupted = [e for e in exams if _sign_state(db, e)[0] != "signed"]
    codes = [web.post(f"/exams/{e}/report/sign").status_code for e in interrupted]
    states = {e: _sign_state(db, e) for e in exams}
    before = snapshot(db)
    cart.stop()
    chk = check_store(cart.data, before)
    done = [e for e, s in states.items() if s[0] == "signed" and s[1] > 0 and s[2] == 1]
    t.record(figures, f"{'yes' if len(done) == len(exams) else 'no'}: {n - len(interrupted)} signatures "
                      f"committed before their kill, {len(interrupted)} interrupted and signed again on restart; "
                      f"{sum(s[1] for s in states.values())} objects queued (a signature took {t_sign:.1f} s)")
    assert not t.problems, t.problems[:5]
    assert not chk.problems, chk.problems[:5]
    assert all(c == 302 for c in codes), codes
    assert len(done) == len(exams), states
    assert all(states[e][1] == k for e, k in signed_objects.items())  # signed earlier: queue unchanged


# --------------------------------------------------------------------------------------------------- (d) export

def _report_jsons(directory: Path, n: int) -> list[Path]:
    from device.reports import serialize
    from device.reports.sample import sample_report
    directory.mkdir(parents=True, exist_ok=True)
    out = []
    for k in range(n):
        p = directory / f"r{k}.json"
        p.write_text(serialize.dumps(sample_report(("echo", "ecg", "perfusion")[k % 3], accession=f"ACC{k:04d}")))
        out.append(p)
    return out


def _device(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "device", *args], cwd=REPO_ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True,
                            env={**os.environ, "CARDIOCART_EXPORT_PASSPHRASE": PASSPHRASE})


def test_sigkill_usb_bundle_and_dicom_export(tmp_path, budget, figures):
    """``export bundle`` (AES zip written to .part, fsynced, renamed, verified) and ``export render --pdf --dicom``
    killed at a random moment: the destination never holds a file under its final name that is incomplete (a
    bundle must verify, a DICOM file must parse with its pixel data, a PDF must end with %%EOF); the rerun completes."""
    import pydicom

    from device.sync.bundle import verify_bundle
    n = budget(short=2, full=20)
    t = Tally("export: SIGKILL USB bundle and PDF/DICOM export", 8401)
    reports = _report_jsons(tmp_path / "reports", 3)
    usb, out = tmp_path / "usb", tmp_path / "out"
    usb.mkdir()
    checked = 0

    def final_files_ok() -> list[str]:
        nonlocal checked
        probs = []
        for p in usb.iterdir():
            if p.name.endswith(".part"):
                continue
            checked += 1
            try:
                verify_bundle(p, PASSPHRASE)
            except Exception as exc:
                probs.append(f"{p.name} looks complete but does not verify: {exc}")
        for p in out.rglob("*") if out.exists() else []:
            if not p.is_file() or p.name.endswith(".part"):
                continue
            checked += 1
            if p.suffix == ".dcm":
                try:
                    ds = pydicom.dcmread(p)
                    ds.get("PixelData") or ds.get("EncapsulatedDocument") or ds.get("ContentSequence")
                except Exception as exc:
                    probs.append(f"{p.name} does not parse: {exc}")
            elif p.suffix == ".pdf" and not p.read_bytes().rstrip().endswith(b"%%EOF"):
                probs.append(f"{p.name} is cut short")
        return probs

    part = usb / ".cart_export.zip.part"

    def part_state():  # the temp file and the final file (a bundle written in place would change the latter)
        out = []
        for p in (part, usb / "cart_export.zip"):
            try:
                st = p.stat()
                out.append((st.st_mtime_ns, st.st_size))
            except OSError:
                out.append(None)
        return tuple(out)

    def bundle():
        return _device("export", "bundle", *map(str, reports), "--to", str(usb), "--name", "cart_export")

    # calibration: how long the bundle takes from its first byte on the drive (temp or final file) to its exit
    # (writing, fsync, rename, verification), and in all
    t0 = time.monotonic()
    b = bundle()
    t_first = None
    while b.poll() is None:
        if t_first is None and part_state() != (None, None):
            t_first = time.monotonic()
        time.sleep(0.002)
    t_total = time.monotonic() - t0
    t_write = max(0.05, time.monotonic() - (t_first or t0))
    (usb / "cart_export.zip").unlink(missing_ok=True)
    for i in range(n):
        stale = part_state()
        b = bundle()
        r = _device("export", "render", str(reports[i % len(reports)]), "--pdf", str(out / f"r{i}.pdf"), "--dicom",
                    str(out / "dicom"))
        # the kill lands a random time after the bundle's temp file is (re)opened: mid-write, mid-verify or after
        deadline = time.monotonic() + 3 * t_total + 10
        while time.monotonic() < deadline and b.poll() is None and part_state() == stale:
            time.sleep(0.002)
        time.sleep(t.delay(0.0, 1.5 * t_write))
        t.kills += 1
        for p in (b, r):
            kill_group(p)
        probs = final_files_ok()
        t.problems += [f"kill {t.kills}: {p}" for p in probs]
        t.intact += not probs
        if part.exists():
            t.mid_write += 1
    # rerun to completion
    b = _device("export", "bundle", *map(str, reports), "--to", str(usb), "--name", "cart_export")
    r = _device("export", "render", str(reports[0]), "--pdf", str(out / "final.pdf"), "--dicom", str(out / "dicom"))
    codes = (b.wait(120), r.wait(120))
    manifest = verify_bundle(usb / "cart_export.zip", PASSPHRASE)
    stale = [p.name for p in usb.iterdir() if p.name.endswith(".part")]
    probs = final_files_ok()
    t.records = checked
    t.record(figures, f"{'yes' if codes == (0, 0) and not stale else 'no'}: rerun wrote and verified a bundle of "
                      f"{len(manifest['files'])} files; {t.mid_write} kills left a .part bundle, "
                      f"{len(stale)} left after the rerun (writing and verifying took {t_write:.2f} s of {t_total:.1f} s)")
    assert not t.problems, t.problems[:5]
    assert not probs, probs
    assert codes == (0, 0)
    assert not stale, stale


# --------------------------------------------------------------------------------------------------- (e) sync

def _orthanc(tmp_path):
    from tests.integration.orthanc import ORTHANC, OrthancProcess, find_dicomweb_plugin
    if not ORTHANC.exists() or find_dicomweb_plugin() is None:
        pytest.skip("needs Debian orthanc and orthanc-dicomweb")
    o = OrthancProcess(tmp_path / "orthanc")
    o.start()
    return o


def _sign_in_process(data_dir: Path, exams: list[int], target: str = "dicomweb") -> None:
    import datetime as dt

    from device.reporting import from_store as fs
    from device.reporting import signing
    from device.reporting.settings import ReportSettings
    from device.store import Store, users
    from device.store.db import Tx
    s = Store.open(data_dir, run_migrations=False)
    try:
        r = s.conn.execute("SELECT id FROM users WHERE username = ?", (PHYSICIAN[0],)).fetchone()
        if r is None:
            with Tx(s.conn):
                doc_id = users.create_user(s.conn, PHYSICIAN[0], "Dr Li", "physician", PHYSICIAN[1]).id
        else:
            doc_id = r[0]
        now = dt.datetime(2026, 11, 22, 9, 30, tzinfo=dt.UTC)
        for eid in exams:
            with Tx(s.conn):
                fs.ensure_draft(s.conn, s.blobs, eid, "en", doc_id, ReportSettings.bundled())
            signing.sign_and_queue(s.conn, s.blobs, eid, signer_id=doc_id, signer_role="physician", signer_name="Dr Li",
                                   now=now, settings=ReportSettings.bundled(), target=target)
    finally:
        s.close()


def _delivery(db: Path, orthanc, proxy) -> tuple[int, list[str]]:
    """(objects sent, problems): every outbox row sent, held by Orthanc once, byte-identical, STOWed once."""
    items = rows(db, "SELECT * FROM outbox ORDER BY id")
    probs = []
    held = orthanc.sop_instance_uids()
    if len(held) != len(set(held)):
        probs.append("Orthanc holds an instance twice")
    for it in items:
        if it["state"] != "sent":
            probs.append(f"outbox {it['id']} is {it['state']} ({it['last_error'][:80]})")
            continue
        n = proxy.stored.get(it["blob_sha256"], 0)
        if n != 1:
            probs.append(f"outbox {it['id']} was stored by {n} STOW requests")
        if it["sop_instance_uid"] not in held:
            probs.append(f"outbox {it['id']} marked sent but Orthanc does not hold it")
    if set(held) != {it["sop_instance_uid"] for it in items}:
        probs.append("Orthanc holds instances the outbox does not know")
    return sum(it["state"] == "sent" for it in items), probs


@pytest.mark.pacs
def test_sigkill_sync_mid_queue_to_orthanc(tmp_path, budget, figures):
    """``python -m device sync`` draining the outbox to a real Orthanc (through a proxy that adds 250 ms per request
    and counts what the PACS acknowledged), killed at random moments; restarted each time. At the end every object is
    held by Orthanc exactly once, byte-identical, and was STOWed exactly once."""
    from tests.integration.test_reports_ui import make_exam
    n = budget(short=2, full=20)
    t = Tally("sync: SIGKILL sync worker mid-queue (DICOMweb to Orthanc)", 8501)
    orthanc = _orthanc(tmp_path)
    proxy = CountingProxy(orthanc.dicomweb_url, delay_s=0.25)
    try:
        cart = _cart(tmp_path, "sync", f'[sync]\ntarget = "dicomweb"\ndicomweb_url = "{proxy.url}"\n'
                                        "retry_initial_s = 1\nretry_max_s = 2\n")
        db = _db(cart)
        k = 0
        for i in range(n):
            pending = rows(db, "SELECT count(*) n FROM outbox WHERE state != 'sent'")[0]["n"]
            if pending < 8:  # new signed reports arrive while the worker is down
                new = [make_exam(cart.data, "echo", f"SYNC{k + j}") for j in range(2)]
                k += 2
                _sign_in_process(cart.data, new)
            cart.start()
            time.sleep(t.delay(0.8, 3.0))
            before = snapshot(db)
            _kill(cart)
            if rows(db, "SELECT count(*) n FROM outbox WHERE state = 'sending'")[0]["n"]:
                t.mid_write += 1  # claimed and not marked: killed mid-send
            t.after_kill(cart.data, before)
        pending = rows(db, "SELECT count(*) n FROM outbox WHERE state != 'sent'")[0]["n"]
        cart.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and rows(db, "SELECT count(*) n FROM outbox WHERE state != 'sent'")[0]["n"]:
            time.sleep(0.3)
        before = snapshot(db)
        cart.stop()
        chk = check_store(cart.data, before)
        sent, probs = _delivery(db, orthanc, proxy)
        for it in rows(db, "SELECT sop_instance_uid, blob_sha256 FROM outbox"):
            data = (cart.data / "blobs" / it["blob_sha256"][:2] / it["blob_sha256"]).read_bytes()
            if orthanc.instance_file(it["sop_instance_uid"]) != data:
                probs.append(f"{it['sop_instance_uid']} differs on Orthanc")
        t.record(figures, f"{'yes' if not probs else 'no'}: {pending} objects pending after the last kill, "
                          f"{sent} sent in all, each STOWed once; {t.mid_write} kills landed mid-send")
    finally:
        proxy.close()
        orthanc.stop()
    assert not t.problems, t.problems[:5]
    assert not chk.problems, chk.problems[:5]
    assert not probs, probs[:5]


# --------------------------------------------------------------------------------------------------- (f) power cut

POWER_TOML = ("[echo]\nhold_s = 0.2\nquality_threshold = 0.3\nclip_s = 1.0\n"
              '[sync]\ntarget = "dicomweb"\ndicomweb_url = "{url}"\nretry_initial_s = 1\nretry_max_s = 2\n')


@pytest.mark.pacs
def test_power_cut_of_the_whole_cart(tmp_path, budget, figures):
    """``python -m device run`` (core capturing and measuring, web UI signing, sync sending to Orthanc) killed all
    at once; then the last write is torn: the WAL is cut at a random offset inside the frames written after its last
    commit (what an unfinished transaction had written, not yet fsynced), and the most recently modified other file
    (a temp blob, a run-state file) is cut at a random offset. The cart must start again and finish its queues."""
    from tests.integration.test_reports_ui import make_exam
    n = budget(short=1, full=10)
    t = Tally("power cut: kill the whole cart, tear the last write", 8601)
    orthanc = _orthanc(tmp_path)
    proxy = CountingProxy(orthanc.dicomweb_url, delay_s=0.05)
    torn: list[str] = []
    wal_tails = 0
    try:
        cart = _cart(tmp_path, "run", POWER_TOML.format(url=proxy.url))
        cart.add_user(PHYSICIAN[0], "physician", PHYSICIAN[1])
        db = _db(cart)
        wal = db.with_name(db.name + "-wal")
        exams = [make_exam(cart.data, "echo", f"PWR{i}") for i in range(n)]
        _sign_in_process(cart.data, exams[:1])
        _new_exam(cart, "echo", "PWR-LIVE")
        web = None
        for i in range(n):
            cart.start()
            if web is None:
                web = Web(cart.url).login(*PHYSICIAN)
            web.get(f"/exams/{exams[i]}/report")
            in_thread(web.post, f"/exams/{exams[i]}/report/sign")
            time.sleep(t.delay(0.5, 7.0))  # the core saves its first clip ~5 s after the UI answers
            before = snapshot(db)
            _kill(cart)
            # the power cut: the unfinished transaction's WAL frames and the last other write are torn
            rng = t.rng
            cut = []
            if wal.exists():
                end = wal_committed_end(wal)
                old, new = truncate_tail(wal, end, rng)
                cut.append(f"WAL {old}->{new} (committed end {end})")
                wal_tails += old > end
            files = [p for p in cart.data.rglob("*") if p.is_file()]
            for kind in (lambda p: p.name.endswith(".part"), lambda p: p.parent.name == "run"):
                cands = [p for p in files if kind(p)]  # the newest temp file (blob, export), the newest run state
                if cands:
                    last = max(cands, key=lambda p: p.stat().st_mtime_ns)
                    old, new = truncate_tail(last, 0, rng)
                    cut.append(f"{last.relative_to(cart.data)} {old}->{new}")
            torn.append("; ".join(cut))
            t.after_kill(cart.data, before)
        # power back: everything resumes
        pending = rows(db, "SELECT count(*) n FROM outbox WHERE state != 'sent'")[0]["n"]
        pending_clips = set(_unmeasured(db))
        cart.start()
        unsigned = [e for e in exams if _sign_state(db, e)[0] != "signed"]
        codes = []
        for e in unsigned:
            web.get(f"/exams/{e}/report")
            codes.append(web.post(f"/exams/{e}/report/sign").status_code)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (rows(db, "SELECT count(*) n FROM outbox WHERE state != 'sent'")[0]["n"]
                                               or pending_clips & set(_unmeasured(db))):
            time.sleep(0.5)
        left_measure = sorted(pending_clips & set(_unmeasured(db)))
        before = snapshot(db)
        cart.stop()
        chk = check_store(cart.data, before)
        sent, probs = _delivery(db, orthanc, proxy)
        t.record(figures, f"{'yes' if not probs and not left_measure else 'no'}: {pending} objects pending at "
                          f"power-on, {sent} sent in all, each STOWed once; {len(unsigned)} interrupted signatures "
                          f"signed again; {len(pending_clips) - len(left_measure)} of {len(pending_clips)} unmeasured "
                          "clips measured")
        _set_note(figures, "power cut: torn writes: ", f"the WAL held frames after its last commit (an unfinished "
                  f"transaction) at {wal_tails} of {t.kills} cuts; per cut: " + " | ".join(torn))
    finally:
        proxy.close()
        orthanc.stop()
    assert not t.problems, t.problems[:5]
    assert not chk.problems, chk.problems[:5]
    assert all(c == 302 for c in codes), codes
    assert not probs, probs[:5]
    assert not left_measure, left_measure


def test_regression_worker_measures_clips_a_killed_core_left(tmp_path, figures):
    """Defect found by test_sigkill_clip_measurement_in_flight: the core's clip-measurement queue lived only in
    memory, so a clip saved just before the core was killed was never measured (the exam showed no LV result for it).
    Now measurements are durable jobs, and a clip saved by a core killed before it queued the job is queued by the
    worker's recovery hook at start: measured once, and a clip already measured is not measured again."""
    from device.config import load_settings
    from device.jobs.worker import run_recovery_hooks, run_until_idle
    from device.services.core import ClipJobs
    from device.services.echo_measure import FINDING_KIND
    from device.domain.live import ClipRecord
    from device.services.live_sink import StoreSink
    from device.store import Store, clinical
    from device.store.db import Tx
    cfg = tmp_path / "cart.toml"
    cfg.write_text(f'[paths]\ndata_dir = "{tmp_path / "var"}"\n')
    settings = load_settings(cfg)
    store = Store.open(settings.data_dir)
    with Tx(store.conn):
        exam = clinical.create_exam(store.conn, clinical.upsert_patient(store.conn, "REG1"), "echo", None)
    sink = StoreSink(store, settings.run_dir)
    frames = np.zeros((6, 48, 64), np.uint8)
    def clip(view):
        return ClipRecord(frames=frames, fps=30.0, view=view, quality_mean=0.9, quality_min=0.9, duration_s=0.2,
                          model_name="echo_view", model_version="t", model_tag="echo_view t")
    left = sink.keep_clip(clip("A4C"))      # the killed core never measured it
    done = sink.keep_clip(clip("A2C"))
    other = sink.keep_clip(clip("A3C"))     # not a measured view
    with Tx(store.conn):
        clinical.add_finding(store.conn, exam.id, done, FINDING_KIND, "measured before the kill", None, "lv_seg", "1",
                             {"status": "refused", "reason": "test"})
    assert run_recovery_hooks(store, settings) == 1       # the worker's start queues the clip nobody queued
    assert run_recovery_hooks(store, settings) == 0       # once
    jobs = ClipJobs(settings)
    jobs.submit(left)                                     # submitted again (as the live loop would) while queued
    assert [j.state for j in run_until_idle(store, settings)] == ["done"]
    jobs.submit(left)                                     # and after it was measured: the job finds the result
    assert [j.result["already"] for j in run_until_idle(store, settings)] == [True]
    jobs.close()
    count = {cid: n for cid, n in store.conn.execute(
        "SELECT capture_id, count(*) FROM findings WHERE kind = ? GROUP BY capture_id", (FINDING_KIND,))}
    store.close()
    assert count == {left: 1, done: 1}, count
    assert other not in count
    figures.note("crash", "Defect found (analysis kills): the core's clip-measurement queue lived only in memory, so "
                          "a clip saved just before the core was killed was never measured. Fixed in "
                          "device/jobs (durable measurement jobs; the worker queues unmeasured clips of open exams at "
                          "start, once); regression test test_crash.py::"
                          "test_regression_worker_measures_clips_a_killed_core_left.")


def test_regression_supervisor_backoff_starts_over_after_a_stable_run(figures):
    """Defect found while killing the children of ``python -m device run``: the supervisor's restart backoff only
    ever grew (2, 4, 8, 16, 30 s) and never went back, so after five crashes, however far apart, every later crash of
    a service left it down for 30 s. A crash loop still backs off; a child that had run for a minute restarts in 2 s."""
    from device.services.supervisor import STABLE_S, Child, restart_delay
    ch = Child("webui")
    now = 1000.0
    loop = []
    for _ in range(6):  # dies 1 s after each start
        ch.started_at = now
        now += 1.0
        d = restart_delay(ch, now)
        loop.append(d)
        now += d
    assert loop == [2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    ch.started_at = now
    now += STABLE_S + 1  # then it ran fine for a while before the next crash
    assert restart_delay(ch, now) == 2.0
    figures.note("crash", "Defect found (SIGKILL of the children of `python -m device run`): the supervisor's restart "
                          "backoff never went back down, so after five crashes, however far apart, every later crash "
                          "left that service down for 30 s. Fixed in device/services/supervisor.py (restart_delay: the "
                          "backoff starts over after a minute of running); regression test test_crash.py::"
                          "test_regression_supervisor_backoff_starts_over_after_a_stable_run.")
