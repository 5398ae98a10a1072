"""Caliper intervals stored as a person's edit, audited, and a critical QTc alert resolved when the edit removes it."""

from __future__ import annotations

import pytest

from device.ecg.calipers import Calipers
from device.errors import UserError
from device.store import Store, clinical
from device.store.db import Tx
from device.usecases.ecg_calipers import save_calipers


def test_calipers_saved_as_edit_audited_and_alert_resolved(tmp_path):
    store = Store.open(tmp_path)
    c = store.conn
    with Tx(c):
        uid = c.execute("INSERT INTO users(username, display_name, role, pin_hash) VALUES "
                        "('cal', 'Cal User', 'physician', 'x')").lastrowid
        p = clinical.upsert_patient(c, "ECG00002", "Caliper Test", "M")
        exam = clinical.create_exam(c, p, "ecg", None, [])
        cap = clinical.add_capture(c, store.blobs, exam.id, "signal", b"x", "application/octet-stream", "12-lead v1")
        for name, v in (("rr_ms", 1000.0), ("qt_ms", 728.0), ("qtc_bazett_ms", 728.0), ("qrs_ms", 90.0)):
            clinical.add_measurement(c, exam.id, cap.id, name, v, "ms", "ecg_reader", "1")
        a = clinical.add_alert(c, exam.id, "critical", "ecg_qtc_long", "QTc 728 ms", {"capture_id": cap.id})
    iv = save_calipers(c, exam.id, cap.id, Calipers(-0.2, -0.04, 0.06, 0.36), "bazett", (uid, "cal"))
    assert (iv.qt_ms, iv.qtc_ms, iv.qtc_formula) == (pytest.approx(400.0), pytest.approx(400.0), "bazett")
    cur = {m.name: m for m in clinical.current_measurements(c, exam.id)}
    assert cur["qt_ms"].value == pytest.approx(400.0) and cur["qt_ms"].source == "edited"
    assert cur["qt_ms"].edited_by == uid and cur["qtc_bazett_ms"].value == pytest.approx(400.0)
    assert cur["pr_ms"].value == pytest.approx(160.0) and cur["qrs_ms"].value == pytest.approx(100.0)
    alert = clinical.get_alert(c, a)
    assert alert is not None and alert.detail.get("resolved") == "superseded" and alert.acknowledged_by == uid
    row = c.execute("SELECT detail FROM audit_log WHERE object_type = 'ecg_calipers'").fetchone()
    assert row is not None and '"formula": "bazett"' in row[0]
    with pytest.raises(UserError, match="T end"):
        save_calipers(c, exam.id, cap.id, Calipers(-0.2, -0.04, 0.06, 0.03), "bazett", (uid, "cal"))
