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


def _worked(ui, settings, r):
    """A POST that queued a job (302 to the page following it): run the queue as the worker would, then the page."""
    from tests.integration.conftest import run_jobs_in
    assert r.status_code == 302 and "job=" in r.location, (r.status_code, r.data[:500])
    jobs = run_jobs_in(settings)
    assert jobs and all(j.progress == 1.0 or j.state == "failed" for j in jobs)
    return ui.get(r.location)


def test_upload_reads_and_stores_everything_then_correction_supersedes(login, settings, printout):
    data, truth = printout
    eid = _exam(settings)
    ui = login("sono", "sonographer")
    page = ui.get(f"/exams/{eid}")
    assert f"/exams/{eid}/ecg".encode() in page.data             # the exam page offers the ECG action
    r = _upload(ui, eid, data)
    assert r.status_code == 302, r.data[:2000]
    shown = _worked(ui, settings, r)
    assert shown.status_code == 200
    assert b'id="ecg-calipers"' in shown.data and b'name="t_end_ms"' in shown.data   # the interval calipers
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
        from device.reporting import exports
        sigs, problems = exports.signals_of(s.conn, s.blobs, eid)
        assert not problems and next(iter(sigs.values())).leads == LEADS
    finally:
        s.close()
    ms = {m["name"]: m for m in _rows(settings, "SELECT * FROM measurements WHERE exam_id = ?", eid)}
    assert {"hr_bpm", "pr_ms", "qrs_ms", "qt_ms", "qtc_bazett_ms", "qtc_fridericia_ms", "axis_deg"} <= set(ms)
    assert abs(ms["hr_bpm"]["value"] - 72) < 3 and ms["hr_bpm"]["unit"] == "/min"
    assert all(m["model_name"] == "ecg_reader" and m["model_version"] and m["source"] == "auto" for m in ms.values())
    fnd = {f["kind"]: f for f in _rows(settings, "SELECT * FROM findings WHERE exam_id = ?", eid)}
    assert fnd["ecg_screen"]["label"] in ("normal", "abnormal") and fnd["ecg_screen"]["score"] is not None
    assert "ecg_signal" in fnd["ecg_screen"]["model_name"] and "ecg_rules" in fnd["ecg_screen"]["model_name"]
    assert fnd["rhythm"]["label"] == "sinus rhythm"
    detail = json.loads(fnd["ecg_screen"]["detail"])
    assert detail["signal"]["source"].startswith("ecg_rules") and detail["model"]["source"].startswith("ecg_signal")
    assert set(detail["model"]["probabilities"]) == {"abnormal", "NORM", "MI", "STTC", "CD", "HYP", "AF"}

    html = ui.get(f"/exams/{eid}/ecg").data.decode()
    assert 'id="ecg-overlay"' in html and html.count("<polyline") >= 12
    hr_cell = re.search(r'data-name="hr_bpm"><td>[^<]*</td><td class="num" data-value="([\d.]+)"', html)
    assert hr_cell and abs(float(hr_cell.group(1)) - 72) < 3
    assert "ecg_signal 1.2.0" in html and "ecg_rules 1.1.0" in html and "Not for diagnostic use" in html
    for sha in re.findall(r"/ecg/blob/([0-9a-f]{64})", html):
        assert ui.get(f"/exams/{eid}/ecg/blob/{sha}").status_code == 200
    assert ui.get(f"/exams/{eid}/ecg/blob/{'0' * 64}").status_code == 404

    # the report sections: reference ranges (QTc for a woman) and the overlay key image
    s = Store.open(settings.data_dir)
    try:
        from device.reporting.ecg_sections import ecg_sections
        from device.reporting.settings import ReportSettings
        sections, images = ecg_sections(s.conn, s.blobs, clinical.get_exam(s.conn, eid), ReportSettings.bundled())
        rows = {m.name: m for sec in sections for m in sec.measurements}
        assert (rows["pr_ms"].ref_low, rows["pr_ms"].ref_high) == (120.0, 200.0)
        assert rows["qtc_bazett_ms"].ref_high == 460.0 and rows["qrs_ms"].ref_high == 120.0
        assert rows["hr_bpm"].model_name == "ecg_reader"
        p_ab = rows["ecg_screen_p_abnormal"]  # the screening model's probability, named by the model
        assert p_ab.model_name == "ecg_signal" and 0.0 <= p_ab.value <= 1.0
        assert len(images) == 1 and images[0].png.startswith(b"\x89PNG")
        from device.reporting.from_store import assemble
        doc = assemble(s.conn, s.blobs, eid, ReportSettings.bundled())
        assert any(sec.title == "Intervals" for sec in doc.sections) and doc.key_images[0].key.startswith("ecg-")
    finally:
        s.close()

    # correction: the printout was at 10 mm/mV; claiming 20 mm/mV halves the amplitudes; same boxes
    sig_id = caps[1]["id"]
    form = ui.get(f"/exams/{eid}/ecg/reading/{sig_id}/correct")
    assert form.status_code == 200 and b'id="ecg-boxes-data"' in form.data
    boxes = json.loads(re.search(rb'id="ecg-boxes-data">(.*?)</script>', form.data, re.DOTALL).group(1))
    r = ui.post(f"/exams/{eid}/ecg/reading/{sig_id}/correct", {"speed": "25", "gain": "20",
                                                                "boxes": json.dumps(boxes)})
    assert r.status_code == 302, r.data[:2000]
    assert _worked(ui, settings, r).status_code == 200
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
    assert _worked(ui, settings, r).status_code == 200
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
    r = _worked(ui, settings, _upload(ui, eid, b"this is not a picture at all" * 50, "notes.txt"))
    assert r.status_code == 422
    assert b"step failed" in r.data and b"capture #" in r.data and b"Traceback" not in r.data
    # a real image that is not an ECG: a photo of nothing (smooth noise)
    import cv2
    rng = np.random.default_rng(0)
    img = cv2.GaussianBlur(rng.integers(0, 255, (900, 1200, 3), dtype=np.uint8), (0, 0), 9)
    enc = cv2.imencode(".png", img)[1]
    r2 = _worked(ui, settings, _upload(ui, eid, enc.tobytes(), "wall.png"))
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
    monkeypatch.setattr(ecg_view, "camera_candidates", list)
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
    r = ui.post(f"/exams/{eid}/ecg/camera/capture", {"label": "bed 4, supine"})
    assert r.status_code == 302, r.data[:1000]
    page = _worked(ui, settings, r)
    assert page.status_code == 200
    caps = _rows(settings, "SELECT kind, meta FROM captures WHERE exam_id = ? ORDER BY id", eid)
    assert [c["kind"] for c in caps] == ["photo", "signal"]
    assert json.loads(caps[0]["meta"])["source"] == "cart_camera"
    assert json.loads(caps[0]["meta"])["label"] == "bed 4, supine"                # the reading keeps its label
    assert b'<span id="ecg-reading-label">bed 4, supine</span>' in page.data


