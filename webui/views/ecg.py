"""Paper ECG in the UI: upload or photograph a printout, read it, confirm the traces, correct it; live serial ECG.

Flow of a photo (upload, phone, browser camera or the cart's camera): the bytes are stored FIRST as a capture of
kind ``photo`` (its own transaction), then ``device.ecg`` reads it in the request (~1.5 s on the cart). A reading is
stored in one transaction: a ``signal`` capture (npz: ``signals_mv`` (5000, 12) float32 mV with NaN where not
printed, ``fs_hz``, ``leads``; media ``application/x-cardiocart-signal+npz``) whose meta holds the layout, boxes,
calibration, analysis and the blobs of the preview (photo JPEG with the paper outline), the rectified printout
(JPEG), the traces (JSON) and the overlay (PNG, the report's key image); measurements with units in their names;
findings (combined screen with score, rhythm); critical alerts. A correction (moved lead boxes, paper speed, gain)
re-runs the digitisation and stores a new signal capture whose measurements (source ``edited``) supersede the
previous ones. An unreadable image leaves the photo stored and names the step that failed.
"""

from __future__ import annotations

import io
import json
import logging
import tempfile
import threading
from collections import OrderedDict
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from flask import (
    Blueprint,
    Response,
    abort,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)

from device import __version__
from device.errors import InputError, UserError
from device.store import clinical, reports
from device.store.blobs import put_blob
from device.store.db import Tx
from webui.security import roles_required
from webui.views.common import audit_log, conn, flash_key, pop_flash, services, settings

log = logging.getLogger(__name__)
bp = Blueprint("ecg", __name__)
EDIT_ROLES = ("sonographer", "physician")
NAV = [("ecg.live_page", "ecg_live_nav", None)]
EXAM_ACTIONS = [("ecg.page", "ecg_open", None, ("ecg",)), ("ecg.camera_page", "ecg_camera", EDIT_ROLES, ("ecg",))]
SIGNAL_MEDIA = "application/x-cardiocart-signal+npz"
READER = ("ecg_reader", __version__)       # the paper pipeline (rectify, grid, layout, digitise, measure)
LIVE_MEASURE = ("ecg_measure", __version__)  # measurements of a serial recording
UNITS = {"hr_bpm": "/min", "rr_ms": "ms", "pr_ms": "ms", "qrs_ms": "ms", "qt_ms": "ms", "qtc_bazett_ms": "ms",
         "qtc_fridericia_ms": "ms", "axis_deg": "deg"}
STEP_KEYS = {"no paper found": "ecg_step_paper", "no grid": "ecg_step_grid", "too blurred": "ecg_step_blur",
             "no traces": "ecg_step_traces", "load": "ecg_step_load", "too small": "ecg_step_small",
             "layout": "ecg_step_layout"}
_MAGIC = ((b"\x89PNG\r\n\x1a\n", "image/png", ".png"), (b"\xff\xd8\xff", "image/jpeg", ".jpg"),
          (b"II*\x00", "image/tiff", ".tif"), (b"MM\x00*", "image/tiff", ".tif"),
          (b"%PDF-", "application/pdf", ".pdf"), (b"BM", "image/bmp", ".bmp"))
_CACHE: OrderedDict[tuple, Any] = OrderedDict()   # (photo sha, speed, gain) -> EcgReading, for corrections
_CACHE_LOCK = threading.Lock()


def sniff(data: bytes) -> tuple[str, str]:
    """(media type, file suffix) from the first bytes; ("application/octet-stream", "") when not an image."""
    for magic, media, suffix in _MAGIC:
        if data.startswith(magic):
            return media, suffix
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp", ".webp"
    return "application/octet-stream", ""


def critical_alerts(m: dict[str, Any]) -> list[tuple[str, str]]:
    """(code, message) of the critical values in a measurements dict: QTc > 500 ms, HR < 40 or > 150 /min."""
    out = []
    qtc, hr = m.get("qtc_bazett_ms"), m.get("hr_bpm")
    if qtc is not None and qtc > 500:
        out.append(("ecg_qtc_long", f"QTc {qtc:.0f} ms (Bazett) > 500 ms"))
    if hr is not None and hr < 40:
        out.append(("ecg_hr_low", f"heart rate {hr:.0f}/min < 40"))
    if hr is not None and hr > 150:
        out.append(("ecg_hr_high", f"heart rate {hr:.0f}/min > 150"))
    return out


