"""An ECG photo read and an echo clip measurement run as jobs in the real worker role (``python -m device worker``),
report progress, survive a SIGKILL of the worker in the middle of each job, and take effect exactly once.

The ECG photo is stored and queued the way the web UI does it (device.usecases.ecg_reading); the clip is saved and
queued the way the core does it (ClipJobs). The test watches the jobs table from outside, kills the
worker's process group once the job it is running has reported progress past its first step (so the kill lands
inside the analysis, not before or after it), checks the job was left 'running', starts the worker again and waits
for both jobs to finish. Then: each job is done after 2 attempts, the photo has exactly one reading (one signal
capture, one set of measurements and findings, one audit row) and the clip exactly one LV result (one geometry
finding, no repeated measurement); the progress seen from outside rose through values between 0 and 1.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from device.paths import REPO_ROOT

CLIP_MEDIA = "application/x-cardiocart-clip+npz"
MID_JOB = 0.15          # progress past the first step: the job is inside its analysis


def _rows(db: Path, sql: str, *args) -> list[sqlite3.Row]:
    c = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    c.row_factory = sqlite3.Row
    try:
        return c.execute(sql, args).fetchall()
    finally:
        c.close()


def _start_worker(cfg: Path, log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "device", "--config", str(cfg), "worker"], cwd=REPO_ROOT,
                            stdout=open(log, "a"), stderr=subprocess.STDOUT, start_new_session=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(30)


def _watch(db: Path, run: int, trace: dict[int, list], job_id: int, until, timeout_s: float = 180.0) -> None:
    """Poll every job's row (every 20 ms) into ``trace[job] = [(run, state, progress), ...]`` (changes only) until
    ``until(state, progress)`` holds for ``job_id``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for r in _rows(db, "SELECT id, state, progress FROM jobs"):
            seen = trace.setdefault(r["id"], [])
            now = (run, r["state"], float(r["progress"]))
            if not seen or seen[-1] != now:
                seen.append(now)
        _, st, p = trace[job_id][-1]
        if until(st, p):
            return
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} did not get there in {timeout_s} s: {trace[job_id][-5:]}")


