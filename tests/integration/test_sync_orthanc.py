"""PACS sync against a real Orthanc: send, stop Orthanc mid-queue, restart it on the same storage, and check
every object arrives exactly once and byte-identical; a PACS answering errors."""

from __future__ import annotations

import random
import threading
import time

import pytest

from device.reports.dicom.exam import build_report_objects
from device.reports.model import sign
from device.reports.pdf import render_pdf
from device.reports.sample import sample_report
from device.sync.dicomweb import DicomWebClient, DicomWebConfig
from device.sync.memory_outbox import MemoryOutbox
from device.sync.worker import Backoff, SyncWorker
from tests.integration.orthanc import OrthancProcess, orthanc  # noqa: F401  (fixture)

pytestmark = [pytest.mark.pacs, pytest.mark.slow]


class Counting:
    """Wraps a target and counts successful sends per SOP Instance UID."""

    def __init__(self, inner):
        self.inner, self.name = inner, inner.name
        self.sent: dict[str, int] = {}

    def send(self, data, study_uid, sop_uid):
        self.inner.send(data, study_uid, sop_uid)
        self.sent[sop_uid] = self.sent.get(sop_uid, 0) + 1

    def holds(self, study_uid, sop_uid):
        return self.inner.holds(study_uid, sop_uid)


def _objects():
    now = sample_report().exam.exam_datetime
    objs = []
    for i, kind in enumerate(("echo", "ecg", "perfusion")):
        d = sign(sample_report(kind, accession=f"ACC{i:04d}"), "Dr. Roe", now)
        objs += build_report_objects(d, render_pdf(d))
    return objs


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_stop_mid_queue_restart_exactly_once(orthanc):  # noqa: F811
    objs = _objects()
    clock = Clock()
    box = MemoryOutbox(clock)
    for o in objs:
        box.enqueue(o.study_uid, o.sop_instance_uid, o.to_bytes())
    target = Counting(DicomWebClient(DicomWebConfig(orthanc.dicomweb_url, timeout_s=5)))
    w = SyncWorker(box, target, backoff=Backoff(initial_s=2, max_s=30, jitter=0), clock=clock,
                   rng=random.Random(0))
    first = w.drain(max_items=4)
    assert [o.result for o in first] == ["sent"] * 4

    orthanc.kill()  # the PACS dies mid-queue
    results = []
    for _ in range(3):
        o = w.step()
        results.append(o.result)
        assert w.step() is None  # pausing, not hammering
        clock.t = o.retry_at
    assert results == ["retry"] * 3
    assert sum(1 for s in box.states().values() if s == "sent") == 4

    orthanc.start()  # same storage directory
    clock.t += 60
    rest = w.drain()
    assert {o.result for o in rest} <= {"sent", "already_held"}
    assert set(box.states().values()) == {"sent"}
    held = orthanc.sop_instance_uids()
    assert sorted(held) == sorted(o.sop_instance_uid for o in objs)  # all there, none twice
    assert all(n == 1 for n in target.sent.values()) and len(target.sent) == len(objs)
    for o in objs:
        assert orthanc.instance_file(o.sop_instance_uid) == o.to_bytes()  # nothing altered or lost

    # re-export of the same exam: same UIDs, nothing new on the PACS
    again = _objects()
    assert [o.sop_instance_uid for o in again] == [o.sop_instance_uid for o in objs]


def test_worker_thread_rides_out_a_restart(orthanc):  # noqa: F811
    objs = _objects()
    box = MemoryOutbox()
    for o in objs:
        box.enqueue(o.study_uid, o.sop_instance_uid, o.to_bytes())
    target = Counting(DicomWebClient(DicomWebConfig(orthanc.dicomweb_url, timeout_s=3)))
    w = SyncWorker(box, target, backoff=Backoff(initial_s=0.2, max_s=1.0, jitter=0.1))
    stop = threading.Event()
    orthanc.kill()
    t = threading.Thread(target=w.run, args=(stop, 0.05), daemon=True)
    t.start()
    time.sleep(1.0)
    assert not any(s == "sent" for s in box.states().values())
    orthanc.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and set(box.states().values()) != {"sent"}:
        time.sleep(0.1)
    stop.set()
    t.join(10)
    assert set(box.states().values()) == {"sent"}
    assert sorted(orthanc.sop_instance_uids()) == sorted(o.sop_instance_uid for o in objs)
    assert all(n == 1 for n in target.sent.values())


def test_pacs_answering_errors(tmp_path):
    try:
        pacs = OrthancProcess(tmp_path / "o", users={"cart": "right-password"})
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    pacs.start()
    try:
        objs = _objects()[:2]
        clock = Clock()
        box = MemoryOutbox(clock)
        for o in objs:
            box.enqueue(o.study_uid, o.sop_instance_uid, o.to_bytes())
        bad_id = box.enqueue(objs[0].study_uid, "2.25.999", b"this is not DICOM")
        wrong = DicomWebClient(DicomWebConfig(pacs.dicomweb_url, username="cart", password="wrong", timeout_s=5))
        w = SyncWorker(box, wrong, backoff=Backoff(initial_s=5, max_s=60, jitter=0), clock=clock)
        o = w.step()
        assert o.result == "retry" and "credentials" in o.error
        assert pacs.sop_instance_uids() == []
        right = DicomWebClient(DicomWebConfig(pacs.dicomweb_url, username="cart", password="right-password",
                                              timeout_s=5))
        w.target = right
        clock.t += 100
        out = w.drain()
        by_result = {x.sop_uid: x.result for x in out}
        assert by_result["2.25.999"] == "rejected"
        row = box.rows[bad_id]
        assert row.state == "failed" and row.retry_at is None and row.data == b"this is not DICOM"
        assert sorted(pacs.sop_instance_uids()) == sorted(o.sop_instance_uid for o in objs)
    finally:
        pacs.stop()


def test_cli_send_is_idempotent(orthanc, tmp_path):  # noqa: F811
    import subprocess
    import sys

    from device.paths import REPO_ROOT
    from device.reports.dicom.exam import write_objects
    paths = write_objects(_objects()[:3], tmp_path)

    def send(*files):
        return subprocess.run([sys.executable, "-m", "device", "export", "send", *map(str, files), "--url",
                               orthanc.dicomweb_url], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    r = send(*paths)
    assert r.returncode == 0 and "sent 3, already on the PACS 0" in r.stdout
    r = send(*paths)
    assert r.returncode == 0 and "sent 0, already on the PACS 3" in r.stdout
    assert len(orthanc.sop_instance_uids()) == 3
    (tmp_path / "junk.dcm").write_bytes(b"junk")
    r = send(tmp_path / "junk.dcm")
    assert r.returncode == 2 and r.stderr.startswith("error: ") and len(r.stderr.splitlines()) == 1
    orthanc.stop()
    r = send(*paths)
    assert r.returncode == 2 and "unreachable" in r.stderr and len(r.stderr.splitlines()) == 1
