"""Store: migrations, WAL, repository functions, triggers, blobs, outbox idempotence, lock-out."""

from __future__ import annotations

import sqlite3

import pytest

from device.errors import UserError
from device.store import Store, audit, clinical, outbox, reports, users
from device.store.db import available_migrations, current_version, integrity_check, migrate


@pytest.fixture()
def store(tmp_path):
    s = Store.open(tmp_path)
    yield s
    s.close()


def test_migrations_apply_once_and_db_is_wal_with_foreign_keys(tmp_path, store):
    assert current_version(store.conn) == available_migrations()[-1][0]
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert migrate(store.db_path) == []  # idempotent
    with pytest.raises(sqlite3.IntegrityError):
        store.conn.execute("INSERT INTO exams(patient_ref, kind, accession, study_uid) VALUES (999, 'echo', 'a', 'b')")
    assert integrity_check(store.conn) == "ok"


def test_pin_rules_and_lockout(store):
    for bad in ("1234", "111111", "123456", "654321", "12ab56"):
        with pytest.raises(UserError):
            users.create_user(store.conn, "x", "X", "admin", bad)
    u = users.create_user(store.conn, "sono1", "Sono", "sonographer", "482913")
    with pytest.raises(UserError, match="already exists"):
        users.create_user(store.conn, "SONO1", "Sono", "sonographer", "482913")
    r = users.authenticate(store.conn, "sono1", "000001", max_attempts=3, lockout_s=300, now=1000)
    assert r.reason == "wrong_pin" and r.attempts_left == 2
    users.authenticate(store.conn, "sono1", "000001", max_attempts=3, lockout_s=300, now=1001)
    r = users.authenticate(store.conn, "sono1", "000001", max_attempts=3, lockout_s=300, now=1002)
    assert r.reason == "locked"
    # even the right PIN is refused while locked (30 s after the 3rd failure: a short backoff, issue 13), and
    # accepted after it
    assert users.authenticate(store.conn, "sono1", "482913", max_attempts=3, lockout_s=300, now=1020).reason == "locked"
    ok = users.authenticate(store.conn, "sono1", "482913", max_attempts=3, lockout_s=300, now=1040)
    assert ok.user is not None and ok.user.id == u.id
    assert "482913" not in store.conn.execute("SELECT pin_hash FROM users").fetchone()[0]


def test_barcode_patient_id_and_exam(store):
    p = clinical.upsert_patient(store.conn, "  A12345\r\n", "Zhang San", "M", "1960-02-03")
    assert p.patient_id == "A12345"
    with pytest.raises(UserError):
        clinical.upsert_patient(store.conn, "<script>")
    e = clinical.create_exam(store.conn, p, "echo", None, ["PLAX", "A4C"])
    e2 = clinical.create_exam(store.conn, p, "echo", None)
    assert e.accession != e2.accession and e.study_uid != e2.study_uid
    assert clinical.get_exam(store.conn, e.id).protocol == ("PLAX", "A4C")


def test_capture_blob_is_content_addressed_and_verified(store):
    p = clinical.upsert_patient(store.conn, "P1")
    e = clinical.create_exam(store.conn, p, "echo", None)
    c = clinical.add_capture(store.conn, store.blobs, e.id, "clip", b"pixels" * 100, "video/x-npz", "A4C", 0.8)
    path = store.blobs.path_for(c.blob_sha256)
    assert path.read_bytes() == b"pixels" * 100 and path.parent.name == c.blob_sha256[:2]
    path.write_bytes(b"tampered")
    assert not store.blobs.verify(c.blob_sha256)


def test_measurement_edit_supersedes_and_nan_refused(store):
    p = clinical.upsert_patient(store.conn, "P2")
    e = clinical.create_exam(store.conn, p, "echo", None)
    mid = clinical.add_measurement(store.conn, e.id, None, "ef_pct", 55.0, "%", "lv_seg", "1.0", [3, 12])
    clinical.add_measurement(store.conn, e.id, None, "ef_pct", 52.0, "%", "lv_seg", "1.0", [3, 12], source="edited",
                             supersedes=mid)
    cur = clinical.current_measurements(store.conn, e.id)
    assert [(m.value, m.source) for m in cur] == [(52.0, "edited")]
    with pytest.raises(UserError):
        clinical.add_measurement(store.conn, e.id, None, "edv_ml", float("nan"), "mL", "lv_seg", "1.0")


