"""Regression (issue 15): a site case table given by ``--config`` (``[lv] case_table``) must reach every reader of
an echo LV value: the echo measurement page, the report and the core's background clip measurement.

The bug: EF 54 % (male) read "mildly abnormal" on the echo page (which passed the table) but "normal" in the
report and the background measurement, because ``device/lv/report_sections.py`` re-read the settings from disk
without the ``--config`` path. Here the settings come from a file given by path only (no $CARDIOCART_CONFIG), as
``python -m device --config FILE`` loads them.
"""

from __future__ import annotations

import json
import re

from device.config import load_settings
from device.lv.casetable import DEFAULT_TABLE
from device.store import Store, clinical, reports
from device.store.db import Tx

def _site_table(path):
    """The bundled table with the site's stricter male EF cut-offs: normal from 56 %, 45-56 % mildly abnormal and
    flagged for review (critical)."""
    lines = []
    for ln in DEFAULT_TABLE.read_text().splitlines():
        if ln.startswith("ef_pct,male,"):
            continue
        lines.append(ln)
    lines += ["ef_pct,male,56,73,normal,,site", "ef_pct,male,73,,above normal range,,site",
              "ef_pct,male,45,56,mildly abnormal,critical,site", "ef_pct,male,,45,severely abnormal,critical,site"]
    path.write_text("\n".join(lines) + "\n")
    return path


def _settings(tmp_path, monkeypatch):
    monkeypatch.delenv("CARDIOCART_CONFIG", raising=False)
    table = _site_table(tmp_path / "site_case_table.csv")
    cfg = tmp_path / "site.toml"
    cfg.write_text(f'[paths]\ndata_dir = "{tmp_path / "var"}"\n[web]\nport = 18080\n'
                   f'[lv]\ncase_table = "{table}"\n[echo]\nmeasure_clips = true\n')
    return load_settings(cfg)


def _male_echo_exam(store: Store) -> clinical.Exam:
    with Tx(store.conn):
        p = clinical.upsert_patient(store.conn, "CT000001", "Case Table", "M")
        return clinical.create_exam(store.conn, p, "echo", None, ["A4C"])


def test_site_case_table_reaches_echo_page_and_report(tmp_path, monkeypatch):
    settings = _settings(tmp_path, monkeypatch)
    from webui import create_app
    from tests.integration.conftest import UiClient
    from device.store import users

    store = Store.open(settings.data_dir)
    users.create_user(store.conn, "drli", "Dr Li", "physician", "573920")
    exam = _male_echo_exam(store)
    with Tx(store.conn):
        clinical.add_measurement(store.conn, exam.id, None, "a4c_ef_pct", 54.0, "%", "lv_seg", "1.0.0", (3, 11))
    app = create_app(settings, {"SSE_MAX_S": 0.5, "STREAM_MAX_S": 0.5})
    ui = UiClient(app.test_client())
    ui.get("/login")
    assert ui.post("/login", {"username": "drli", "pin": "573920"}).status_code == 302
    ui.get("/")

    page = ui.get(f"/exams/{exam.id}/echo")
    assert page.status_code == 200
    data = json.loads(re.search(r'<script type="application/json" id="echo-data">(.*?)</script>',
                                page.data.decode(), re.S).group(1))
    (row,) = [r for r in data["rows"] if r["name"] == "a4c_ef_pct"]
    assert row["interpretation"] == "mildly abnormal" and row["alert"] is True and row["reference"] == "56-73 %"

    assert ui.get(f"/exams/{exam.id}/report").status_code == 200
    content = reports.latest(store.conn, exam.id).content
    ms = [m for s in content["sections"] for m in s["measurements"] if m["value"] == 54.0]
    assert len(ms) == 1
    assert ms[0]["interpretation"].startswith("mildly abnormal"), ms[0]
    assert ms[0]["ref_low"] == 56.0 and ms[0]["ref_high"] == 73.0
    store.close()


def test_site_case_table_reaches_background_clip_measurement(tmp_path, monkeypatch):
    """The worker's clip measurement job (settings from the --config file) raises the site's review alert for EF
    54 % male; with the bundled table the value would read "normal" and raise nothing."""
    import numpy as np

    from device.domain.codecs import CLIP_MEDIA, encode_clip
    from device.jobs import get_job
    from device.jobs.worker import run_until_idle
    from device.services import echo_measure as em
    from device.usecases.echo_exam import enqueue_clip_measurement

    settings = _settings(tmp_path, monkeypatch)

    def fake_geometry(frames, view, *args, **kwargs):      # the segmentation is not what this test is about
        return {"status": "measured", "reason": "", "view": view, "mode": "apical", "model_name": "lv_seg",
                "model_version": "test", "model_tag": "lv_seg test", "ed_frame": 0, "es_frame": 3,
                "values": {"a4c_ef_pct": 54.0}}
    monkeypatch.setattr(em, "geometry_from_clip", fake_geometry)
    store = Store.open(settings.data_dir)
    exam = _male_echo_exam(store)
    with Tx(store.conn):
        cap = clinical.add_capture(store.conn, store.blobs, exam.id, "clip", encode_clip(np.zeros((6, 64, 64), np.uint8),
                                   20.0), CLIP_MEDIA, label="A4C", quality=0.9, meta={"mm_per_px": 0.3, "fps": 20.0})
        job_id = enqueue_clip_measurement(store.conn, cap.id, exam.id)
    run_until_idle(store, settings)
    job = get_job(store.conn, job_id)
    assert job.state == "done", job.error
    (m,) = clinical.current_measurements(store.conn, exam.id)
    assert (m.name, m.value, m.capture_id) == ("a4c_ef_pct", 54.0, cap.id)
    (alert,) = clinical.alerts(store.conn)
    assert alert.code == "lv_a4c_ef_pct" and "mildly abnormal" in alert.message and alert.exam_id == exam.id
    store.close()