def test_live_page_and_api(login, settings, tmp_path):
    from device.services.serial_ecg_service import write_live
    from device.sim.ecg_paper import synthetic_ecg

    ui = login("sono", "sonographer")
    r = ui.get("/ecg/live")
    assert r.status_code == 200 and b"ecg-live-off" in r.data          # no port configured
    assert ui.get("/api/ecg/live").get_json()["running"] is False
    import time
    x = synthetic_ecg(np.random.default_rng(1), hr_bpm=36)
    write_live(settings.run_dir / "ecg_live.npz", x, 500.0, LEADS,
               {"status": "ok", "wall_time": time.time(), "hr_bpm": 75.0, "measurements": None, "port": "x"})
    j = ui.get("/api/ecg/live").get_json()
    assert j["running"] and j["leads"] == list(LEADS) and len(j["signals"][1]) == 1250 and j["fs_hz"] == 125
    eid = _exam(settings)
    r = ui.post("/ecg/live/save", {"exam_id": str(eid)})
    assert r.status_code == 302
    assert not _rows(settings, "SELECT * FROM measurements WHERE exam_id = ?", eid)   # queued, not analysed here
    assert b"s of serial ECG saved with its measurements" in _worked(ui, settings, r).data
    ms = {m["name"]: m for m in _rows(settings, "SELECT * FROM measurements WHERE exam_id = ?", eid)}
    assert abs(ms["hr_bpm"]["value"] - 36) < 3 and ms["hr_bpm"]["model_name"] == "ecg_measure"
    alerts = _rows(settings, "SELECT * FROM alerts WHERE exam_id = ?", eid)
    assert [(a["level"], a["code"]) for a in alerts] == [("critical", "ecg_hr_low")]  # HR < 40/min


