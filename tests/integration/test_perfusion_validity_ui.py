"""Issue 13: a brain-like or kidney-like volume uploaded to the perfusion page is refused with the reason; the upload
is kept, but no bullseye, measurement or finding is stored."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest

from device.sim import ood_volumes as ov
from device.store import Store, clinical
from device.store.db import Tx


def _exam(data_dir, pid: str) -> int:
    s = Store.open(data_dir)
    try:
        with Tx(s.conn) as c:
            p = clinical.upsert_patient(c, pid, "Li, Wei", "F", "1960-01-02")
            return clinical.create_exam(c, p, "perfusion", None).id
    finally:
        s.close()


def _wait(ui, exam_id: int, location: str, timeout_s: float = 120.0) -> dict:
    from tests.integration.conftest import run_jobs_in
    job_id = location.split("job=")[1]
    run_jobs_in(ui.c.application.config["CARDIOCART_SETTINGS"])    # the worker role's part (E5: analysis is a job)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        j = ui.get(f"/exams/{exam_id}/perfusion/jobs/{job_id}").get_json()
        if j["state"] in ("done", "error"):
            return j
        time.sleep(0.2)
    raise AssertionError("the perfusion job did not finish")


@pytest.mark.parametrize("organ,pid", [("brain", "P0101"), ("kidneys", "P0102")])
def test_other_organ_upload_is_refused(app, login, settings, organ, pid):
    eid = _exam(settings.data_dir, pid)
    ui = login("sono", "sonographer")
    buf = io.BytesIO()
    np.savez_compressed(buf, stress=ov.VOLUMES[organ](np.random.default_rng(3)), voxel_mm=np.array([3.2] * 3))
    r = ui.post(f"/exams/{eid}/perfusion/upload", {"stress": (io.BytesIO(buf.getvalue()), "study.npz")},
                content_type="multipart/form-data")
    assert r.status_code == 302
    j = _wait(ui, eid, r.location)
    assert j["state"] == "error" and "no left ventricle" in j["message"], j
    s = Store.open(settings.data_dir)
    try:
        caps = clinical.list_captures(s.conn, eid)
        assert sorted(c.kind for c in caps) == ["document", "volume"]  # the upload and the refusal, no frame
        assert [c.meta.get("status") for c in caps if c.kind == "document"] in (["error"], ["failed"])
        assert not s.conn.execute("SELECT 1 FROM measurements m JOIN captures c ON c.id = m.capture_id "
                                  "WHERE c.exam_id = ?", (eid,)).fetchall()
        assert not s.conn.execute("SELECT 1 FROM findings WHERE exam_id = ?", (eid,)).fetchall()
    finally:
        s.close()


def test_refusal_names_no_server_path(app, login, settings):
    """A damaged .npy upload is read from a temp folder of the worker: the message names the file, not the path."""
    eid = _exam(settings.data_dir, "P0103")
    ui = login("sono", "sonographer")
    bad = b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (4, 4, 4), }" + b" " * 50
    r = ui.post(f"/exams/{eid}/perfusion/upload", {"stress": (io.BytesIO(bad), "v.npy"), "voxel_mm": "3"},
                content_type="multipart/form-data")
    j = _wait(ui, eid, r.location)
    assert j["state"] == "error" and j["message"], j
    assert "/tmp" not in j["message"] and "perf-" not in j["message"] and str(settings.data_dir) not in j["message"]