def _model_of(source: str) -> tuple[str, str]:
    """'ecg_screen 1.0.0 int8/onnxruntime-CPU' -> ('ecg_screen', '1.0.0')."""
    parts = (source or "").split()
    return (parts[0], parts[1]) if len(parts) >= 2 else (source or "unknown", "")


def _ecg_exam(exam_id: int) -> clinical.Exam:
    exam = clinical.get_exam(conn(), exam_id)
    if exam.kind != "ecg":
        raise UserError(f"exam {exam.accession} is a {exam.kind} exam; ECG printouts go to an ECG exam")
    return exam


def _check_editable(c, exam: clinical.Exam) -> None:
    if exam.status != "open":
        raise UserError(f"exam {exam.accession} is closed; open a new ECG exam to add printouts")
    cur = reports.latest(c, exam.id)
    if cur is not None and cur.status == "signed":
        raise UserError(f"report version {cur.version} of this exam is signed; use Correct on the report page "
                        "before changing the ECG reading")


def _jpeg(rgb: np.ndarray, max_side: int = 0, quality: int = 85) -> tuple[bytes, float]:
    """JPEG bytes of an RGB image (downscaled so its longer side <= max_side when given) and the scale used."""
    h, w = rgb.shape[:2]
    s = min(1.0, max_side / max(h, w)) if max_side else 1.0
    img = cv2.resize(rgb, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA) if s < 1 else rgb
    ok, enc = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise UserError("the preview image could not be encoded")
    return enc.tobytes(), s


def _png(rgb: np.ndarray, max_side: int) -> bytes:
    h, w = rgb.shape[:2]
    s = min(1.0, max_side / max(h, w))
    img = cv2.resize(rgb, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA) if s < 1 else rgb
    ok, enc = cv2.imencode(".png", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 6])
    if not ok:
        raise UserError("the overlay image could not be encoded")
    return enc.tobytes()


def _npz(signals_mv: np.ndarray, fs_hz: float, leads: tuple[str, ...]) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, signals_mv=np.asarray(signals_mv, np.float32), fs_hz=np.float64(fs_hz),
                        leads=np.array(leads))
    return buf.getvalue()


# ---------------------------------------------------------------- reading and storing

def decode_photo(data: bytes) -> np.ndarray:
    """uint8 (H, W, 3) RGB of an uploaded PNG/JPEG/TIFF/BMP/WebP/PDF (first page). Raises InputError (step load)."""
    from device.ecg.imageio import load_image

    _media, suffix = sniff(data)
    if not suffix:
        raise InputError("the file is not a PNG, JPEG, TIFF or PDF image; photograph or scan the ECG printout and "
                         "upload that file", step="load")
    with tempfile.NamedTemporaryFile(suffix=suffix) as f:
        f.write(data)
        f.flush()
        return load_image(f.name)


def read_photo(photo_sha: str, data: bytes, speed: float | None = None, gain: float | None = None):
    """(decoded image, EcgReading); cached per (photo, speed, gain) so a correction does not re-read."""
    from device.ecg.reader import read_ecg_image

    key = (photo_sha, speed, gain)
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
            return hit
    image = decode_photo(data)
    reading = read_ecg_image(image, speed_mm_s=speed, gain_mm_mv=gain)
    with _CACHE_LOCK:
        _CACHE[key] = (image, reading)
        while len(_CACHE) > 2:
            _CACHE.popitem(last=False)
    return image, reading


def _traces_json(reading) -> bytes:
    out = []
    for b, poly in zip(reading.layout.boxes, reading.traces_px):
        p = np.asarray(poly, np.float32)
        step = max(1, int(np.ceil(p.shape[0] / 800)))
        out.append({"lead": b.lead, "points": np.round(p[::step], 1).tolist()})
    return json.dumps(out).encode()


