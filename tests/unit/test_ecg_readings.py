"""ECG readings (issue 18 point 3): one reading per photo (its corrections are versions of it), a serial recording
its own; the report uses the picked reading, else the newest, and only its current version's values."""

from __future__ import annotations

from device.reporting.ecg_readings import PICK_VIEW, excluded_signal_ids, readings, report_reading
from device.reporting.ecg_sections import reading_measurements
from device.store import Store, clinical, users
from device.store.db import Tx

MEDIA = "application/octet-stream"


def test_readings_group_versions_by_photo_and_the_report_uses_one(tmp_path):
    s = Store.open(tmp_path)
    try:
        with Tx(s.conn) as c:
            u = users.create_user(c, "sono", "Sono Wu", "sonographer", "482913")
            exam = clinical.create_exam(c, clinical.upsert_patient(c, "R0001", "Read, Ings", "F"), "ecg", None)

            def cap(kind, data, meta):
                return clinical.add_capture(c, s.blobs, exam.id, kind, data, MEDIA, kind, None, meta)
            p1 = cap("photo", b"p1", {"filename": "IMG_1.jpg", "label": ""})
            a1 = cap("signal", b"a1", {"photo_capture_id": p1.id, "version": 1})
            p2 = cap("photo", b"p2", {"filename": "IMG_2.jpg", "label": "after exercise"})
            b1 = cap("signal", b"b1", {"photo_capture_id": p2.id, "version": 1})
            a2 = cap("signal", b"a2", {"photo_capture_id": p1.id, "version": 2, "supersedes_capture": a1.id})
            for cp, qt in ((a1, 400.0), (b1, 450.0), (a2, 410.0)):
                clinical.add_measurement(c, exam.id, cp.id, "qt_ms", qt, "ms", "ecg_reader", "1")
        rs = readings(s.conn, exam.id)
        assert [(r.key, r.label, r.signal_ids, r.current.id, r.version) for r in rs] == [
            (p1.id, "IMG_1.jpg", (a1.id, a2.id), a2.id, 2), (p2.id, "after exercise", (b1.id,), b1.id, 1)]
        choice = report_reading(s.conn, exam.id)
        assert choice.reading.key == p2.id and choice.how == "newest" and choice.n_readings == 2
        assert excluded_signal_ids(s.conn, exam.id) == {a1.id, a2.id}
        assert [m.value for m in reading_measurements(s.conn, exam.id)] == [450.0]

        with Tx(s.conn) as c:   # a person picks the first photo's reading: its newest version, not v1
            clinical.pick_measurement_clip(c, exam.id, PICK_VIEW, p1.id, u.id)
        choice = report_reading(s.conn, exam.id)
        assert choice.reading.key == p1.id and choice.how == "picked" and choice.picked_by == "Sono Wu"
        assert excluded_signal_ids(s.conn, exam.id) == {a1.id, b1.id}
        assert [m.value for m in reading_measurements(s.conn, exam.id)] == [410.0]

        with Tx(s.conn) as c:   # a person's caliper edit on the chosen reading: the report names who made it
            old = next(m for m in clinical.current_measurements(c, exam.id) if m.capture_id == a2.id)
            clinical.add_measurement(c, exam.id, a2.id, "qt_ms", 430.0, "ms", "ecg_calipers", "1", source="edited",
                                     edited_by=u.id, supersedes=old.id)
        from device.reporting.ecg_sections import ecg_sections
        from device.reporting.settings import ReportSettings
        for lang, text in (("en", "re-digitised or edited by Sono Wu"), ("zh-CN", "由 Sono Wu 校正或修改")):
            secs, _ = ecg_sections(s.conn, s.blobs, clinical.get_exam(s.conn, exam.id), ReportSettings.bundled(), lang)
            qt = [m for sec in secs for m in sec.measurements if m.name == "qt_ms"]
            assert len(qt) == 1 and qt[0].value == 430.0 and text in qt[0].interpretation
            assert "IMG_1.jpg" in secs[0].title and not secs[0].measurements          # which reading, first

        with Tx(s.conn) as c:   # a serial recording is a reading of its own; the pick still holds
            ser = clinical.add_capture(c, s.blobs, exam.id, "signal", b"s", MEDIA, "serial ECG", None,
                                       {"port": "/dev/ttyACM0", "version": 1})
        rs = readings(s.conn, exam.id)
        assert rs[-1].key == ser.id and rs[-1].label == "serial ECG /dev/ttyACM0" and rs[-1].photo_capture_id is None
        assert report_reading(s.conn, exam.id).reading.key == p1.id
    finally:
        s.close()


def test_no_readings_no_choice(tmp_path):
    s = Store.open(tmp_path)
    try:
        with Tx(s.conn) as c:
            exam = clinical.create_exam(c, clinical.upsert_patient(c, "R0002", "No, Read", "M"), "ecg", None)
            clinical.add_capture(c, s.blobs, exam.id, "photo", b"p", MEDIA, "photo", None, {"filename": "x.jpg"})
        assert readings(s.conn, exam.id) == [] and report_reading(s.conn, exam.id) is None
        assert excluded_signal_ids(s.conn, exam.id) == set()
    finally:
        s.close()
