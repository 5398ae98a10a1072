"""Store intervals a person measured with the calipers on a reading's median beat (issue 18 point 3).

The intervals come from ``device.ecg.calipers.intervals_from_calipers`` (a quick pure function, fine in a
request); they are stored as that person's edit (source ``edited``, ``edited_by``) superseding the reading's
current PR/QRS/QT/QTc, with the caliper positions and the QTc formula in the audit row, in one transaction.
Critical alerts of the reading that the edited values no longer raise are resolved as superseded.
"""

from __future__ import annotations

import sqlite3

from device.ecg.calipers import CaliperError, Calipers, Intervals, intervals_from_calipers
from device.errors import UserError
from device.store import audit, clinical
from device.store.db import Tx
from device.usecases.alerts import resolve_superseded
from device.usecases.ecg_reading import UNITS, critical_alerts

CALIPER_MODEL = ("ecg_calipers", "1")  # the person's measurement, recorded with the tool that computed it


def save_calipers(conn: sqlite3.Connection, exam_id: int, capture_id: int, cal: Calipers, formula: str,
                  user: tuple[int, str]) -> Intervals:
    """Recompute the intervals from ``cal`` and store them as ``user``'s edit of reading ``capture_id``.
    UserError (one line) when the reading has no heart rate or the calipers are out of order."""
    current = {m.name: m for m in clinical.current_measurements(conn, exam_id) if m.capture_id == capture_id}
    rr = current.get("rr_ms")
    if rr is None:
        raise UserError("this reading has no RR interval, so QTc cannot be computed; read the photo again")
    try:
        iv = intervals_from_calipers(cal, rr.value, formula)
    except CaliperError as e:
        raise UserError(str(e)) from None
    values = {"pr_ms": iv.pr_ms, "qrs_ms": iv.qrs_ms, "qt_ms": iv.qt_ms,
              f"qtc_{formula}_ms": iv.qtc_ms}
    with Tx(conn):
        for name, v in values.items():
            if v is None:
                continue
            o = current.get(name)
            clinical.add_measurement(conn, exam_id, capture_id, name, round(float(v), 1), UNITS[name], CALIPER_MODEL[0],
                                     CALIPER_MODEL[1], source="edited", edited_by=user[0],
                                     supersedes=o.id if o else None)
        now = {n: m.value for n, m in current.items()} | {k: v for k, v in values.items() if v is not None}
        still = {code for code, _ in critical_alerts(now)}
        resolved = resolve_superseded(conn, exam_id, capture_id, capture_id, still, user[0])
        open_codes = {a.code for a in clinical.alerts(conn, limit=500) if a.exam_id == exam_id}
        for code, msg in critical_alerts(now):
            if code not in open_codes:
                clinical.add_alert(conn, exam_id, "critical", code, msg,
                                   {"capture_id": capture_id, "model": CALIPER_MODEL[0]})
        audit.record(conn, user_id=user[0], username=user[1], action="edit", object_type="ecg_calipers",
                     object_id=capture_id,
                     detail={"exam_id": exam_id, "formula": formula, "resolved_alerts": resolved,
                             "calipers_s": [cal.p_onset_s, cal.qrs_onset_s, cal.qrs_offset_s, cal.t_end_s],
                             **{k: None if v is None else round(v, 1) for k, v in values.items()}})
    return iv