def store_reading(c, exam: clinical.Exam, photo: clinical.Capture, image: np.ndarray, reading, analysis,
                  user_id: int | None, prev: clinical.Capture | None = None,
                  overrides: dict[str, Any] | None = None) -> clinical.Capture:
    """Store one reading of ``photo`` (see the module docstring) in one transaction; ``prev`` is the reading it
    corrects (its measurements are superseded with source ``edited``). Returns the signal capture."""
    from device.ecg.export import overlay_image

    blobs = services().blobs
    r, a = reading, analysis
    cal = r.calibration
    preview, s = _jpeg(image, 1600)
    rect_jpg, _ = _jpeg(r.rectified.image)
    overlay = _png(overlay_image(r), 1600)
    m = a.measurements.as_dict()
    version = int(prev.meta.get("version", 1)) + 1 if prev else 1
    ms = a.model_screen
    meta = {
        "version": version, "photo_capture_id": photo.id, "supersedes_capture": prev.id if prev else None,
        "source": "edited" if prev else "auto", "overrides": overrides or {},
        "model": f"{READER[0]} {READER[1]}", "fs_hz": r.fs_hz, "leads": list(r.lead_names),
        "layout": r.layout.name, "label_source": r.layout.label_source,
        "boxes": [b.as_dict() for b in r.layout.boxes],
        "calibration": {"px_per_mm_x": cal.px_per_mm_x, "px_per_mm_y": cal.px_per_mm_y,
                        "photo_px_per_mm_x": round(cal.photo_px_per_mm_x, 3),
                        "photo_px_per_mm_y": round(cal.photo_px_per_mm_y, 3), "speed_mm_s": cal.speed_mm_s,
                        "gain_mm_mv": cal.gain_mm_mv, "grid_found": cal.grid_found, "pulse_found": cal.pulse_found,
                        "source": cal.source},
        "paper_found": bool(r.rectified.paper_found),
        "paper_quad_preview": (np.asarray(r.rectified.paper_quad, float) * s).round(1).tolist(),
        "preview_size": [round(image.shape[1] * s), round(image.shape[0] * s)],
        "rectified_size": [int(r.rectified.image.shape[1]), int(r.rectified.image.shape[0])],
        "quality": {"sharpness": round(r.quality.sharpness, 1), "trace_coverage": round(r.quality.trace_coverage, 3),
                    "score": round(r.quality.score, 3)},
        "warnings": list(r.warnings), "timings_ms": {k: round(v) for k, v in r.timings_ms.items()},
        "analysis": a.as_dict(), "screen_models": {"signal": a.signal_screen.source,
                                                   "image": ms.source if ms else None},
        "key_image": False,
    }
    if overrides:
        meta["calibration"]["source"] = "user"
    with Tx(c):
        meta["preview_sha256"] = put_blob(c, blobs, preview, "image/jpeg")
        meta["rectified_sha256"] = put_blob(c, blobs, rect_jpg, "image/jpeg")
        meta["overlay_sha256"] = put_blob(c, blobs, overlay, "image/png")
        meta["traces_sha256"] = put_blob(c, blobs, _traces_json(r), "application/json")
        cap = clinical.add_capture(c, blobs, exam.id, "signal", _npz(r.signals_mv, r.fs_hz, r.lead_names),
                                   SIGNAL_MEDIA, f"12-lead v{version}", r.quality.score, meta)
        _store_results(c, exam, cap, m, a, READER, user_id, prev)
    return cap


def _store_results(c, exam: clinical.Exam, cap: clinical.Capture, m: dict[str, Any], a, model: tuple[str, str],
                   user_id: int | None, prev: clinical.Capture | None) -> None:
    """Measurements (superseding ``prev``'s current ones), findings and alerts of one analysis (inside a Tx)."""
    old = {r.name: r for r in clinical.current_measurements(c, exam.id) if prev and r.capture_id == prev.id}
    old_findings = {f["kind"]: f["id"] for f in clinical.list_findings(c, exam.id)
                    if prev and f["capture_id"] == prev.id}
    for name, unit in UNITS.items():
        v = m.get(name)
        if v is None or not np.isfinite(v):
            continue
        o = old.get(name)
        clinical.add_measurement(c, exam.id, cap.id, name, float(v), unit, model[0], model[1],
                                 source="edited" if prev else "auto", edited_by=user_id if prev else None,
                                 supersedes=o.id if o else None)
    sc, ms = a.screen, a.model_screen
    sig_model = _model_of(a.signal_screen.source)
    img_model = _model_of(ms.source) if ms else None
    combo = (f"{img_model[0]}+{sig_model[0]}", f"{img_model[1]}+{sig_model[1]}") if img_model else sig_model
    detail = {"findings": list(sc.findings), "combined": sc.as_dict(), "signal": a.signal_screen.as_dict(),
              "model": ms.as_dict() if ms else None, "version": cap.meta.get("version", 1)}
    if "ecg_screen" in old_findings:
        detail["supersedes"] = old_findings["ecg_screen"]
    clinical.add_finding(c, exam.id, cap.id, "ecg_screen", sc.label, float(sc.score), combo[0], combo[1], detail)
    rdetail = {"reason": a.rhythm.reason, "irregular": a.rhythm.irregular, "version": cap.meta.get("version", 1)}
    if "rhythm" in old_findings:
        rdetail["supersedes"] = old_findings["rhythm"]
    clinical.add_finding(c, exam.id, cap.id, "rhythm", a.rhythm.label, None, model[0], model[1], rdetail)
    open_codes = {al["code"] for al in clinical.list_alerts(c) if al["exam_id"] == exam.id}
    for code, msg in critical_alerts(m):
        if code not in open_codes:
            clinical.add_alert(c, exam.id, "critical", code, msg, {"capture_id": cap.id, "model": model[0]})