def _printout() -> bytes:
    import cv2

    from device.sim import ecg_paper
    rng = np.random.default_rng(3)
    page = ecg_paper.render(ecg_paper.synthetic_ecg(rng, hr_bpm=72), rng=rng)
    ok, enc = cv2.imencode(".jpg", cv2.cvtColor(page.image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return enc.tobytes()


def _sim_clip():
    """20 frames (480x360, 20 fps, 75/min) of a simulated A4C view: one the LV checks accept (measured, not refused)."""
    from device.sim.echo_probe import Segment, SimulatedProbe
    probe = SimulatedProbe(script=(Segment("A4C", approach_s=0.05, hold_s=10, leave_s=0.05),), size=(480, 360),
                           fps=20, hr_bpm=75, seed=5)
    shots = [probe.next() for _ in range(22)][2:]
    return np.stack([s[0] for s in shots]), shots[-1][1]


def test_ecg_read_and_clip_measurement_survive_sigkill_of_the_worker_and_finish_once(tmp_path):
    from device.config import load_settings
    from device.services.core import ClipJobs
    from device.services.live_sink import encode_clip
    from device.store import Store, clinical
    from device.store.db import Tx
    from device.usecases import ecg_reading

    cfg = tmp_path / "cart.toml"
    cfg.write_text(f'[paths]\ndata_dir = "{tmp_path / "var"}"\n')
    settings = load_settings(cfg)
    store = Store.open(settings.data_dir)
    db = store.db_path
    with Tx(store.conn) as c:
        ecg = clinical.create_exam(c, clinical.upsert_patient(c, "K0001", "Kill, Test", "F"), "ecg", None)
        echo = clinical.create_exam(c, clinical.upsert_patient(c, "K0002", "Kill, Echo", "M"), "echo", None)
    # the web UI's part: store the photo, queue the read
    photo = ecg_reading.store_photo(store.conn, store.blobs, ecg, _printout(), "upload", "ecg.jpg", (None, "sono"))
    read_id = ecg_reading.enqueue_read(store.conn, ecg, photo, (None, "sono"))
    # the core's part: the live loop saves a clip (as its sink does), the core queues its measurement (ClipJobs)
    frames, truth = _sim_clip()
    with Tx(store.conn):
        clip_id = clinical.add_capture(store.conn, store.blobs, echo.id, "clip", encode_clip(frames, 20.0), CLIP_MEDIA,
                                       "A4C", float(truth.quality),
                                       {"mm_per_px": float(truth.mm_per_px), "fps": 20.0, "colour": "RGB",
                                        "sector_bbox": [int(v) for v in truth.sector_bbox]}).id
    clip_jobs = ClipJobs(settings)
    measure_id = clip_jobs.submit(clip_id, echo.id)
    assert clip_jobs.submit(clip_id, echo.id) == measure_id       # queued again by mistake: still one job
    clip_jobs.close()
    assert [r["state"] for r in _rows(db, "SELECT state FROM jobs ORDER BY id")] == ["queued", "queued"]

    log = tmp_path / "worker.log"
    trace: dict[int, list] = {}
    kill_at = {}
    t0 = time.monotonic()
    for run, job_id in enumerate((read_id, measure_id)):   # the worker takes them in order: kill it inside each
        proc = _start_worker(cfg, log)
        try:
            _watch(db, run, trace, job_id, lambda st, p: st == "running" and MID_JOB <= p < 1.0)
        finally:
            _kill(proc)
        row = _rows(db, "SELECT state, progress, attempts FROM jobs WHERE id = ?", job_id)[0]
        kill_at[job_id] = (run, float(row["progress"]))
        assert row["state"] == "running" and row["attempts"] == 1, dict(row)     # killed mid-job, left running
    proc = _start_worker(cfg, log)                       # (the second run above already resumed the ECG read)
    try:
        for job_id in (read_id, measure_id):
            _watch(db, 2, trace, job_id, lambda st, p: st in ("done", "failed"))
    finally:
        _kill(proc)
    elapsed = time.monotonic() - t0

    jobs = {r["id"]: r for r in _rows(db, "SELECT * FROM jobs")}
    assert len(jobs) == 2
    for job_id in (read_id, measure_id):
        j = jobs[job_id]
        assert (j["state"], j["progress"], j["attempts"], j["error"]) == ("done", 1.0, 2, None), \
            (dict(j), log.read_text()[-3000:])
        later = [(st, p) for run, st, p in trace[job_id] if run > kill_at[job_id][0]]
        restart = next(i for i, (_, p) in enumerate(later) if p == 0.0)      # recovery put it back to 0
        after = [p for st, p in later[restart:] if st == "running" and 0 < p < 1]
        assert len(set(after)) >= 2 and after == sorted(after), trace[job_id]   # started over, rose to the end

    # the ECG read: exactly one reading of the photo, complete, the job's result naming it
    res = json.loads(jobs[read_id]["result"])
    sigs = _rows(db, "SELECT id, meta FROM captures WHERE exam_id = ? AND kind = 'signal'", ecg.id)
    assert [s["id"] for s in sigs] == [res["signal_capture_id"]]
    assert json.loads(sigs[0]["meta"])["job_id"] == read_id
    names = [r["name"] for r in _rows(db, "SELECT name FROM measurements WHERE exam_id = ?", ecg.id)]
    assert len(names) == len(set(names)) and "hr_bpm" in names
    hr = _rows(db, "SELECT value FROM measurements WHERE exam_id = ? AND name = 'hr_bpm'", ecg.id)[0]["value"]
    assert abs(hr - 72) < 3
    assert sorted(r["kind"] for r in _rows(db, "SELECT kind FROM findings WHERE exam_id = ?", ecg.id)) == \
        ["ecg_screen", "rhythm"]
    assert len(_rows(db, "SELECT id FROM audit_log WHERE object_type = 'ecg_reading' AND action = 'create'")) == 1

    # the clip: exactly one LV result, its numbers stored once
    res = json.loads(jobs[measure_id]["result"])
    geo = _rows(db, "SELECT id, detail FROM findings WHERE capture_id = ? AND kind = 'lv_geometry'", clip_id)
    assert [g["id"] for g in geo] == [res["finding_id"]]
    status = json.loads(geo[0]["detail"])["status"]
    assert status == res["status"] == "measured", res
    names = [r["name"] for r in _rows(db, "SELECT name FROM measurements WHERE capture_id = ?", clip_id)]
    assert sorted(names) == ["a4c_edv_ml", "a4c_ef_pct", "a4c_esv_ml", "a4c_sv_ml"]      # each stored once
    store.close()
    print(f"\nkill test: ECG read killed at progress {kill_at[read_id][1]:.2f}, clip measurement at "
          f"{kill_at[measure_id][1]:.2f}; both finished once after a restart ({elapsed:.1f} s in all); "
          f"(run, state, progress): read {trace[read_id]}, clip {trace[measure_id]}; clip {status}")
