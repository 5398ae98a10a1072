"""C-STORE target against a pynetdicom Storage + Find SCP on 127.0.0.1, driven by the outbox worker."""

from __future__ import annotations

import io
import random
import socket

import pydicom
import pytest
from pynetdicom import AE, evt
from pynetdicom.sop_class import (ComprehensiveSRStorage, EncapsulatedPDFStorage, SecondaryCaptureImageStorage,
                                  StudyRootQueryRetrieveInformationModelFind, Verification)

from device.errors import ConfigError
from device.reports.dicom.exam import build_report_objects
from device.reports.pdf import render_pdf
from device.reports.sample import sample_report
from device.sync.cstore import CStoreConfig, CStoreTarget
from device.sync.errors import PacsRejected, PacsUnavailable
from device.sync.memory_outbox import MemoryOutbox
from device.sync.worker import Backoff, SyncWorker


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Scp:
    def __init__(self):
        self.store: dict[str, bytes] = {}
        self.stores = 0
        self.refuse_status = 0
        self.port = _free_port()
        ae = AE(ae_title="TESTPACS")
        for cx in (EncapsulatedPDFStorage, SecondaryCaptureImageStorage, ComprehensiveSRStorage, Verification):
            ae.add_supported_context(cx)
        ae.add_supported_context(StudyRootQueryRetrieveInformationModelFind)
        self.ae = ae
        self.server = None

    def start(self):
        self.server = self.ae.start_server(("127.0.0.1", self.port), block=False, evt_handlers=[
            (evt.EVT_C_STORE, self._on_store), (evt.EVT_C_FIND, self._on_find)])

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server = None

    def _on_store(self, event):
        if self.refuse_status:
            return self.refuse_status
        ds = event.dataset
        ds.file_meta = event.file_meta
        buf = io.BytesIO()
        ds.save_as(buf, enforce_file_format=True)
        self.store[ds.SOPInstanceUID] = buf.getvalue()
        self.stores += 1
        return 0x0000

    def _on_find(self, event):
        q = event.identifier
        for uid in self.store:
            if uid == q.SOPInstanceUID:
                r = pydicom.Dataset()
                r.QueryRetrieveLevel = "IMAGE"
                r.SOPInstanceUID = uid
                yield 0xFF00, r
        yield 0x0000, None


@pytest.fixture()
def scp():
    s = Scp()
    s.start()
    yield s
    s.stop()


def _objs():
    d = sample_report("echo")
    return build_report_objects(d, render_pdf(d))


def test_cstore_worker_with_outage(scp):
    objs = _objs()
    t = [0.0]
    box = MemoryOutbox(lambda: t[0])
    for o in objs:
        box.enqueue(o.study_uid, o.sop_instance_uid, o.to_bytes())
    target = CStoreTarget(CStoreConfig("127.0.0.1", scp.port, "TESTPACS", timeout_s=5))
    w = SyncWorker(box, target, backoff=Backoff(initial_s=1, max_s=5, jitter=0), clock=lambda: t[0],
                   rng=random.Random(0))
    assert [o.result for o in w.drain(max_items=2)] == ["sent", "sent"]
    scp.stop()
    o = w.step()
    assert o.result == "retry"
    scp.start()
    t[0] += 10
    out = w.drain()
    assert {o.result for o in out} <= {"sent", "already_held"}
    assert set(box.states().values()) == {"sent"}
    assert sorted(scp.store) == sorted(o.sop_instance_uid for o in objs)
    assert scp.stores == len(objs)  # each object stored once
    ds = pydicom.dcmread(io.BytesIO(scp.store[objs[0].sop_instance_uid]))
    assert ds.StudyInstanceUID == objs[0].study_uid


def test_cstore_holds_and_refusal(scp):
    o = _objs()[1]
    target = CStoreTarget(CStoreConfig("127.0.0.1", scp.port, "TESTPACS", timeout_s=5))
    assert not target.holds(o.study_uid, o.sop_instance_uid)
    target.send(o.to_bytes(), o.study_uid, o.sop_instance_uid)
    assert target.holds(o.study_uid, o.sop_instance_uid)
    scp.refuse_status = 0xA700
    with pytest.raises(PacsRejected, match="A700"):
        target.send(_objs()[2].to_bytes(), o.study_uid, "x")


def test_cstore_unreachable_and_bad_config():
    with pytest.raises(PacsUnavailable):
        CStoreTarget(CStoreConfig("127.0.0.1", _free_port(), "NOBODY", timeout_s=2)).holds("1", "2")
    with pytest.raises(ConfigError):
        CStoreConfig("127.0.0.1", 104, "A" * 17)
