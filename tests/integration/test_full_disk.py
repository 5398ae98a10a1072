"""A full disk: the write is refused with a clear message, nothing half-written appears, stored data stays intact,
and the live sink keeps running and raises an alert instead of crashing."""

from __future__ import annotations

import errno
import hashlib
import os

import numpy as np
import pytest

from device.errors import UserError
from device.domain.live import ClipRecord
from device.services.live_sink import StoreSink
from device.store import Store, clinical
from device.store.db import Tx, integrity_check


@pytest.fixture()
def store(tmp_path):
    s = Store.open(tmp_path / "var")
    yield s
    s.close()


def _disk_full(monkeypatch):
    import device.fsutil as fsutil
    real_fdopen = os.fdopen

    class FullFile:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *a):
            self.f.close()

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fsutil.os, "fdopen", lambda fd, mode="r", *a, **k: FullFile(real_fdopen(fd, mode, *a, **k)))


def test_full_disk_refuses_with_clear_message_and_keeps_what_was_stored(store, tmp_path, monkeypatch):
    p = clinical.upsert_patient(store.conn, "DISK1")
    e = clinical.create_exam(store.conn, p, "echo", None)
    with Tx(store.conn):
        first = clinical.add_capture(store.conn, store.blobs, e.id, "photo", b"first photo", "image/png")
    _disk_full(monkeypatch)
    with pytest.raises(UserError, match="disk is full"):
        with Tx(store.conn):
            clinical.add_capture(store.conn, store.blobs, e.id, "photo", b"second photo", "image/png")
    monkeypatch.undo()
    assert [c.id for c in clinical.list_captures(store.conn, e.id)] == [first.id]
    assert integrity_check(store.conn) == "ok"
    assert store.blobs.get(first.blob_sha256) == b"first photo"
    leftovers = [q for q in (tmp_path / "var" / "blobs").rglob("*") if q.is_file()]
    assert [q.name for q in leftovers] == [first.blob_sha256]  # no temp file, no half-written blob
    assert hashlib.sha256(leftovers[0].read_bytes()).hexdigest() == first.blob_sha256


def test_live_sink_survives_a_full_disk_and_says_so(store, tmp_path, monkeypatch):
    p = clinical.upsert_patient(store.conn, "DISK2")
    clinical.create_exam(store.conn, p, "echo", None)
    sink = StoreSink(store, tmp_path / "run")
    _disk_full(monkeypatch)
    frames = np.zeros((5, 32, 32), np.uint8)
    clip = ClipRecord(frames=frames, fps=30.0, view="A4C", quality_mean=0.9, quality_min=0.9, duration_s=0.13,
                      model_name="echo_view", model_version="1", model_tag="echo_view 1")
    assert sink.keep_clip(clip) is None
    monkeypatch.undo()
    events = clinical.events_after(store.conn, 0)
    assert events and events[-1]["kind"] == "alert" and "disk is full" in events[-1]["payload"]["text"]
    assert clinical.list_captures(store.conn, clinical.active_exam(store.conn).id) == []
