"""Issue 18 part 1: one coherent measurement set per echo exam. The reproduced bugs: an A4C EDV edited on clip 5
and an ESV from a later clip's automatic measurement met in one report (EF 54.74 % though (63.41-25.08)/63.41 is
60.4 %); with two PLAX clips, editing the second changed the values shown under the first. These tests store the
values the way the clip measurement does (``echo_measure._store_values``) and read the report's rows."""

from __future__ import annotations

import pytest

from device.errors import InputError
from device.reporting import from_store
from device.reporting.echo_sections import echo_rows, measurement_set
from device.reporting.settings import ReportSettings
from device.services import echo_measure as em
from device.store import Store, clinical
from device.store.db import Tx

TABLE = ReportSettings.bundled().case_table
DETAIL = {"model_name": "lv_seg", "model_version": "test"}


def _exam(store: Store) -> clinical.Exam:
    with Tx(store.conn):
        p = clinical.upsert_patient(store.conn, "COH0001", "Test Patient", "M")
        return clinical.create_exam(store.conn, p, "echo", None, ["A4C", "PLAX"])


def _clip(store: Store, exam: clinical.Exam, view: str, values: dict[str, float], quality: float = 0.8) -> int:
    """A saved clip of ``view`` and its automatic values, stored as the clip measurement stores them."""
    with Tx(store.conn):
        cid = clinical.add_capture(store.conn, store.blobs, exam.id, "clip", b"clip", "application/octet-stream",
                                   label=view, quality=quality).id
        em._store_values(store.conn, exam, cid, values, DETAIL, (3, 11), "auto", None, TABLE)
    return cid


def _apical(edv: float, esv: float, pre: str = "a4c") -> dict[str, float]:
    return {f"{pre}_edv_ml": edv, f"{pre}_esv_ml": esv, f"{pre}_sv_ml": edv - esv,
            f"{pre}_ef_pct": 100 * (edv - esv) / edv}


def _user(store: Store) -> int:
    with Tx(store.conn):
        return int(store.conn.execute("INSERT INTO users(username, display_name, role, pin_hash) "
                                      "VALUES ('sono', 'Sono', 'sonographer', 'x')").lastrowid)


def _report(store: Store, exam: clinical.Exam) -> dict[str, object]:
    return {r.name: r for r in echo_rows(store.conn, clinical.get_exam(store.conn, exam.id), TABLE)}


def test_edit_survives_a_later_clip_and_ef_follows_edv_esv_of_the_same_clip(tmp_path):
    store = Store.open(tmp_path)
    exam = _exam(store)
    uid = _user(store)
    first = _clip(store, exam, "A4C", _apical(70.0, 31.0), quality=0.7)
    edv_row = _report(store, exam)["a4c_edv_ml"]
    with Tx(store.conn):                                                  # the sonographer corrects EDV on clip 1
        from_store.review_measurement(store.conn, exam.id, edv_row.measurement_id, uid, 63.41)
    _clip(store, exam, "A4C", _apical(58.0, 25.08), quality=0.95)         # a later, better clip, automatic
    rep = _report(store, exam)
    assert {r.capture_id for n, r in rep.items() if n.startswith("a4c_")} == {first}   # one clip for the view
    assert rep["a4c_edv_ml"].value == pytest.approx(63.41) and rep["a4c_edv_ml"].source == "edited"
    assert rep["a4c_esv_ml"].value == pytest.approx(31.0)                 # not the later clip's 25.08
    assert rep["a4c_sv_ml"].value == pytest.approx(63.41 - 31.0, abs=1e-3)
    assert rep["a4c_ef_pct"].value == pytest.approx(100 * (63.41 - 31.0) / 63.41, abs=1e-3)


def test_ef_recomputed_when_esv_is_edited_and_derived_values_are_not_typed_over(tmp_path):
    store = Store.open(tmp_path)
    exam = _exam(store)
    uid = _user(store)
    _clip(store, exam, "A4C", _apical(100.0, 50.0))
    rep = _report(store, exam)
    with Tx(store.conn):
        from_store.review_measurement(store.conn, exam.id, rep["a4c_esv_ml"].measurement_id, uid, 40.0)
    rep = _report(store, exam)
    assert rep["a4c_ef_pct"].value == pytest.approx(60.0) and rep["a4c_sv_ml"].value == pytest.approx(60.0)
    assert rep["a4c_ef_pct"].source == "edited"
    with Tx(store.conn), pytest.raises(InputError, match="computed from"):
        from_store.review_measurement(store.conn, exam.id, rep["a4c_ef_pct"].measurement_id, uid, 70.0)


def test_two_plax_clips_keep_their_own_values_and_the_pick_decides(tmp_path):
    store = Store.open(tmp_path)
    exam = _exam(store)
    uid = _user(store)
    a = _clip(store, exam, "PLAX", {"lvidd_mm": 50.0, "lvids_mm": 32.0, "ivsd_mm": 9.0}, quality=0.9)
    b = _clip(store, exam, "PLAX", {"lvidd_mm": 46.0, "lvids_mm": 30.0, "ivsd_mm": 10.0}, quality=0.6)
    rows = echo_rows(store.conn, clinical.get_exam(store.conn, exam.id), TABLE, all_clips=True)
    of = {(r.capture_id, r.name): r for r in rows}
    assert of[(a, "lvidd_mm")].chosen and not of[(b, "lvidd_mm")].chosen   # the better clip is reported
    with Tx(store.conn):                                                   # edit the SECOND clip
        from_store.review_measurement(store.conn, exam.id, of[(b, "ivsd_mm")].measurement_id, uid, 11.5)
    rows = echo_rows(store.conn, clinical.get_exam(store.conn, exam.id), TABLE, all_clips=True)
    of = {(r.capture_id, r.name): r for r in rows}
    assert of[(a, "ivsd_mm")].value == pytest.approx(9.0)                  # the first clip's value is untouched
    assert of[(b, "ivsd_mm")].value == pytest.approx(11.5)
    assert of[(b, "lvidd_mm")].chosen and of[(b, "lvidd_mm")].value == pytest.approx(46.0)  # reviewed clip wins
    with Tx(store.conn):                                                   # the sonographer's pick wins over both
        clinical.pick_measurement_clip(store.conn, exam.id, "PLAX", a, uid)
    ms = measurement_set(store.conn, exam.id)
    assert ms.chosen["plax"] == a and ms.why["plax"] == "picked"


def test_a_typed_lv_value_without_a_clip_is_reported(tmp_path):
    store = Store.open(tmp_path)
    exam = _exam(store)
    with Tx(store.conn):
        clinical.add_measurement(store.conn, exam.id, None, "a4c_ef_pct", 41.0, "%", "", "", source="manual")
    rep = _report(store, exam)
    assert rep["a4c_ef_pct"].value == pytest.approx(41.0) and rep["a4c_ef_pct"].capture_id is None
    _clip(store, exam, "A4C", _apical(100.0, 50.0))                 # an automatic clip does not replace it
    assert _report(store, exam)["a4c_ef_pct"].value == pytest.approx(41.0)