def _store_photo(exam: clinical.Exam, data: bytes, source: str, filename: str = "") -> clinical.Capture:
    if not data:
        raise InputError("the file is empty; choose the photo or scan of the ECG again")
    media, _ = sniff(data)
    c = conn()
    with Tx(c):
        cap = clinical.add_capture(c, services().blobs, exam.id, "photo", data, media,
                                   "ECG printout", None, {"source": source, "filename": Path(filename).name[:120],
                                                          "media_type": media})
        audit_log("create", "capture", cap.id, {"exam_id": exam.id, "kind": "photo", "source": source})
    return cap


def _read_and_store(exam: clinical.Exam, photo: clinical.Capture, data: bytes) -> tuple[clinical.Capture | None,
                                                                                      str | None]:
    """Read a stored photo and store the reading. Returns (signal capture, None) or (None, error message)."""
    from device.ecg.api import analyse_reading

    try:
        image, reading = read_photo(photo.blob_sha256, data)
        analysis = analyse_reading(reading)
        cap = store_reading(conn(), exam, photo, image, reading, analysis, g.user.id if g.get("user") else None)
    except InputError as exc:
        return None, _failed(exc, photo)
    except UserError:
        raise
    except Exception:
        log.exception("ECG reading of capture %s failed", photo.id)
        return None, _failed(None, photo)
    audit_log("create", "ecg_reading", cap.id, {"exam_id": exam.id, "photo_capture_id": photo.id,
                                                 "version": cap.meta["version"]})
    return cap, None


def _failed(exc: InputError | None, photo: clinical.Capture) -> str:
    from webui.app import current_language
    from webui.i18n import translate

    lang = current_language()
    step = getattr(exc, "step", None) if exc else None
    step_text = translate(lang, STEP_KEYS.get(step or "", "ecg_step_unknown"))
    detail = str(exc) if exc else translate(lang, "ecg_reader_crashed")
    if step and detail.startswith(f"{step}:"):  # the step is already named
        detail = detail[len(step) + 1:].strip()
        detail = detail[:1].upper() + detail[1:]
    detail = detail if detail.endswith(".") else detail + "."
    return translate(lang, "ecg_read_failed", step=step_text, detail=detail, capture=photo.id)


# ---------------------------------------------------------------- pages

def _current(c, exam_id: int) -> dict[str, Any] | None:
    """The latest reading of the exam for display (see :func:`_view_of`), or None."""
    from device.reporting.ecg_sections import latest_signal_capture

    cap = latest_signal_capture(c, exam_id)
    return _view_of(c, cap) if cap else None


def _view_of(c, cap: clinical.Capture) -> dict[str, Any]:
    """A reading for display: capture, meta, traces (with SVG points), (name, unit, current row) per measurement."""
    exam_id = cap.exam_id
    try:
        traces = json.loads(services().blobs.get(cap.meta["traces_sha256"])) if cap.meta.get("traces_sha256") else []
    except (OSError, UserError, ValueError) as exc:
        log.warning("traces of capture %s unreadable: %s", cap.id, exc)
        traces = []
    for t in traces:
        t["svg"] = " ".join(f"{x:.1f},{y:.1f}" for x, y in t["points"])
    rows = {r.name: r for r in clinical.current_measurements(c, exam_id) if r.capture_id == cap.id}
    meas = [(n, u, rows.get(n)) for n, u in UNITS.items()]
    return {"cap": cap, "meta": cap.meta, "traces": traces, "measurements": meas}


