"""The job API the pages follow: GET /api/jobs/<id> (JSON) and /api/jobs/<id>/events (SSE) for an ECG read queued
by an upload; login required; the web request only queues (the reading exists once the worker has run)."""

from __future__ import annotations

import io
import json

import numpy as np

from device.store import Store, clinical
from device.store.db import Tx
from tests.integration.conftest import run_jobs_in


def _printout() -> bytes:
    import cv2

    from device.sim import ecg_paper
    rng = np.random.default_rng(5)
    page = ecg_paper.render(ecg_paper.synthetic_ecg(rng, hr_bpm=80), rng=rng)
    return cv2.imencode(".jpg", cv2.cvtColor(page.image, cv2.COLOR_RGB2BGR))[1].tobytes()


def _events(body: bytes) -> list[tuple[str, dict]]:
    out = []
    for block in body.decode().split("\n\n"):
        lines = dict(ln.split(": ", 1) for ln in block.splitlines() if ": " in ln)
        if "event" in lines:
            out.append((lines["event"], json.loads(lines["data"])))
    return out


def test_ecg_read_job_json_and_sse(app, login, settings):
    s = Store.open(settings.data_dir)
    with Tx(s.conn) as c:
        eid = clinical.create_exam(c, clinical.upsert_patient(c, "J0001", "Job, Test", "M"), "ecg", None).id
    ui = login("sono", "sonographer")
    r = ui.post(f"/exams/{eid}/ecg/upload", {"photo": (io.BytesIO(_printout()), "ecg.jpg"), "source": "upload"},
                content_type="multipart/form-data", headers={"Accept": "application/json"})
    assert r.status_code == 202, r.data[:300]
    body = r.get_json()
    job_id = body["job_id"]
    assert body["events"] == f"/api/jobs/{job_id}/events" and body["status"] == f"/api/jobs/{job_id}"
    # the request only stored the photo and queued the read
    assert [cp.kind for cp in clinical.list_captures(s.conn, eid)] == ["photo"]
    j = ui.get(f"/api/jobs/{job_id}").get_json()
    assert (j["state"], j["progress"], j["kind"], j["exam_id"], j["result"]) == ("queued", 0.0, "ecg.read", eid, None)
    assert _events(ui.get(f"/api/jobs/{job_id}/events").data) == [("progress", j)]       # until SSE_MAX_S
    html = ui.get(f"/exams/{eid}/ecg?job={job_id}").data.decode()
    assert f'data-events="/api/jobs/{job_id}/events"' in html                            # the page follows it
    assert f'data-events="/api/jobs/{job_id}/events"' in ui.get(f"/exams/{eid}").data.decode()   # and the exam page

    assert [x.state for x in run_jobs_in(settings)] == ["done"]                           # the worker's part
    j = ui.get(f"/api/jobs/{job_id}").get_json()
    sig = [cp for cp in clinical.list_captures(s.conn, eid) if cp.kind == "signal"]
    assert j["state"] == "done" and j["progress"] == 1.0 and j["result"]["signal_capture_id"] == sig[0].id
    ev = _events(ui.get(f"/api/jobs/{job_id}/events").data)
    assert [e for e, _ in ev] == ["done"] and ev[0][1]["result"]["version"] == 1
    assert 'data-events="' not in ui.get(f"/exams/{eid}/ecg?job={job_id}").data.decode()   # nothing left to follow

    assert ui.get("/api/jobs/999999").status_code == 404
    assert ui.get("/api/jobs/999999/events").status_code == 404
    anon = app.test_client()
    r = anon.get(f"/api/jobs/{job_id}")
    assert r.status_code in (302, 401) and b"signal_capture_id" not in r.data
    assert b"signal_capture_id" not in anon.get(f"/api/jobs/{job_id}/events").data
    s.close()