def test_formats_are_recognised_and_decoded(printout, tmp_path):
    import cv2
    from PIL import Image

    from device.usecases.ecg_images import decode_photo, sniff
    from device.usecases.ecg_reading import critical_alerts
    rgb = cv2.cvtColor(cv2.imdecode(np.frombuffer(printout[0], np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    im = Image.fromarray(rgb)
    for fmt, media, kw in (("PNG", "image/png", {}), ("TIFF", "image/tiff", {}),
                           ("PDF", "application/pdf", {"resolution": 254.0})):
        buf = io.BytesIO()
        im.save(buf, fmt, **kw)
        assert sniff(buf.getvalue())[0] == media
        arr = decode_photo(buf.getvalue())
        assert arr.dtype == np.uint8 and arr.ndim == 3 and arr.shape[1] > 1500
    assert sniff(printout[0])[0] == "image/jpeg" and sniff(b"hello")[0] == "application/octet-stream"
    assert [c for c, _ in critical_alerts({"qtc_bazett_ms": 512.0, "hr_bpm": 160.0})] == ["ecg_qtc_long",
                                                                                          "ecg_hr_high"]
    assert critical_alerts({"qtc_bazett_ms": 480.0, "hr_bpm": 41.0, "pr_ms": None}) == []


def _board(fd: int, sig_uv: np.ndarray, stop, pause) -> None:
    """A simulated 8-channel board (I, II, V1..V6) on a pty master: real-time frames in 20-ms bursts with a burst
    of garbage; while ``pause`` is set it sends nothing (leads off / board unplugged)."""
    import os
    import time

    from device.drivers.serial_ecg import encode_frame
    chans = [0, 1, 6, 7, 8, 9, 10, 11]
    i = 0
    while not stop.is_set():
        if pause.is_set():
            time.sleep(0.02)
            continue
        k = i % sig_uv.shape[0]
        chunk = b"".join(encode_frame(i + n, sig_uv[(k + n) % sig_uv.shape[0], chans]) for n in range(10))
        if i == 500:
            chunk = b"\x00\xff\xa5garbage\xa5\x5a\x09" + chunk
        try:
            os.write(fd, chunk)
        except OSError:
            return
        i += 10
        time.sleep(0.02)


@pytest.mark.skipif(not hasattr(__import__("os"), "openpty"), reason="needs a POSIX pseudo-terminal")
def test_serial_live_service_on_a_pty_and_the_live_page(tmp_path):
    import os
    import threading
    import time
    import tty

    from device.config import load_settings
    from device.services.serial_ecg_service import SerialEcgLive, read_live
    from device.sim.ecg_paper import synthetic_ecg
    from device.store import users
    from tests.integration.conftest import UiClient
    from webui import create_app

    master, slave = os.openpty()
    tty.setraw(slave)
    port = os.ttyname(slave)
    cfg = tmp_path / "cart.toml"
    cfg.write_text(f'[paths]\ndata_dir = "{tmp_path / "var"}"\n[web]\nport = 18081\n[ecg_serial]\nport = "{port}"\n')
    st = load_settings(cfg)
    sig_uv = np.round(synthetic_ecg(np.random.default_rng(8), hr_bpm=80) * 1000).astype(int)
    stop, pause = threading.Event(), threading.Event()
    board = threading.Thread(target=_board, args=(master, sig_uv, stop, pause), daemon=True)
    board.start()
    svc = SerialEcgLive(port, st.run_dir, fs_hz=500.0, write_every_s=0.2, measure_every_s=0.5)
    try:
        svc.start()
        deadline = time.monotonic() + 30
        got = None
        while time.monotonic() < deadline:
            got = read_live(st.run_dir)
            if got and got[3].get("measurements") and got[3]["hr_bpm"] and got[0].shape[0] >= 4.5 * 500:
                break
            time.sleep(0.2)
        x, fs, leads, state = got
        assert leads == LEADS and x.shape[1] == 12 and fs == 500.0      # 8 channels expanded to 12 leads
        assert state["status"] == "ok" and abs(state["hr_bpm"] - 80) < 4 and state["model"].startswith("ecg_measure ")
        assert abs(state["measurements"]["hr_bpm"] - 80) < 4 and state["stats"]["bad_crc"] + \
            state["stats"]["skipped_bytes"] > 0                          # the garbage was seen and skipped
        ii = np.asarray(x[:, 1], float)
        assert np.ptp(ii[np.isfinite(ii)]) > 0.5                          # a real lead II, in mV

        # the UI shows it (configured port, fresh file)
        app = create_app(st, {"SSE_MAX_S": 0.5})
        from device.store import Store
        s = Store.open(st.data_dir)
        users.create_user(s.conn, "sono", "Sono", "sonographer", "482913")
        s.close()
        ui = UiClient(app.test_client())
        ui.get("/login")
        assert ui.post("/login", {"username": "sono", "pin": "482913"}).status_code == 302
        page = ui.get("/ecg/live")
        assert b'id="ecg-live-canvas"' in page.data and b"ecg-live-off" not in page.data
        j = ui.get("/api/ecg/live").get_json()
        assert j["running"] and j["status"] == "ok" and abs(j["hr_bpm"] - 80) < 4

        pause.set()                                                       # the board goes quiet
        time.sleep(2.8)
        assert read_live(st.run_dir)[3]["status"] == "no_signal"
        pause.clear()
        time.sleep(1.0)
        assert read_live(st.run_dir)[3]["status"] == "ok"
    finally:
        svc.stop()
        stop.set()
        board.join(timeout=5)
        os.close(master)
        os.close(slave)
    assert not svc.alive


def test_every_ecg_string_exists_in_both_languages():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "webui"
    en = json.loads((root / "i18n" / "ecg.en.json").read_text(encoding="utf-8"))
    zh = json.loads((root / "i18n" / "ecg.zh-CN.json").read_text(encoding="utf-8"))
    assert set(en) == set(zh) and all(zh[k].strip() for k in zh)
    from webui.i18n import catalogue
    known = catalogue("en")
    used = set()
    for p in root.glob("templates/ecg*.html"):
        used |= set(re.findall(r"\bt\('([a-zA-Z_]+)'[,)]", p.read_text(encoding="utf-8")))
    src = (root / "views" / "ecg.py").read_text(encoding="utf-8")
    used |= set(re.findall(r'"(ecg_[a-z_]+)"', src)) - {"ecg_screen", "ecg_reader", "ecg_measure", "ecg_reading",
                                                      "ecg_qtc_long", "ecg_hr_low", "ecg_hr_high", "ecg_live"}
    # the dynamic keys: measurement names, units, sources, screen labels, calibration sources
    from device.usecases.ecg_reading import UNITS
    used |= {f"ecg_m_{n}" for n in UNITS} | {f"ecg_u_{u}" for u in UNITS.values()}
    used |= {f"ecg_src_{s}" for s in ("auto", "edited", "confirmed", "manual")}
    used |= {f"ecg_label_{s}" for s in ("normal", "abnormal", "undetermined")}
    used |= {f"ecg_cal_{s}" for s in ("grid", "assumed", "user")}
    missing = sorted(k for k in used if k not in known)
    assert not missing, missing


def test_report_rows_ranges_by_sex_and_interpretation():
    from device.reporting.ecg_sections import report_measurement
    from device.domain import Measurement

    def row(name, value, unit="ms", source="auto"):
        return Measurement(1, 1, 1, name, value, unit, "ecg_reader", "0.1.0", (), source, None, "")

    _, m = report_measurement(row("qtc_bazett_ms", 455.0), "M")
    assert m.ref_high == 450.0 and m.flag == "H" and "prolonged" in m.interpretation and not m.confirmed
    _, f = report_measurement(row("qtc_bazett_ms", 455.0), "F")
    assert f.ref_high == 460.0 and f.flag == "" and "prolonged" not in f.interpretation
    _, u = report_measurement(row("qtc_fridericia_ms", 440.0), "U")
    assert u.ref_high == 450.0 and "sex unknown" in u.interpretation
    sec, ax = report_measurement(row("axis_deg", -45.0, "deg", "edited"), "M")
    assert sec == "axis" and "left axis deviation" in ax.interpretation and ax.confirmed
    _, pr = report_measurement(row("pr_ms", 230.0), "F", "zh-CN")
    assert pr.label == "PR 间期" and (pr.ref_low, pr.ref_high) == (120.0, 200.0) and pr.flag == "H"
    sec, other = report_measurement(row("st_j_mv", 0.1, "mV"), "F")
    assert sec == "other" and other.ref_low is None and other.ref_high is None


def test_a_real_phone_photo_is_read(login, settings):
    """A real photographed printout (Paper2Pulse, see tests/fixtures/ecg/ATTRIBUTION.md) through the upload."""
    from pathlib import Path

    photo = Path(__file__).resolve().parents[1] / "fixtures" / "ecg" / "02794_hr-0_1600.jpg"
    eid = _exam(settings)
    ui = login("doc", "physician")
    r = _upload(ui, eid, photo.read_bytes(), photo.name)
    assert r.status_code == 302, r.data[:2000]
    assert _worked(ui, settings, r).status_code == 200
    sig = _rows(settings, "SELECT meta FROM captures WHERE exam_id = ? AND kind = 'signal'", eid)
    meta = json.loads(sig[0]["meta"])
    assert meta["layout"].startswith("3x4") and meta["quality"]["trace_coverage"] > 0.5
    hr = _rows(settings, "SELECT value FROM measurements WHERE exam_id = ? AND name = 'hr_bpm'", eid)
    from device.ecg.measure import measure
    from device.sim.ecg_paper import record_signals
    truth = measure(record_signals(photo.with_name("02794_hr.hea")).astype(float), 500.0).hr_bpm
    assert abs(hr[0]["value"] - truth) < 3
