"""Issue 13 through the ECG upload: a greyscale or half-page photo is refused (422 with the reason) and leaves no
measurement, finding or alert; a photo taken upside down is turned upright and read like the upright one."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest

from device.store import Store, clinical
from device.store.db import Tx


@pytest.fixture(scope="module")
def page() -> np.ndarray:
    from device.sim import ecg_paper

    rng = np.random.default_rng(3)
    return ecg_paper.render(ecg_paper.synthetic_ecg(rng, hr_bpm=72), rng=rng).image


def _jpeg(rgb: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR),
                        [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()


def _exam(settings, pid: str) -> int:
    s = Store.open(settings.data_dir)
    try:
        with Tx(s.conn) as c:
            p = clinical.upsert_patient(c, pid, "Zhao, Min", "M", "1961-03-04")
            return clinical.create_exam(c, p, "ecg", None).id
    finally:
        s.close()


def _count(settings, table: str, eid: int) -> int:
    s = Store.open(settings.data_dir)
    try:
        return s.conn.execute(f"SELECT COUNT(*) FROM {table} WHERE exam_id = ?", (eid,)).fetchone()[0]
    finally:
        s.close()


def _read(ui, settings, eid: int, data: bytes):
    from tests.integration.conftest import run_jobs_in

    r = ui.post(f"/exams/{eid}/ecg/upload", {"photo": (io.BytesIO(data), "ecg.jpg"), "source": "upload"},
                content_type="multipart/form-data")
    assert r.status_code == 302 and "job=" in r.location, r.data[:500]
    run_jobs_in(settings)
    return ui.get(r.location)


@pytest.mark.parametrize("bad,reason", [
    (lambda p: np.repeat(cv2.cvtColor(p, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2), b"greyscale"),
    (lambda p: p[:, : p.shape[1] // 2], b"incomplete page"),
    (lambda p: cv2.resize(p, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA), b"too low resolution"),
])
def test_bad_photo_is_refused_and_leaves_no_result(login, settings, page, bad, reason):
    eid = _exam(settings, "E0101")
    ui = login("sono", "sonographer")
    r = _read(ui, settings, eid, _jpeg(bad(page)))
    assert r.status_code == 422 and reason in r.data and b"Traceback" not in r.data
    assert _count(settings, "measurements", eid) == 0
    assert _count(settings, "findings", eid) == 0
    assert _count(settings, "alerts", eid) == 0


def test_upside_down_photo_is_read_like_the_upright_one(login, settings, page):
    ui = login("sono", "sonographer")
    hr = []
    for pid, img in (("E0102", page), ("E0103", page[::-1, ::-1])):
        eid = _exam(settings, pid)
        assert _read(ui, settings, eid, _jpeg(img)).status_code == 200
        s = Store.open(settings.data_dir)
        try:
            hr.append(s.conn.execute("SELECT value FROM measurements WHERE exam_id = ? AND name = 'hr_bpm'",
                                     (eid,)).fetchone()[0])
        finally:
            s.close()
    assert abs(hr[0] - 72) < 3 and abs(hr[1] - hr[0]) < 1.0
