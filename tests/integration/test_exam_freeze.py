"""Issue 18 part 1: measurements freeze when the exam is closed (sent for signing) or its report is signed. A clip
measurement that finishes after that (the job was queued while the exam was open) is stored kept aside, with its
values in the finding, and applies nothing: no measurement row, no biplane, the report's set unchanged."""

from __future__ import annotations

import pytest

from device.services import echo_measure as em
from device.store import Store, clinical, reports, users
from device.store.db import Tx
from tests.integration.test_echo_measure import TABLE, _add_clip, _exam, a4c_clip, needs_model  # noqa: F401

pytestmark = needs_model


def _rows(store: Store, exam_id: int) -> list[tuple[int, str, float, str]]:
    return [(m.id, m.name, m.value, m.source) for m in clinical.all_measurements(store.conn, exam_id)]


def test_a_clip_measured_after_close_or_signing_is_kept_aside(tmp_path, a4c_clip):  # noqa: F811
    from device.reporting.echo_sections import measurement_set
    frames, mmpp, bbox, _ = a4c_clip
    meta = {"mm_per_px": mmpp, "sector_bbox": bbox}
    store = Store.open(tmp_path)
    exam = _exam(store)
    first = _add_clip(store, exam.id, frames[:12], "A4C", meta)
    res = em.measure_capture(store.conn, store.blobs, first, table=TABLE)
    assert res.clips[0].status == "measured" and res.clips[0].measurement_ids
    before, chosen = _rows(store, exam.id), measurement_set(store.conn, exam.id).chosen
    assert chosen["a4c"] == first

    second = _add_clip(store, exam.id, frames[2:14], "A4C", meta)     # saved while open, measured after closing
    with Tx(store.conn):
        clinical.close_exam(store.conn, exam.id)
    res = em.measure_capture(store.conn, store.blobs, second, table=TABLE)
    out = res.clips[0]
    assert out.status == "kept_aside" and out.measurement_ids == () and res.biplane == {}
    assert "closed" in out.reason and out.values["a4c_ef_pct"] > 0       # the result is kept, with its numbers
    geo = em.geometry_findings(store.conn, exam.id)[second]
    assert geo["detail"]["status"] == "kept_aside" and geo["detail"]["values"] == out.values
    assert _rows(store, exam.id) == before                                 # nothing applied
    assert measurement_set(store.conn, exam.id).chosen == chosen

    doc = users.create_user(store.conn, "drli", "Dr Li", "physician", "573920")
    with Tx(store.conn):
        reports.save_draft(store.conn, exam.id, {"sections": []}, doc.id)
        reports.sign(store.conn, exam.id, doc.id, "physician")
    third = _add_clip(store, exam.id, frames[4:16], "A4C", meta)       # a late job after signing: kept aside too
    out = em.measure_capture(store.conn, store.blobs, third, table=TABLE).clips[0]
    assert out.status == "kept_aside" and "signed" in out.reason
    assert _rows(store, exam.id) == before
    store.close()


def test_frozen_reason_follows_close_and_sign(tmp_path):
    store = Store.open(tmp_path)
    exam = _exam(store)
    assert em.frozen_reason(store.conn, exam) is None
    with Tx(store.conn):
        clinical.close_exam(store.conn, exam.id)
    assert "closed" in (em.frozen_reason(store.conn, exam) or "")
    from device.errors import UserError
    from device.usecases.echo_exam import enqueue_exam_measurement
    with pytest.raises(UserError, match="frozen"):                      # the Measure button of a closed exam
        enqueue_exam_measurement(store.conn, exam.id, False, (None, "sono"))
    assert store.conn.execute("SELECT count(*) FROM jobs").fetchone()[0] == 0
    store.close()