def _render(exam: clinical.Exam, error: str | None = None, code: int = 200):
    c = conn()
    caps = clinical.list_captures(c, exam.id)
    read_ids = {cp.meta.get("photo_capture_id") for cp in caps if cp.kind == "signal"}
    photos = [(p, p.id in read_ids) for p in caps if p.kind == "photo"]
    return render_template("ecg.html", exam=exam, photos=photos, cur=_current(c, exam.id), error=error,
                           flash=pop_flash(), can_edit=g.user.role in EDIT_ROLES), code


def _result(exam: clinical.Exam, cap: clinical.Capture | None, err: str | None, photo: clinical.Capture):
    if request.accept_mimetypes.best == "application/json":
        return jsonify({"ok": cap is not None, "error": err, "photo_capture_id": photo.id,
                        "signal_capture_id": cap.id if cap else None,
                        "redirect": url_for("ecg.page", exam_id=exam.id)}), (200 if cap else 422)
    if cap is None:
        return _render(exam, err, 422)
    flash_key("ecg_read_ok", version=cap.meta["version"])
    return redirect(url_for("ecg.page", exam_id=exam.id))


@bp.route("/exams/<int:exam_id>/ecg")
def page(exam_id: int):
    exam = _ecg_exam(exam_id)
    audit_log("view", "exam", exam_id, {"page": "ecg", "patient_id": exam.patient.patient_id})
    return _render(exam)


@bp.route("/exams/<int:exam_id>/ecg/upload", methods=["POST"])
@roles_required(*EDIT_ROLES)
def upload(exam_id: int):
    exam = _ecg_exam(exam_id)
    _check_editable(conn(), exam)
    files = [f for f in request.files.getlist("photo") if f.filename]
    if not files:
        raise InputError("no file was sent; choose the photo or scan of the ECG printout")
    f = files[0]
    data = f.read()
    photo = _store_photo(exam, data, request.form.get("source", "upload"), f.filename or "")
    cap, err = _read_and_store(exam, photo, data)
    return _result(exam, cap, err, photo)


@bp.route("/exams/<int:exam_id>/ecg/photo/<int:capture_id>/read", methods=["POST"])
@roles_required(*EDIT_ROLES)
def reread(exam_id: int, capture_id: int):
    exam = _ecg_exam(exam_id)
    _check_editable(conn(), exam)
    photo = clinical.get_capture(conn(), capture_id)
    if photo.exam_id != exam.id or photo.kind != "photo":
        abort(404)
    cap, err = _read_and_store(exam, photo, services().blobs.get(photo.blob_sha256))
    return _result(exam, cap, err, photo)


@bp.route("/exams/<int:exam_id>/ecg/blob/<sha>")
def blob(exam_id: int, sha: str):
    """A photo or a reading's preview images of this exam (nothing else is served)."""
    c = conn()
    mine = set()
    for cp in clinical.list_captures(c, exam_id):
        if cp.kind == "photo":
            mine.add(cp.blob_sha256)
        elif cp.kind == "signal":
            mine.update(cp.meta.get(k) for k in ("preview_sha256", "rectified_sha256", "overlay_sha256"))
    if sha not in mine:
        abort(404)
    row = c.execute("SELECT media_type FROM blobs WHERE sha256 = ?", (sha,)).fetchone()
    resp = Response(services().blobs.get(sha), mimetype=row[0] if row else "application/octet-stream")
    resp.headers["Cache-Control"] = "private, max-age=3600"
    return resp


# ---------------------------------------------------------------- correction