def test_signed_report_is_immutable_and_correction_is_new_version(store):
    u = users.create_user(store.conn, "doc", "Doc", "physician", "246813")
    s = users.create_user(store.conn, "son", "Son", "sonographer", "246813")
    p = clinical.upsert_patient(store.conn, "P3")
    e = clinical.create_exam(store.conn, p, "echo", None)
    reports.save_draft(store.conn, e.id, {"text": "v1"}, s.id)
    with pytest.raises(UserError, match="physician"):
        reports.sign(store.conn, e.id, s.id, s.role)
    v1 = reports.sign(store.conn, e.id, u.id, u.role)
    with pytest.raises(sqlite3.IntegrityError, match="immutable"):
        store.conn.execute("UPDATE reports SET content = '{}' WHERE id = ?", (v1.id,))
    with pytest.raises(sqlite3.IntegrityError, match="immutable"):
        store.conn.execute("DELETE FROM reports WHERE id = ?", (v1.id,))
    v2 = reports.save_draft(store.conn, e.id, {"text": "v2"}, u.id)
    assert (v2.version, v2.status) == (2, "draft")
    assert [v.content["text"] for v in reports.versions(store.conn, e.id)] == ["v1", "v2"]


def test_audit_log_is_append_only(store):
    audit.record(store.conn, user_id=None, username="system", action="view", object_type="exam", object_id=1)
    with pytest.raises(sqlite3.IntegrityError):
        store.conn.execute("DELETE FROM audit_log")
    assert audit.recent(store.conn)[0].action == "view"


def test_outbox_never_queues_a_uid_twice_and_resumes_sending_items(store):
    p = clinical.upsert_patient(store.conn, "P4")
    e = clinical.create_exam(store.conn, p, "echo", None)
    from device.store.blobs import put_blob
    sha = put_blob(store.conn, store.blobs, b"dicom", "application/dicom")
    assert outbox.enqueue(store.conn, e.id, "pacs", "sc", "1.2.3", sha)
    assert not outbox.enqueue(store.conn, e.id, "pacs", "sc", "1.2.3", sha)
    item = outbox.claim_next(store.conn, "pacs", now=10)
    assert item.state == "sending" and item.attempts == 1
    # a worker killed mid-send leaves it 'sending': it is claimed again
    again = outbox.claim_next(store.conn, "pacs", now=11)
    assert again.id == item.id and again.attempts == 2
    outbox.mark_failed(store.conn, item.id, "PACS down", retry_at=100)
    assert outbox.claim_next(store.conn, "pacs", now=50) is None
    assert outbox.claim_next(store.conn, "pacs", now=100).id == item.id
    outbox.mark_sent(store.conn, item.id)
    assert outbox.claim_next(store.conn, "pacs", now=1000) is None
    assert outbox.exam_sync_state(store.conn, e.id) == {"sent": 1}


def test_stale_temp_files_of_killed_writes_are_removed_but_fresh_ones_kept(tmp_path):
    import os
    import time

    from device.fsutil import atomic_write_bytes, remove_stale_parts
    done = atomic_write_bytes(tmp_path / "blobs" / "ab" / "abc", b"complete")
    old = tmp_path / "blobs" / "ab" / ".abd.x1y2.part"
    old.write_bytes(b"half")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    fresh = tmp_path / "blobs" / "cd" / ".cde.z9.part"
    fresh.parent.mkdir(parents=True)
    fresh.write_bytes(b"being written")
    assert remove_stale_parts(tmp_path) == 1
    assert not old.exists() and fresh.exists() and done.read_bytes() == b"complete"
