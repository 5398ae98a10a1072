"""End to end: a physician signs exams' reports in a real store (which queues the signed reports' DICOM objects in
the same transaction), and the production outbox (device.services.sync_service.SqliteOutbox) drained by the
SyncWorker delivers them to a real Orthanc over DICOMweb; Orthanc is stopped mid-queue and restarted. Every object
arrives exactly once, byte-identical, and the exam's sync state goes sending -> waiting -> sent."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from device.reporting import exports, signing
from device.reporting import from_store as fs
from device.reporting.settings import ReportSettings
from device.services.sync_service import SqliteOutbox
from device.store import Store, outbox, users
from device.store.db import Tx
from device.sync.dicomweb import DicomWebClient, DicomWebConfig
from device.sync.worker import Backoff, SyncWorker
from tests.integration.orthanc import orthanc  # noqa: F401  (fixture)
from tests.integration.test_reports_ui import make_exam

pytestmark = [pytest.mark.pacs, pytest.mark.slow]


class Clock:
    def __init__(self) -> None:
        self.t = 2_000_000.0

    def __call__(self) -> float:
        return self.t


def test_signed_reports_reach_orthanc_exactly_once_across_a_pacs_restart(orthanc, tmp_path):  # noqa: F811
    data = tmp_path / "var"
    store = Store.open(data)
    with Tx(store.conn):
        doctor = users.create_user(store.conn, "drli", "Dr Li", "physician", "573920")
    exams = [make_exam(data, "echo", "P-ECHO"), make_exam(data, "ecg", "P-ECG")]
    now = dt.datetime(2026, 11, 22, 9, 30, tzinfo=dt.UTC)
    queued = []
    for eid in exams:
        with Tx(store.conn):
            fs.ensure_draft(store.conn, store.blobs, eid, "en", doctor.id, ReportSettings.bundled())
        _, doc, objs = signing.sign_and_queue(store.conn, store.blobs, eid, signer_id=doctor.id, signer_role="physician",
                                              signer_name=doctor.display_name, now=now,
                                              settings=ReportSettings.bundled(), target="dicomweb")
        assert doc.signed and objs
        queued += objs
        assert signing.sync_summary(store.conn, eid).state == "sending"
    items = outbox.items(store.conn, "dicomweb")
    assert len(items) == len(queued) == 7   # echo: pdf, sc, sr, ecg waveform; ecg: pdf, sc, waveform

    # rebuilding a signed report gives the same UIDs: queueing it again adds nothing
    _, doc = exports.export_version(store.conn, store.blobs, exams[0])
    from device.reports.pdf import render_pdf
    again = exports.exam_objects(store.conn, store.blobs, exams[0], doc, render_pdf(doc))
    with Tx(store.conn):
        for o in again:
            sha = store.blobs.put(o.to_bytes())
            assert not outbox.enqueue(store.conn, exams[0], "dicomweb", o.kind, o.sop_instance_uid, sha)

    clock = Clock()
    client = DicomWebClient(DicomWebConfig(orthanc.dicomweb_url, timeout_s=5))
    worker = SyncWorker(SqliteOutbox(store, "dicomweb", clock=clock), client,
                        backoff=Backoff(initial_s=2, max_s=30, jitter=0), clock=clock, rng=random.Random(0))
    assert [worker.step().result for _ in range(3)] == ["sent"] * 3

    orthanc.stop()                                     # the PACS goes away mid-queue
    o = worker.step()
    assert o.result == "retry" and o.retry_at == clock.t + 2
    assert worker.step() is None                       # pausing, not hammering the PACS
    assert "waiting" in {signing.sync_summary(store.conn, e).state for e in exams}
    clock.t += 1
    assert worker.step() is None
    orthanc.start()
    clock.t += 5
    results = [o.result for o in worker.drain()]
    assert results and set(results) <= {"sent", "already_held"}
    assert worker.drain() == []

    held = orthanc.sop_instance_uids()
    assert len(held) == len(set(held)) == len(items)                  # exactly once
    assert set(held) == {i.sop_instance_uid for i in items}           # nothing lost
    for i in outbox.items(store.conn, "dicomweb"):
        assert i.state == "sent"
        assert orthanc.instance_file(i.sop_instance_uid) == store.blobs.get(i.blob_sha256)
    assert {signing.sync_summary(store.conn, e).state for e in exams} == {"sent"}
    store.close()
