"""SPECTF regional counts on the perfusion page (issue 18 point 8): one row of 44 counts uploaded as a CSV -> a job
classifies it with perfusion_spectf -> the page shows the probability, the call at the model's threshold, the model
and its measured accuracy and the disclaimer; the report's perfusion summary has the row and the free text the
finding; bad input (two rows, 43 values, not text, an ECG exam) is refused in one line and nothing is queued."""

from __future__ import annotations

import io

import pytest

from device.inference import list_models
from device.store import Store, clinical
from device.store.db import Tx

pytestmark = pytest.mark.skipif("perfusion_spectf" not in list_models(), reason="perfusion_spectf not built")
ROW = ",".join(str(v) for v in [72, 75, 68, 70, 74, 76, 66, 69, 71, 73, 65, 67, 78, 80, 62, 64, 70, 71, 69, 72, 75,
                                77, 73, 70, 68, 66, 71, 74, 76, 79, 63, 61, 67, 69, 72, 70, 74, 73, 66, 68, 77, 75, 70, 71])


def _exam(settings, kind="perfusion") -> int:
    s = Store.open(settings.data_dir)
    try:
        with Tx(s.conn) as c:
            p = clinical.upsert_patient(c, "SPF001", "Chen, Bo", "M", "1960-03-04")
            return clinical.create_exam(c, p, kind, None).id
    finally:
        s.close()


def _post(ui, eid, data: bytes | None = None, text: str = ""):
    form = {"text": text}
    if data is not None:
        form["counts"] = (io.BytesIO(data), "row.csv")
    return ui.post(f"/exams/{eid}/perfusion/regions", form, content_type="multipart/form-data")


def test_counts_classified_shown_and_reported(settings, login, run_jobs):
    eid = _exam(settings)
    ui = login("sono", "sonographer")
    r = _post(ui, eid, ROW.encode() + b"\n")
    assert r.status_code == 302 and "job=" in r.location
    jobs = run_jobs()
    assert [j.state for j in jobs] == ["done"] and jobs[0].result["status"] == "done", [j.error for j in jobs]
    html = ui.get(f"/exams/{eid}/perfusion").data.decode()
    prob = float(html.split('id="perf-spectf-prob">')[1].split("<")[0])
    assert 0.0 <= prob <= 1.0
    abnormal = html.split('id="perf-spectf-result" data-abnormal="')[1][0]
    assert abnormal == ("1" if prob >= 0.5 else "0")
    model = html.split('id="perf-spectf-model"')[1].split("</p>")[0]
    assert "perfusion_spectf" in model and "roc_auc" in model
    s = Store.open(settings.data_dir)
    try:
        [m] = [m for m in clinical.current_measurements(s.conn, eid) if m.name == "spectf_prob_abnormal"]
        assert m.model_name == "perfusion_spectf" and m.value == pytest.approx(prob, abs=0.006)
    finally:
        s.close()
    rep = ui.get(f"/exams/{eid}/report").data.decode()
    assert 'data-name="spectf_prob_abnormal"' in rep and "SPECTF counts" in rep


BAD = [
    ((ROW + "\n" + ROW).encode(), "", "2 rows"),
    (None, ",".join(["70"] * 43), "43 values"),
    (b"\xff\xfe\x00\x01binary", "", "not a text file"),
    (None, "", "choose a SPECTF file"),
    (None, ",".join(["5"] * 44), "hottest region"),
]


def test_bad_counts_refused_in_one_line_and_not_on_an_ecg_exam(settings, login):
    eid = _exam(settings)
    ui = login("sono", "sonographer")
    for data, text, why in BAD:
        r = _post(ui, eid, data, text)
        assert r.status_code == 400, why
        msg = r.data.decode().split('id="perf-error">')[1].split("</p>")[0]
        assert why in msg and "\n" not in msg
    s = Store.open(settings.data_dir)
    try:
        assert s.conn.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 0
    finally:
        s.close()
    assert _post(ui, _exam(settings, "ecg"), None, ROW).status_code == 400
