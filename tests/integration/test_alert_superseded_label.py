"""The alert list labels an alert a correction resolved as superseded (issue 18 point 3), apart from one a person
acknowledged, in English and Chinese."""

from __future__ import annotations

from device.store import Store, clinical
from device.store.db import Tx
from device.usecases.alerts import resolve_superseded


def test_superseded_alert_is_labelled_in_the_list(login, settings, make_user):
    uid = make_user("doc2", "physician", "573920").id
    s = Store.open(settings.data_dir)
    try:
        with Tx(s.conn) as c:
            p = clinical.upsert_patient(c, "E0077", "Sup, Alert", "F", "1960-01-01")
            exam = clinical.create_exam(c, p, "ecg", None)
            old = clinical.add_capture(c, s.blobs, exam.id, "signal", b"a", "application/octet-stream", "v1")
            new = clinical.add_capture(c, s.blobs, exam.id, "signal", b"b", "application/octet-stream", "v2")
            sup = clinical.add_alert(c, exam.id, "critical", "ecg_qtc_long", "QTc 728 ms (Bazett) > 500 ms",
                                     {"capture_id": old.id})
            acked = clinical.add_alert(c, exam.id, "critical", "ecg_hr_low", "heart rate 35/min < 40",
                                       {"capture_id": new.id})
            assert resolve_superseded(c, exam.id, old.id, new.id, set(), uid) == [sup]
            clinical.acknowledge_alert(c, acked, uid)
    finally:
        s.close()
    ui = login()
    html = ui.get("/alerts?all=1").data.decode()
    row = html[html.index(f'id="alert-{sup}"'):]
    row = row[:row.index("</tr>")]
    assert 'data-resolved="superseded"' in row and "superseded by a later reading" in row
    assert f'data-superseded-by="{new.id}"' in row
    other = html[html.index(f'id="alert-{acked}"'):]
    other = other[:other.index("</tr>")]
    assert "superseded" not in other and 'data-acknowledged="1"' in other
    assert ui.post("/lang/zh-CN", {}).status_code in (200, 302)
    zh = ui.get("/alerts?all=1").data.decode()
    assert "被后续读数取代" in zh