def _box_times(boxes: list[dict[str, Any]], meta: dict[str, Any], speed: float, size: tuple[int, int]):
    """LeadBoxes from the editor's boxes (rectified px): each box keeps its row's t = 0 (from the reading it
    corrects) and gets its time window from its position at ``speed``; boxes are clipped to the image and 0-10 s."""
    from device.ecg.types import LEADS, LeadBox

    cal = meta["calibration"]
    old_pps = cal["px_per_mm_x"] * cal["speed_mm_s"]
    pps = cal["px_per_mm_x"] * speed
    origins: dict[int, list[float]] = {}
    for b in meta["boxes"]:
        origins.setdefault(int(b.get("row", 0)), []).append(b["x0"] - b["t0_s"] * old_pps)
    origin = {r: float(np.median(v)) for r, v in origins.items()}
    default = float(np.median([v for vs in origins.values() for v in vs])) if origins else 0.0
    w, h = size
    out = []
    if not isinstance(boxes, list) or not 1 <= len(boxes) <= 24:
        raise InputError("the lead boxes are missing; reload the correction page", step="layout")
    for b in boxes:
        try:
            lead = str(b["lead"])
            x0, y0, x1, y1, base = (float(b[k]) for k in ("x0", "y0", "x1", "y1", "baseline_y"))
            row = int(b.get("row", 0))
        except (KeyError, TypeError, ValueError):
            raise InputError("a lead box is malformed; reload the correction page", step="layout") from None
        if lead not in LEADS:
            raise InputError(f"unknown lead '{lead}'; use one of {', '.join(LEADS)}", step="layout")
        if not all(np.isfinite([x0, y0, x1, y1, base])):
            raise InputError(f"the box of lead {lead} has no position; drag it over the trace", step="layout")
        x0, x1 = max(0.0, min(x0, x1)), min(float(w), max(x0, x1))
        y0, y1 = max(0.0, min(y0, y1)), min(float(h), max(y0, y1))
        o = origin.get(row, default)
        x0 = max(x0, o)
        x1 = min(x1, o + 10.0 * pps)
        if x1 - x0 < 8 or y1 - y0 < 8:
            raise InputError(f"the box of lead {lead} is outside the printout or too small; drag it over the "
                             "trace", step="layout")
        out.append(LeadBox(lead=lead, x0=x0, y0=y0, x1=x1, y1=y1, baseline_y=min(max(base, y0), y1),
                           t0_s=(x0 - o) / pps, t1_s=(x1 - o) / pps, row=row))
    return out


def _moved(boxes: list[dict[str, Any]], old: list[dict[str, Any]]) -> bool:
    if len(boxes) != len(old):
        return True
    for a, b in zip(boxes, old):
        if str(a.get("lead")) != b["lead"]:
            return True
        try:
            if any(abs(float(a[k]) - float(b[k])) > 0.5 for k in ("x0", "y0", "x1", "y1", "baseline_y")):
                return True
        except (KeyError, TypeError, ValueError):
            return True
    return False


def redigitise_photo(photo: clinical.Capture, data: bytes, meta: dict[str, Any], speed: float, gain: float,
                     boxes: list[dict[str, Any]] | None):
    """(image, corrected EcgReading): the printout read at ``speed``, then digitised again with ``gain`` and the
    person's boxes (or the layout's boxes at that speed when none were moved)."""
    from device.ecg.reader import redigitise

    image, base = None, None
    with _CACHE_LOCK:
        for (sha, _s, _g), (img, rd) in reversed(_CACHE.items()):
            if sha == photo.blob_sha256 and rd.calibration.speed_mm_s == speed:
                image, base = img, rd
                break
    if base is None:
        if boxes is None:  # calibration only: one read with both overrides is all it takes
            return read_photo(photo.blob_sha256, data, speed, gain)
        image, base = read_photo(photo.blob_sha256, data, speed, None)
    cal = replace(base.calibration, speed_mm_s=speed, gain_mm_mv=gain, source="user")
    if boxes is not None:
        size = (base.rectified.image.shape[1], base.rectified.image.shape[0])
        lead_boxes = _box_times(boxes, meta, speed, size)
    else:
        lead_boxes = list(base.layout.boxes)
    return image, redigitise(base, lead_boxes, cal)


def _signal_cap(exam: clinical.Exam, capture_id: int) -> clinical.Capture:
    cap = clinical.get_capture(conn(), capture_id)
    if cap.exam_id != exam.id or cap.kind != "signal" or not cap.meta.get("photo_capture_id"):
        abort(404)
    return cap


