"""The paper-ECG UI through Flask's test client on a real store: an upload of a rendered printout stores the photo,
the digitised 12-lead signal, measurements, findings and the report sections; garbage is kept and explained; a
correction re-digitises and supersedes; the cart camera path; the live serial page and API."""

from __future__ import annotations

import io
import json
import re

import numpy as np
import pytest

from device.ecg.types import LEADS
from device.store import Store, audit, clinical
from device.store.db import Tx


@pytest.fixture(scope="module")
def printout() -> tuple[bytes, np.ndarray]:
    """A rendered 3x4+1 printout (JPEG, 25 mm/s, 10 mm/mV) of a synthetic ECG at 72/min, and its signals."""
    import cv2

    from device.sim import ecg_paper

    rng = np.random.default_rng(3)
    sig = ecg_paper.synthetic_ecg(rng, hr_bpm=72)
    page = ecg_paper.render(sig, rng=rng)
    ok, enc = cv2.imencode(".jpg", cv2.cvtColor(page.image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return enc.tobytes(), sig


def _exam(settings, kind: str = "ecg", sex: str = "F") -> int:
    s = Store.open(settings.data_dir)
    try:
        with Tx(s.conn) as c:
            p = clinical.upsert_patient(c, "E0001", "Wang, Li", sex, "1958-04-01")
            return clinical.create_exam(c, p, kind, None).id
    finally:
        s.close()


def _rows(settings, sql: str, *args) -> list[dict]:
    s = Store.open(settings.data_dir)
    try:
        return [dict(r) for r in s.conn.execute(sql, args).fetchall()]
    finally:
        s.close()


def _upload(ui, eid: int, data: bytes, name: str = "ecg.jpg"):
    return ui.post(f"/exams/{eid}/ecg/upload", {"photo": (io.BytesIO(data), name), "source": "upload"},
                   content_type="multipart/form-data")


def test_upload_reads_and_stores_everything_then_correction_supersedes(login, settings, printout):
    data, truth = printout
    eid = _exam(settings)
    ui = login("sono", "sonographer")
    page = ui.get(f"/exams/{eid}")
    assert f"/exams/{eid}/ecg".encode() in page.data             # the exam page offers the ECG action
    r = _upload(ui, eid, data)
    assert r.status_code == 302, r.data[:2000]
    caps = _rows(settings, "SELECT c.*, b.media_type FROM captures c JOIN blobs b ON b.sha256 = c.blob_sha256 "
                           "WHERE exam_id = ? ORDER BY c.id", eid)
    assert [c["kind"] for c in caps] == ["photo", "signal"]
    assert caps[0]["media_type"] == "image/jpeg"
    assert caps[1]["media_type"] == "application/x-cardiocart-signal+npz"
    s = Store.open(settings.data_dir)
    try:
        with np.load(io.BytesIO(s.blobs.get(caps[1]["blob_sha256"])), allow_pickle=False) as z:
            x, fs, leads = z["signals_mv"], float(z["fs_hz"]), tuple(str(v) for v in z["leads"])
        assert x.shape == (5000, 12) and x.dtype == np.float32 and fs == 500.0 and leads == LEADS
        assert np.isnan(x).any() and np.isfinite(x[:, 1]).mean() > 0.9   # lead II rhythm strip; 2.5-s leads
        # the digitised lead II follows the truth (offset removed)
        ii = np.isfinite(x[:, 1])
        err = (x[ii, 1] - x[ii, 1].mean()) - (truth[ii, 1] - truth[ii, 1].mean())
        assert float(np.sqrt(np.mean(err ** 2))) < 0.1
        # the report module reads it as a 12-lead signal
        from device.reports import from_store
        sigs, problems = from_store.signals_of(s.conn, s.blobs, eid)
        assert not problems and list(sigs.values())[0].leads == LEADS
    finally:
        s.close()
    ms = {m["name"]: m for m in _rows(settings, "SELECT * FROM measurements WHERE exam_id = ?", eid)}
    assert {"hr_bpm", "pr_ms", "qrs_ms", "qt_ms", "qtc_bazett_ms", "qtc_fridericia_ms", "axis_deg"} <= set(ms)
    assert abs(ms["hr_bpm"]["value"] - 72) < 3 and ms["hr_bpm"]["unit"] == "/min"
    assert all(m["model_name"] == "ecg_reader" and m["model_version"] and m["source"] == "auto" for m in ms.values())
    fnd = {f["kind"]: f for f in _rows(settings, "SELECT * FROM findings WHERE exam_id = ?", eid)}
    assert fnd["ecg_screen"]["label"] in ("normal", "abnormal") and fnd["ecg_screen"]["score"] is not None
    assert "ecg_screen" in fnd["ecg_screen"]["model_name"] and "ecg_rules" in fnd["ecg_screen"]["model_name"]
    assert fnd["rhythm"]["label"] == "sinus rhythm"
    detail = json.loads(fnd["ecg_screen"]["detail"])
    assert detail["signal"]["source"].startswith("ecg_rules") and detail["model"]["source"].startswith("ecg_screen")

    html = ui.get(f"/exams/{eid}/ecg").data.decode()
    assert 'id="ecg-overlay"' in html and html.count("<polyline") >= 12
    hr_cell = re.search(r'data-name="hr_bpm"><td>[^<]*</td><td class="num" data-value="([\d.]+)"', html)
    assert hr_cell and abs(float(hr_cell.group(1)) - 72) < 3
    assert "ecg_screen 1.0.0" in html and "ecg_rules 1.0.0" in html and "Not for diagnostic use" in html
    for sha in re.findall(r"/ecg/blob/([0-9a-f]{64})", html):
        assert ui.get(f"/exams/{eid}/ecg/blob/{sha}").status_code == 200
    assert ui.get(f"/exams/{eid}/ecg/blob/{'0' * 64}").status_code == 404

    # the report sections: reference ranges (QTc for a woman) and the overlay key image
    s = Store.open(settings.data_dir)
    try:
        from device.ecg.report_sections import ecg_sections
        sections, images = ecg_sections(s.conn, s.blobs, clinical.get_exam(s.conn, eid))
        rows = {m.name: m for sec in sections for m in sec.measurements}
        assert (rows["pr_ms"].ref_low, rows["pr_ms"].ref_high) == (120.0, 200.0)
        assert rows["qtc_bazett_ms"].ref_high == 460.0 and rows["qrs_ms"].ref_high == 120.0
        assert rows["hr_bpm"].model_name == "ecg_reader"
        assert len(images) == 1 and images[0].png.startswith(b"\x89PNG")
        from device.reports.from_store import assemble
        doc = assemble(s.conn, s.blobs, eid)
        assert any(sec.title == "Intervals" for sec in doc.sections) and doc.key_images[0].key.startswith("ecg-")
    finally:
        s.close()

    # correction: the printout was at 10 mm/mV; claiming 20 mm/mV halves the amplitudes; same boxes
    sig_id = caps[1]["id"]
    form = ui.get(f"/exams/{eid}/ecg/reading/{sig_id}/correct")
    assert form.status_code == 200 and b'id="ecg-boxes-data"' in form.data
    boxes = json.loads(re.search(rb'id="ecg-boxes-data">(.*?)</script>', form.data, re.S).group(1))
    r = ui.post(f"/exams/{eid}/ecg/reading/{sig_id}/correct", {"speed": "25", "gain": "20",
                                                                "boxes": json.dumps(boxes)})
    assert r.status_code == 302, r.data[:2000]
    new = _rows(settings, "SELECT * FROM captures WHERE exam_id = ? AND kind = 'signal' ORDER BY id", eid)
    assert len(new) == 2
    meta = json.loads(new[1]["meta"])
    assert meta["version"] == 2 and meta["supersedes_capture"] == sig_id and meta["calibration"]["gain_mm_mv"] == 20
    s = Store.open(settings.data_dir)
    try:
        cur = {m.name: m for m in clinical.current_measurements(s.conn, eid)}
        with np.load(io.BytesIO(s.blobs.get(new[1]["blob_sha256"])), allow_pickle=False) as z:
            x2 = z["signals_mv"]
    finally:
        s.close()
    assert cur["hr_bpm"].source == "edited" and cur["hr_bpm"].capture_id == new[1]["id"]
    assert cur["hr_bpm"].supersedes == ms["hr_bpm"]["id"]
    ok = np.isfinite(x[:, 1]) & np.isfinite(x2[:, 1])
    ratio = np.ptp(x2[ok, 1]) / np.ptp(x[ok, 1])
    assert 0.4 < ratio < 0.6
    f2 = [f for f in _rows(settings, "SELECT * FROM findings WHERE exam_id = ? AND kind = 'ecg_screen'", eid)]
    assert json.loads(f2[-1]["detail"])["supersedes"] == f2[0]["id"]

    # moving a box re-digitises that lead from where the box now is: push lead I's box down onto lead II's row
    bI = next(b for b in boxes if b["lead"] == "I")
    bII = next(b for b in boxes if b["lead"] == "II")
    dy = bII["baseline_y"] - bI["baseline_y"]
    moved = [dict(b, y0=b["y0"] + dy, y1=b["y1"] + dy, baseline_y=b["baseline_y"] + dy) if b["lead"] == "I"
             else b for b in boxes]
    r = ui.post(f"/exams/{eid}/ecg/reading/{new[1]['id']}/correct", {"speed": "25", "gain": "10",
                                                                      "boxes": json.dumps(moved)})
    assert r.status_code == 302, r.data[:2000]
    s = Store.open(settings.data_dir)
    try:
        last = [c for c in clinical.list_captures(s.conn, eid) if c.kind == "signal"][-1]
        with np.load(io.BytesIO(s.blobs.get(last.blob_sha256)), allow_pickle=False) as z:
            x3 = z["signals_mv"]
        assert last.meta["version"] == 3 and last.meta["overrides"]["boxes_moved"] is True
    finally:
        s.close()
    w = slice(0, 1250)                                     # lead I's window now holds lead II's trace
    good = np.isfinite(x3[w, 0]) & np.isfinite(x[w, 1])
    assert good.mean() > 0.8
    assert np.corrcoef(x3[w, 0][good], x[w, 1][good])[0, 1] > 0.9
    actions = [(e.action, e.object_type) for e in audit.recent(Store.open(settings.data_dir).conn, 100)]
    assert ("create", "ecg_reading") in actions and ("edit", "ecg_reading") in actions


def test_garbage_is_kept_and_explained(login, settings):
    eid = _exam(settings)
    ui = login("sono", "sonographer")
    r = _upload(ui, eid, b"this is not a picture at all" * 50, "notes.txt")
    assert r.status_code == 422
    assert b"step failed" in r.data and b"capture #" in r.data and b"Traceback" not in r.data
    # a real image that is not an ECG: a photo of nothing (smooth noise)
    import cv2
    rng = np.random.default_rng(0)
    img = cv2.GaussianBlur(rng.integers(0, 255, (900, 1200, 3), dtype=np.uint8), (0, 0), 9)
    ok, enc = cv2.imencode(".png", img)
    r2 = _upload(ui, eid, enc.tobytes(), "wall.png")
    assert r2.status_code == 422 and b"step failed" in r2.data
    caps = _rows(settings, "SELECT kind FROM captures WHERE exam_id = ?", eid)
    assert [c["kind"] for c in caps] == ["photo", "photo"]            # both kept, nothing else stored
    assert not _rows(settings, "SELECT * FROM measurements WHERE exam_id = ?", eid)
    page = ui.get(f"/exams/{eid}/ecg").data
    assert page.count(b'data-read="0"') == 2
    # no file at all, an echo exam, and a physician-only page stays reachable for a sonographer
    assert ui.post(f"/exams/{eid}/ecg/upload", {}, content_type="multipart/form-data").status_code == 400
    echo = _exam(settings, "echo")
    assert ui.get(f"/exams/{echo}/ecg").status_code == 400


def test_cart_camera_missing_and_present(login, settings, printout, monkeypatch):
    import cv2

    from webui.views import ecg as ecg_view

    eid = _exam(settings)
    ui = login("sono", "sonographer")
    monkeypatch.setattr(ecg_view, "camera_candidates", lambda: [])
    r = ui.post(f"/exams/{eid}/ecg/camera/capture", {})
    assert r.status_code == 409 and b"no camera" in r.data
    assert not _rows(settings, "SELECT * FROM captures WHERE exam_id = ?", eid)

    bgr = cv2.imdecode(np.frombuffer(printout[0], np.uint8), cv2.IMREAD_COLOR)

    class FakeCam:  # a USB camera as OpenCV sees it
        def isOpened(self):
            return True

        def read(self):
            return True, bgr.copy()

        def set(self, *a):
            return True

        def release(self):
            pass

    monkeypatch.setattr(ecg_view, "camera_candidates",
                        lambda: [("opencv", {"device": "/dev/video9", "opener": lambda *a: FakeCam(),
                                             "give_up_s": 1.0})])
    r = ui.post(f"/exams/{eid}/ecg/camera/capture", {})
    assert r.status_code == 302, r.data[:1000]
    caps = _rows(settings, "SELECT kind, meta FROM captures WHERE exam_id = ? ORDER BY id", eid)
    assert [c["kind"] for c in caps] == ["photo", "signal"]
    assert json.loads(caps[0]["meta"])["source"] == "cart_camera"


def test_live_page_and_api(login, settings, tmp_path):
    from device.services.serial_ecg_service import write_live
    from device.sim.ecg_paper import synthetic_ecg

    ui = login("sono", "sonographer")
    r = ui.get("/ecg/live")
    assert r.status_code == 200 and b"ecg-live-off" in r.data          # no port configured
    assert ui.get("/api/ecg/live").get_json()["running"] is False
    import time
    x = synthetic_ecg(np.random.default_rng(1), hr_bpm=75)
    write_live(settings.run_dir / "ecg_live.npz", x, 500.0, LEADS,
               {"status": "ok", "wall_time": time.time(), "hr_bpm": 75.0, "measurements": None, "port": "x"})
    j = ui.get("/api/ecg/live").get_json()
    assert j["running"] and j["leads"] == list(LEADS) and len(j["signals"][1]) == 1250 and j["fs_hz"] == 125
    eid = _exam(settings)
    r = ui.post("/ecg/live/save", {"exam_id": str(eid)})
    assert r.status_code == 302
    ms = {m["name"]: m for m in _rows(settings, "SELECT * FROM measurements WHERE exam_id = ?", eid)}
    assert abs(ms["hr_bpm"]["value"] - 75) < 3 and ms["hr_bpm"]["model_name"] == "ecg_measure"
