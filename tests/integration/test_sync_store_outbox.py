"""The production path: the store's SQLite outbox (device.services.sync_service.SqliteOutbox) drained by the
SyncWorker into a real Orthanc, with Orthanc killed mid-queue and restarted; plus a worker killed between STOW and
mark_sent. Every object arrives exactly once and byte-identical."""

from __future__ import annotations

import dataclasses
import random

import pytest

from device.reports.dicom.exam import build_report_objects
from device.reports.model import sign
from device.reports.pdf import render_pdf
from device.reports.sample import sample_report
from device.sync.dicomweb import DicomWebClient, DicomWebConfig
from device.sync.worker import Backoff, SyncWorker
from tests.integration.orthanc import orthanc  # noqa: F401  (fixture)

pytestmark = [pytest.mark.pacs, pytest.mark.slow]

store_mod = pytest.importorskip("device.store")
outbox_repo = pytest.importorskip("device.store.outbox")
clinical = pytest.importorskip("device.store.clinical")
blobs_mod = pytest.importorskip("device.store.blobs")
sync_service = pytest.importorskip("device.services.sync_service")


class Clock:
    def __init__(self):
        self.t = 1_000_000.0

    def __call__(self):
        return self.t


def _queue(store, clock):
    """Two exams in the store, each with its report objects written as blobs and queued for 'dicomweb'."""
    from device.store.db import Tx
    objs = []
    for i, kind in enumerate(("echo", "perfusion")):
        with Tx(store.conn) as conn:
            p = clinical.upsert_patient(conn, f"PID-{i}", "Doe^Jane", "F", "1960-05-17")
            exam = clinical.create_exam(conn, p, kind, None)
        d = sample_report(kind, accession=exam.accession)
        d = dataclasses.replace(d, exam=dataclasses.replace(d.exam, study_uid=exam.study_uid))
        d = sign(d, "Dr. Roe", d.exam.exam_datetime)
        built = build_report_objects(d, render_pdf(d))
        with Tx(store.conn) as conn:
            for o in built:
                sha = blobs_mod.put_blob(conn, store.blobs, o.to_bytes(), "application/dicom")
                assert outbox_repo.enqueue(conn, exam.id, "dicomweb", o.kind, o.sop_instance_uid, sha)
                assert not outbox_repo.enqueue(conn, exam.id, "dicomweb", o.kind, o.sop_instance_uid, sha)
        objs += built
    return objs


def test_store_outbox_survives_pacs_and_worker_deaths(orthanc, tmp_path):  # noqa: F811
    store = store_mod.Store.open(tmp_path / "var")
    clock = Clock()
    objs = _queue(store, clock)
    box = sync_service.SqliteOutbox(store, "dicomweb", clock=clock)
    client = DicomWebClient(DicomWebConfig(orthanc.dicomweb_url, timeout_s=5))
    w = SyncWorker(box, client, backoff=Backoff(initial_s=2, max_s=30, jitter=0), clock=clock,
                   rng=random.Random(0))
    assert [o.result for o in w.drain(max_items=2)] == ["sent", "sent"]

    # the worker dies after the PACS stored an object but before mark_sent
    item = box.claim_next()
    client.send(item.data, item.study_uid, item.sop_uid)
    w2 = SyncWorker(sync_service.SqliteOutbox(store, "dicomweb", clock=clock), client,
                    backoff=Backoff(initial_s=2, max_s=30, jitter=0), clock=clock)

    orthanc.kill()
    o = w2.step()
    assert o.result == "retry"
    orthanc.start()
    clock.t += 120
    results = [o.result for o in w2.drain()]
    assert "already_held" in results and set(results) <= {"sent", "already_held"}

    rows = outbox_repo.items(store.conn, "dicomweb")
    assert {r.state for r in rows} == {"sent"} and len(rows) == len(objs)
    assert sorted(orthanc.sop_instance_uids()) == sorted(o.sop_instance_uid for o in objs)
    for o in objs:
        assert orthanc.instance_file(o.sop_instance_uid) == o.to_bytes()
    store.close()