@bp.route("/exams/<int:exam_id>/ecg/reading/<int:capture_id>/correct", methods=["GET", "POST"])
@roles_required(*EDIT_ROLES)
def correct(exam_id: int, capture_id: int):
    from device.ecg.api import analyse_reading

    exam = _ecg_exam(exam_id)
    c = conn()
    cap = _signal_cap(exam, capture_id)
    error = None
    if request.method == "POST":
        _check_editable(c, exam)
        try:
            speed = float(request.form.get("speed", ""))
            gain = float(request.form.get("gain", ""))
        except ValueError:
            speed = gain = 0.0
        if speed not in (25.0, 50.0) or gain not in (5.0, 10.0, 20.0):
            raise InputError("choose a paper speed of 25 or 50 mm/s and a gain of 5, 10 or 20 mm/mV")
        try:
            boxes = json.loads(request.form.get("boxes") or "null")
        except ValueError:
            raise InputError("the lead boxes could not be read; reload the correction page") from None
        moved = boxes is not None and _moved(boxes, cap.meta["boxes"])
        photo = clinical.get_capture(c, int(cap.meta["photo_capture_id"]))
        try:
            image, reading = redigitise_photo(photo, services().blobs.get(photo.blob_sha256), cap.meta, speed, gain,
                                              boxes if moved else None)
            if not np.isfinite(reading.signals_mv).any():
                raise InputError("no traces: no trace could be followed in the boxes; drag them over the traces",
                                 step="no traces")
            analysis = analyse_reading(reading)
            overrides = {"speed_mm_s": speed, "gain_mm_mv": gain, "boxes_moved": moved}
            new = store_reading(c, exam, photo, image, reading, analysis, g.user.id, prev=cap, overrides=overrides)
        except InputError as exc:
            error = _failed(exc, photo)
        else:
            audit_log("edit", "ecg_reading", new.id, {"exam_id": exam.id, "supersedes_capture": cap.id, **overrides})
            flash_key("ecg_corrected", version=new.meta["version"])
            return redirect(url_for("ecg.page", exam_id=exam.id))
    else:
        audit_log("view", "ecg_reading", cap.id, {"exam_id": exam.id, "page": "correct"})
    latest = _current(c, exam.id)
    return render_template("ecg_correct.html", exam=exam, cur=_view_of(c, cap), error=error,
                           is_latest=latest is not None and latest["cap"].id == cap.id), (422 if error else 200)


# ---------------------------------------------------------------- camera

def camera_candidates() -> list[tuple[str, dict[str, Any]]]:
    """Cameras the cart may photograph a printout with: the Pi camera when picamera2 is installed, then USB
    cameras (/dev/video*) other than the echo capture device of ``[capture]``."""
    import glob

    from device.drivers.picamera import Picamera2Source

    out: list[tuple[str, dict[str, Any]]] = []
    if Picamera2Source.available() == "ok":
        out.append(("picamera2", {"width": 2028, "height": 1520, "fps": 10.0}))
    cfg = settings().capture
    busy = cfg.device if cfg.source == "opencv" else None
    for dev in sorted(glob.glob("/dev/video*")):
        if dev != busy:
            out.append(("opencv", {"device": dev, "width": 1920, "height": 1080, "fps": 15.0, "give_up_s": 2.0}))
    return out


def grab_photo(candidates: list[tuple[str, dict[str, Any]]], warmup: int = 5) -> tuple[np.ndarray, str]:
    """(RGB frame, which camera) from the first candidate that delivers frames (after ``warmup`` frames for the
    exposure to settle). Raises InputError naming what was tried when none does."""
    from device.drivers.registry import make_source

    tried = []
    for name, opts in candidates:
        label = f"{name} {opts.get('device', '')}".strip()
        src = None
        try:
            src = make_source(name, **opts)
            src.open()
            if getattr(src, "status", "ok") not in ("ok",):
                tried.append(f"{label}: does not open")
                continue
            frame = None
            for i, fr in enumerate(src):
                frame = fr.pixels
                if i + 1 >= warmup:
                    break
            if frame is not None:
                return np.ascontiguousarray(frame), label
            tried.append(f"{label}: no frame")
        except (UserError, OSError, RuntimeError, cv2.error) as exc:
            tried.append(f"{label}: {exc}")
        finally:
            if src is not None:
                try:
                    src.close()
                except Exception as exc:  # noqa: BLE001 - closing a dead camera may fail in many ways
                    log.debug("closing camera %s: %s", label, exc)
    what = "; ".join(tried) if tried else "no Pi camera (picamera2 not installed) and no USB camera at /dev/video*"
    raise InputError(f"no camera on the cart delivered a picture ({what}); connect the camera, or use "
                     "'Take photo' on a phone or upload a scan", step="camera")


