"""Clip view labels (migration 0003): confirm or correct in one touch; only labelled clips teach the cart."""

from __future__ import annotations

import pytest

from device.errors import UserError
from device.store import Store, clinical
from device.store.clip_labels import confirmed_clips, labels_for_exam, set_label


@pytest.fixture()
def store(tmp_path):
    s = Store.open(tmp_path)
    yield s
    s.close()


def test_confirm_then_correct_and_only_labelled_clips_teach(store):
    c = store.conn
    p = clinical.upsert_patient(c, "P0001")
    e = clinical.create_exam(c, p, "echo", None, ["A4C", "PLAX"])
    a4c = clinical.add_capture(c, store.blobs, e.id, "clip", b"clip-1", "application/x-test", label="A4C")
    plax = clinical.add_capture(c, store.blobs, e.id, "clip", b"clip-2", "application/x-test", label="PLAX")
    frame = clinical.add_capture(c, store.blobs, e.id, "frame", b"png", "image/png", label="A4C")
    assert confirmed_clips(c) == []                       # saved but not yet confirmed: teaches nothing
    lab = set_label(c, a4c.id, "A4C", None, "sono")
    assert (lab.view, lab.saved_view, lab.state) == ("A4C", "A4C", "confirmed")
    lab = set_label(c, a4c.id, "A2C", None, "sono")     # a later touch corrects it; one row per clip
    assert (lab.view, lab.saved_view, lab.state) == ("A2C", "A4C", "corrected")
    got = confirmed_clips(c)
    assert [(x.capture_id, x.view, x.patient_id) for x in got] == [(a4c.id, "A2C", "P0001")]
    assert set(labels_for_exam(c, e.id)) == {a4c.id} and plax.id not in labels_for_exam(c, e.id)
    with pytest.raises(UserError, match="unknown view"):
        set_label(c, plax.id, "A9C", None, "sono")
    with pytest.raises(UserError, match="no echo clip"):
        set_label(c, frame.id, "A4C", None, "sono")


def test_a_lower_numbered_migration_that_landed_later_is_still_applied(tmp_path):
    """0002 (jobs) and 0003 (clip labels) were written concurrently: a database at 0003 without 0002 gets 0002."""
    from device.store.db import connect, migrate

    db = tmp_path / "cardiocart.sqlite3"
    migrate(db)
    c = connect(db)
    c.execute("DROP TABLE jobs")
    c.execute("DELETE FROM schema_migrations WHERE version = 2")
    c.close()
    assert migrate(db) == [2]
    c = connect(db)
    assert c.execute("SELECT count(*) FROM jobs").fetchone()[0] == 0
    assert {r[0] for r in c.execute("SELECT version FROM schema_migrations")} >= {1, 2, 3}
    c.close()
