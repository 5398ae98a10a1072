"""Two ECG readings in one exam are never merged (issue 18 point 3): a labelled photo and a later recording are two
readings, each keeps its label, the earlier one is viewable again, and the report uses exactly one of them (the
newest, or the one a person picks), says which, and shows that reading's values and screen only. (Two *photos* in
one exam: tests/browser/test_ecg_calipers_browser.py; one read here keeps this test cheap.)"""

from __future__ import annotations

import io
import re

import numpy as np
import pytest

from device.store import Store, audit
from tests.integration.test_ecg_ui import _exam, _worked


def _printout(hr_bpm: float, seed: int) -> bytes:
    import cv2

    from device.sim import ecg_paper

    rng = np.random.default_rng(seed)
    page = ecg_paper.render(ecg_paper.synthetic_ecg(rng, hr_bpm=hr_bpm), rng=rng)
    ok, enc = cv2.imencode(".jpg", cv2.cvtColor(page.image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return enc.tobytes()


def _doc(settings, eid: int):
    from device.reporting.from_store import assemble
    from device.reporting.rows import unscored_findings_text
    from device.reporting.settings import ReportSettings

    s = Store.open(settings.data_dir)
    try:
        return assemble(s.conn, s.blobs, eid, ReportSettings.bundled()), unscored_findings_text(s.conn, eid)
    finally:
        s.close()


def _waveforms(settings, eid: int, doc) -> list:
    """The 12-lead waveform objects that would go to PACS with the report, as one int16 array each."""
    from device.reporting.exports import exam_objects

    s = Store.open(settings.data_dir)
    try:
        objs = [o for o in exam_objects(s.conn, s.blobs, eid, doc, None) if o.kind == "ecg"]
    finally:
        s.close()
    return [np.frombuffer(o.dataset.WaveformSequence[0].WaveformData, np.int16) for o in objs]


def _hr_rows(doc) -> list[float]:
    return [m.value for sec in doc.sections for m in sec.measurements if m.name == "hr_bpm"]


def _hr_cell(html: str) -> float:
    m = re.search(r'data-name="hr_bpm"><td>[^<]*</td><td class="num" data-value="([\d.]+)"', html)
    assert m, "no heart rate on the page"
    return float(m.group(1))


def _serial_reading(settings, eid: int, hr_bpm: float) -> None:
    """A serial recording of the exam (its own reading), stored as the ecg.serial_save job stores it."""
    from device.ecg.types import LEADS
    from device.sim import ecg_paper
    from device.store import clinical
    from device.usecases.ecg_images import npz
    from device.usecases.ecg_reading import save_serial

    sig = ecg_paper.synthetic_ecg(np.random.default_rng(4), hr_bpm=hr_bpm).astype(np.float32)
    s = Store.open(settings.data_dir)
    try:
        save_serial(s.conn, s.blobs, clinical.get_exam(s.conn, eid), npz(sig, 500.0, LEADS), "/dev/ttyUSB0",
                    (None, "worker"))
    finally:
        s.close()


def test_two_readings_are_kept_apart_and_the_report_uses_one(login, settings):
    eid = _exam(settings)
    ui = login("sono", "sonographer")
    r = ui.post(f"/exams/{eid}/ecg/upload", {"photo": (io.BytesIO(_printout(72, 3)), "IMG_0002.jpg"),
                                             "label": "  before  nitrate ", "source": "upload"},
                content_type="multipart/form-data")
    assert _hr_cell(_worked(ui, settings, r).data.decode()) == pytest.approx(72, abs=3)
    _serial_reading(settings, eid, 100)
    html = ui.get(f"/exams/{eid}/ecg").data.decode()

    # the page shows the new reading under its label and lists both readings; the report uses the newest
    assert _hr_cell(html) == pytest.approx(100, abs=4)
    assert '<span id="ecg-reading-label">serial ECG /dev/ttyUSB0</span>' in html
    beat_line = re.search(r'id="ecg-beat-model">(.*?)</p>', html).group(1)      # the median beat names its models
    assert "ecg_calipers 1 · ecg_measure" in beat_line and "Not for diagnostic use without review" in beat_line
    assert 'id="ecg-beat-data"' in html
    rows = re.findall(r'<tr data-reading="(\d+)" data-capture="(\d+)" data-in-report="([01])"', html)
    assert len(rows) == 2 and [x[2] for x in rows] == ["0", "1"]
    names = re.findall(r'<td class="ecg-reading-name">([^<]*)</td>', html)
    assert names == ["before nitrate", "serial ECG /dev/ttyUSB0"]
    first, second = int(rows[0][0]), int(rows[1][0])

    doc, text = _doc(settings, eid)
    hrs = _hr_rows(doc)
    assert len(hrs) == 1 and hrs[0] == pytest.approx(100, abs=4)           # one reading's values, no duplicates
    used = [s.title for s in doc.sections if s.title.startswith("ECG reading in this report")]
    assert used == ["ECG reading in this report: serial ECG /dev/ttyUSB0 (version 1; the newest reading; 2 "
                    "reading(s) in this exam)"]
    screens = [m for s in doc.sections for m in s.measurements if m.name.startswith("finding_ecg_screen")]
    assert len(screens) == 1                                               # one screen, not both
    assert text.count("rhythm:") == 1 and "ecg_measure" in text              # the recording's rhythm line only
    assert doc.key_images == ()                          # neither the other reading's overlay nor its photo
    newest = _waveforms(settings, eid, doc)
    assert len(newest) == 1                                                # one waveform goes to PACS

    # the earlier reading is viewable again (its own values), and not in the report
    old = ui.get(f"/exams/{eid}/ecg?reading={first}").data.decode()
    assert _hr_cell(old) == pytest.approx(72, abs=3)
    assert '<span id="ecg-reading-label">before nitrate</span>' in old and 'id="ecg-not-in-report"' in old
    assert ui.get(f"/exams/{eid}/ecg?reading=999999").status_code in (400, 404)

    # choosing it for the report: stored, audited, the report now uses it and says who chose it
    r = ui.post(f"/exams/{eid}/ecg/reading/{first}/report", {})
    assert r.status_code == 302 and r.location.endswith(f"/exams/{eid}/ecg?reading={first}")
    doc, text = _doc(settings, eid)
    hrs = _hr_rows(doc)
    assert len(hrs) == 1 and hrs[0] == pytest.approx(72, abs=3)
    used = [s.title for s in doc.sections if s.title.startswith("ECG reading in this report")]
    assert len(used) == 1 and "before nitrate" in used[0] and "chosen by" in used[0]
    picked = _waveforms(settings, eid, doc)
    assert len(picked) == 1 and not np.array_equal(picked[0], newest[0])   # now the photo's signal
    page = ui.get(f"/exams/{eid}/ecg").data.decode()                       # the page opens on the report's reading
    assert _hr_cell(page) == pytest.approx(72, abs=3) and 'id="ecg-shown-in-report"' in page
    assert re.search(rf'<tr data-reading="{second}" data-capture="\d+" data-in-report="0"', page)
    s = Store.open(settings.data_dir)
    try:
        picks = [e for e in audit.recent(s.conn, 50) if e.object_type == "ecg_report_reading"]
    finally:
        s.close()
    assert len(picks) == 1 and picks[0].action == "edit" and picks[0].username == "sono"
    assert picks[0].detail["previous"] == second and picks[0].detail["label"] == "before nitrate"
