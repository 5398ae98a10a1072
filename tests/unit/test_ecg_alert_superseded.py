"""A critical alert from an earlier ECG reading that a correction no longer raises is resolved as superseded."""

from __future__ import annotations

from device.store import Store, clinical
from device.store.db import Tx
from device.usecases.alerts import resolve_superseded, waiting_count


def test_correction_resolves_only_the_alerts_it_no_longer_raises(tmp_path):
    store = Store.open(tmp_path)
    c = store.conn
    with Tx(c):
        p = clinical.upsert_patient(c, "ECG00001", "Alert Test", "F")
        exam = clinical.create_exam(c, p, "ecg", None, [])
        other = clinical.create_exam(c, p, "ecg", None, [])
        a_qtc = clinical.add_alert(c, exam.id, "critical", "qtc_long", "QTc 728 ms", {"capture_id": 11})
        a_hr = clinical.add_alert(c, exam.id, "critical", "hr_low", "HR 30", {"capture_id": 11})
        a_other_cap = clinical.add_alert(c, exam.id, "critical", "qtc_long", "QTc 700", {"capture_id": 99})
        a_other_exam = clinical.add_alert(c, other.id, "critical", "qtc_long", "QTc 700", {"capture_id": 11})
    assert waiting_count(c)[0] == 4
    with Tx(c):
        done = resolve_superseded(c, exam.id, 11, 12, {"hr_low"}, None)
    assert done == [a_qtc]
    a = clinical.get_alert(c, a_qtc)
    assert a is not None and a.acknowledged_at is not None
    assert a.detail["resolved"] == "superseded" and a.detail["superseded_by_capture"] == 12
    for i in (a_hr, a_other_cap, a_other_exam):
        still = clinical.get_alert(c, i)
        assert still is not None and still.acknowledged_at is None
    assert waiting_count(c)[0] == 3