@bp.route("/exams/<int:exam_id>/ecg/camera")
@roles_required(*EDIT_ROLES)
def camera_page(exam_id: int):
    exam = _ecg_exam(exam_id)
    audit_log("view", "exam", exam_id, {"page": "ecg_camera"})
    return render_template("ecg_camera.html", exam=exam, n_cameras=len(camera_candidates()))


@bp.route("/exams/<int:exam_id>/ecg/camera/capture", methods=["POST"])
@roles_required(*EDIT_ROLES)
def camera_capture(exam_id: int):
    exam = _ecg_exam(exam_id)
    _check_editable(conn(), exam)
    try:
        frame, which = grab_photo(camera_candidates())
    except InputError as exc:
        if request.accept_mimetypes.best == "application/json":
            return jsonify({"ok": False, "error": str(exc)}), 409
        return _render(exam, str(exc), 409)
    data, _ = _jpeg(frame, quality=92)
    photo = _store_photo(exam, data, "cart_camera", which.replace("/", "_") + ".jpg")
    cap, err = _read_and_store(exam, photo, data)
    return _result(exam, cap, err, photo)


# ---------------------------------------------------------------- live serial ECG

def _live_payload(max_points_per_s: int = 125) -> dict[str, Any]:
    import time

    from device.services.serial_ecg_service import read_live

    port = settings().ecg_serial.port
    got = read_live(services().run_dir)
    if got is None:
        return {"configured": bool(port), "running": False, "port": port}
    x, fs, leads, st = got
    k = max(1, round(fs / max_points_per_s))
    xs = np.round(x[::k].astype(np.float64), 3)
    fresh = time.time() - float(st.get("wall_time", 0)) < 3.0
    return {"configured": bool(port), "running": fresh, "port": st.get("port", port), "status": st.get("status"),
            "fs_hz": fs / k, "leads": list(leads), "seconds": x.shape[0] / fs if fs else 0,
            "signals": [[None if not np.isfinite(v) else float(v) for v in xs[:, j]] for j in range(xs.shape[1])],
            "hr_bpm": st.get("hr_bpm"), "measurements": st.get("measurements"), "stats": st.get("stats"),
            "model": st.get("model"), "error": st.get("error", "")}


@bp.route("/ecg/live")
def live_page():
    c = conn()
    audit_log("view", "ecg_live", "")
    exams = [e for e in clinical.list_exams(c, 50, "open") if e.kind == "ecg"]
    return render_template("ecg_live.html", port=settings().ecg_serial.port, exams=exams, flash=pop_flash(),
                           can_edit=g.user.role in EDIT_ROLES)


@bp.route("/api/ecg/live")
def live_api():
    return jsonify(_live_payload())


@bp.route("/ecg/live/save", methods=["POST"])
@roles_required(*EDIT_ROLES)
def live_save():
    """Store the last seconds of the serial ECG in an open ECG exam, with its measurements and screens."""
    from device.ecg.report import analyse
    from device.services.serial_ecg_service import read_live

    try:
        exam = _ecg_exam(int(request.form.get("exam_id", "0")))
    except ValueError:
        raise InputError("choose the ECG exam to save the recording to") from None
    c = conn()
    _check_editable(c, exam)
    got = read_live(services().run_dir)
    if got is None or got[0].shape[0] < 5 * got[1]:
        raise InputError("there are fewer than 5 s of serial ECG to save; check the electrodes and the board, "
                         "then try again")
    x, fs, leads, st = got
    a = analyse(x.astype(np.float64), fs, lead_names=leads)
    meta = {"version": 1, "source": "serial", "port": st.get("port", ""), "fs_hz": fs, "leads": list(leads),
            "model": f"{LIVE_MEASURE[0]} {LIVE_MEASURE[1]}", "analysis": a.as_dict(), "key_image": False,
            "screen_models": {"signal": a.signal_screen.source, "image": None}}
    with Tx(c):
        cap = clinical.add_capture(c, services().blobs, exam.id, "signal", _npz(x, fs, leads), SIGNAL_MEDIA,
                                   "serial ECG", None, meta)
        _store_results(c, exam, cap, a.measurements.as_dict(), a, LIVE_MEASURE, g.user.id, None)
        audit_log("create", "ecg_reading", cap.id, {"exam_id": exam.id, "source": "serial"})
    flash_key("ecg_live_saved", seconds=round(x.shape[0] / fs))
    return redirect(url_for("ecg.page", exam_id=exam.id))
