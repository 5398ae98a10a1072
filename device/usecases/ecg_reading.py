"""ECG reading, the use case: store a printout photo, read it (as a job), store the reading with its measurements,
findings and critical alerts, correct it (as a job), save a serial recording. The web UI, the CLI and the worker
call this module; the pure reading is :mod:`device.ecg`.

A reading is stored in one transaction: a ``signal`` capture (npz: ``signals_mv`` (5000, 12) float32 mV with NaN
where not printed, ``fs_hz``, ``leads``; media ``application/x-cardiocart-signal+npz``) whose meta holds the layout,
boxes, calibration, analysis and the blobs of the preview (photo JPEG with the paper outline), the rectified printout
(JPEG), the traces (JSON) and the overlay (PNG, the report's key image); measurements with units in their names;
findings (combined screen with score, rhythm); critical alerts; the audit row. A correction (moved lead boxes, paper
speed, gain) re-runs the digitisation and stores a new signal capture whose measurements (source ``edited``)
supersede the previous ones. An unreadable image leaves the photo stored and names the step that failed.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np

from device import __version__
from device.errors import InputError, UserError
from device.store import audit, clinical, reports
from device.store.blobs import BlobStore, put_blob
from device.store.db import Tx
from device.usecases.alerts import resolve_superseded
from device.usecases.ecg_images import jpeg, npz, png, sniff, traces_json

log = logging.getLogger(__name__)
SIGNAL_MEDIA = "application/x-cardiocart-signal+npz"
READER = ("ecg_reader", __version__)       # the paper pipeline (rectify, grid, layout, digitise, measure)
LIVE_MEASURE = ("ecg_measure", __version__)  # measurements of a serial recording
UNITS = {"hr_bpm": "/min", "rr_ms": "ms", "pr_ms": "ms", "qrs_ms": "ms", "qt_ms": "ms", "qtc_bazett_ms": "ms",
         "qtc_fridericia_ms": "ms", "axis_deg": "deg"}
# critical values (raise an alert): (code, measurement, comparison, table key, message template); the limits are
# in the one ECG threshold table (device/ecg/thresholds.toml, section [critical]) beside the screen's and report's
CRITICAL = (("ecg_qtc_long", "qtc_bazett_ms", ">", "qtc_bazett_ms", "QTc {v:.0f} ms (Bazett) > {lim:.0f} ms"),
            ("ecg_hr_low", "hr_bpm", "<", "hr_low_bpm", "heart rate {v:.0f}/min < {lim:.0f}"),
            ("ecg_hr_high", "hr_bpm", ">", "hr_high_bpm", "heart rate {v:.0f}/min > {lim:.0f}"))


def critical_alerts(m: dict[str, Any]) -> list[tuple[str, str]]:
    """(code, message) of the critical values in a measurements dict (:data:`CRITICAL`; shipped table: QTc > 500 ms,
    HR < 40 or > 150 /min)."""
    from device.ecg import thresholds

    out = []
    for code, name, op, key, text in CRITICAL:
        v, limit = m.get(name), float(thresholds.get("critical", key))
        if v is not None and (v > limit if op == ">" else v < limit):
            out.append((code, text.format(v=v, lim=limit)))
    return out


def model_of(source: str) -> tuple[str, str]:
    """'ecg_screen 1.0.0 int8/onnxruntime-CPU' -> ('ecg_screen', '1.0.0')."""
    parts = (source or "").split()
    return (parts[0], parts[1]) if len(parts) >= 2 else (source or "unknown", "")



def ecg_exam(conn: sqlite3.Connection, exam_id: int) -> clinical.Exam:
    exam = clinical.get_exam(conn, exam_id)
    if exam.kind != "ecg":
        raise UserError(f"exam {exam.accession} is an exam of type {exam.kind}; ECG printouts go to an ECG exam")
    return exam


def check_editable(conn: sqlite3.Connection, exam: clinical.Exam) -> None:
    if exam.status != "open":
        raise UserError(f"exam {exam.accession} is closed; open a new ECG exam to add printouts")
    cur = reports.latest(conn, exam.id)
    if cur is not None and cur.status == "signed":
        raise UserError(f"report version {cur.version} of this exam is signed; use Correct on the report page "
                        "before changing the ECG reading")


def store_photo(conn: sqlite3.Connection, blobs: BlobStore, exam: clinical.Exam, data: bytes, source: str,
                filename: str, user: tuple[int | None, str], label: str = "") -> clinical.Capture:
    """Store the uploaded bytes as a ``photo`` capture with its audit row (one transaction), before any reading.
    ``label``: what the person called the photo (its reading is shown under it; default: the file name)."""
    if not data:
        raise InputError("the file is empty; choose the photo or scan of the ECG again")
    media, _ = sniff(data)
    label = " ".join((label or "").split())[:80]
    with Tx(conn):
        cap = clinical.add_capture(conn, blobs, exam.id, "photo", data, media, "ECG printout", None,
                                   {"source": source, "filename": Path(filename).name[:120], "media_type": media,
                                    "label": label})
        audit.record(conn, user_id=user[0], username=user[1], action="create", object_type="capture",
                     object_id=cap.id, detail={"exam_id": exam.id, "kind": "photo", "source": source})
    return cap


def signal_of_job(conn: sqlite3.Connection, job_id: int) -> clinical.Capture | None:
    """The reading a job stored already (a job resumed after its worker was killed after storing)."""
    row = conn.execute("SELECT id FROM captures WHERE kind = 'signal' AND json_extract(meta, '$.job_id') = ?",
                       (job_id,)).fetchone()
    return clinical.get_capture(conn, int(row[0])) if row else None


def latest_signal(conn: sqlite3.Connection, exam_id: int) -> clinical.Capture | None:
    """The exam's newest ``signal`` capture (the current reading), or None."""
    caps = [c for c in clinical.list_captures(conn, exam_id) if c.kind == "signal"]
    return caps[-1] if caps else None


def reading_view(conn: sqlite3.Connection, blobs: BlobStore, cap: clinical.Capture) -> dict[str, Any]:
    """A reading for display: capture, meta, traces (with SVG points), (name, unit, current row) per measurement."""
    import json
    try:
        traces = json.loads(blobs.get(cap.meta["traces_sha256"])) if cap.meta.get("traces_sha256") else []
    except (OSError, UserError, ValueError) as exc:
        log.warning("traces of capture %s unreadable: %s", cap.id, exc)
        traces = []
    for t in traces:
        t["svg"] = " ".join(f"{x:.1f},{y:.1f}" for x, y in t["points"])
    rows = {r.name: r for r in clinical.current_measurements(conn, cap.exam_id) if r.capture_id == cap.id}
    meas = [(n, u, rows.get(n)) for n, u in UNITS.items()]
    return {"cap": cap, "meta": cap.meta, "traces": traces, "measurements": meas}


def exam_blob(conn: sqlite3.Connection, exam_id: int, sha: str) -> str | None:
    """The media type of a photo or reading preview of this exam (None for anything else: not served)."""
    mine = set()
    for cp in clinical.list_captures(conn, exam_id):
        if cp.kind == "photo":
            mine.add(cp.blob_sha256)
        elif cp.kind == "signal":
            mine.update(cp.meta.get(k) for k in ("preview_sha256", "rectified_sha256", "overlay_sha256"))
    if sha not in mine:
        return None
    row = conn.execute("SELECT media_type FROM blobs WHERE sha256 = ?", (sha,)).fetchone()
    return row[0] if row else "application/octet-stream"


def enqueue_serial(conn: sqlite3.Connection, blobs: BlobStore, exam: clinical.Exam, x: np.ndarray, fs: float,
                   leads, state: dict[str, Any], user: tuple[int | None, str]) -> int:
    """Keep the serial ECG's last seconds (a blob) and queue their analysis and storage (``ecg.serial_save``)."""
    from device.jobs import enqueue

    check_editable(conn, exam)
    if x.shape[0] < 5 * fs:
        raise InputError("there are fewer than 5 s of serial ECG to save; check the electrodes and the board, "
                         "then try again")
    with Tx(conn):
        sha = put_blob(conn, blobs, npz(x, fs, leads), SIGNAL_MEDIA)
        return enqueue(conn, "ecg.serial_save", {"blob_sha256": sha, "port": state.get("port", ""),
                                                 "user_id": user[0], "username": user[1]}, exam_id=exam.id)


def save_serial(conn: sqlite3.Connection, blobs: BlobStore, exam: clinical.Exam, data: bytes, port: str,
                user: tuple[int | None, str], job_id: int | None = None) -> clinical.Capture:
    """Analyse a kept serial recording (npz bytes) and store it with its measurements and screens (one
    transaction, marked with the job that stored it)."""
    import io

    from device.ecg.report import analyse

    check_editable(conn, exam)
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        x, fs, leads = z["signals_mv"], float(z["fs_hz"]), tuple(str(v) for v in z["leads"])
    a = analyse(x.astype(np.float64), fs, lead_names=leads)
    meta = {"version": 1, "source": "serial", "port": port, "fs_hz": fs, "leads": list(leads),
            "model": f"{LIVE_MEASURE[0]} {LIVE_MEASURE[1]}", "analysis": a.as_dict(), "key_image": False,
            "screen_models": {"signal": a.signal_screen.source, "image": None}, "job_id": job_id,
            "seconds": round(x.shape[0] / fs)}
    with Tx(conn):
        cap = clinical.add_capture(conn, blobs, exam.id, "signal", data, SIGNAL_MEDIA, "serial ECG", None, meta)
        store_results(conn, exam, cap, a.measurements.as_dict(), a, LIVE_MEASURE, user[0], None)
        audit.record(conn, user_id=user[0], username=user[1], action="create", object_type="ecg_reading",
                     object_id=cap.id, detail={"exam_id": exam.id, "source": "serial"})
    return cap


def store_reading(c, blobs: BlobStore, exam: clinical.Exam, photo: clinical.Capture, image: np.ndarray, reading,
                  analysis, user: tuple[int | None, str], prev: clinical.Capture | None = None,
                  overrides: dict[str, Any] | None = None, job_id: int | None = None) -> clinical.Capture:
    """Store one reading of ``photo`` (see the module docstring) in one transaction; ``prev`` is the reading it
    corrects (its measurements are superseded with source ``edited``); ``user`` = (id, name) of who asked for it;
    ``job_id`` marks the reading as that job's result (a resumed job finds it). The audit row is in the same
    transaction. Returns the signal capture."""
    from device.ecg.export import overlay_image

    user_id = user[0]
    r, a = reading, analysis
    cal = r.calibration
    preview, s = jpeg(image, 1600)
    rect_jpg, _ = jpeg(r.rectified.image)
    overlay = png(overlay_image(r), 1600)
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
        "key_image": False, "job_id": job_id,
    }
    if overrides:
        meta["calibration"]["source"] = "user"
    with Tx(c):
        meta["preview_sha256"] = put_blob(c, blobs, preview, "image/jpeg")
        meta["rectified_sha256"] = put_blob(c, blobs, rect_jpg, "image/jpeg")
        meta["overlay_sha256"] = put_blob(c, blobs, overlay, "image/png")
        meta["traces_sha256"] = put_blob(c, blobs, traces_json(r), "application/json")
        cap = clinical.add_capture(c, blobs, exam.id, "signal", npz(r.signals_mv, r.fs_hz, r.lead_names),
                                   SIGNAL_MEDIA, f"12-lead v{version}", r.quality.score, meta)
        resolved = store_results(c, exam, cap, m, a, READER, user_id, prev)
        action = "edit" if prev else "create"
        detail = {"exam_id": exam.id, "photo_capture_id": photo.id, "version": version}
        if prev:
            detail |= {"supersedes_capture": prev.id, **(overrides or {}), "resolved_alerts": resolved}
        audit.record(c, user_id=user_id, username=user[1], action=action, object_type="ecg_reading",
                     object_id=cap.id, detail=detail)
    return cap


def store_results(c, exam: clinical.Exam, cap: clinical.Capture, m: dict[str, Any], a, model: tuple[str, str],
                   user_id: int | None, prev: clinical.Capture | None) -> list[int]:
    """Measurements (superseding ``prev``'s current ones), findings and alerts of one analysis (inside a Tx).
    ``prev``'s waiting critical alerts that this analysis no longer raises are resolved as superseded (their ids
    are returned for the audit row)."""
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
    sig_model = model_of(a.signal_screen.source)
    img_model = model_of(ms.source) if ms else None
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
    crit = critical_alerts(m)
    resolved = (resolve_superseded(c, exam.id, prev.id, cap.id, {code for code, _ in crit}, user_id)
                if prev else [])
    open_codes = {al["code"] for al in clinical.list_alerts(c) if al["exam_id"] == exam.id}
    for code, msg in crit:
        if code not in open_codes:
            clinical.add_alert(c, exam.id, "critical", code, msg, {"capture_id": cap.id, "model": model[0]})
    return resolved


# ---------------------------------------------------------------- jobs (the worker runs them: ecg_read_jobs.py)

def enqueue_read(conn: sqlite3.Connection, exam: clinical.Exam, photo: clinical.Capture,
                 user: tuple[int | None, str]) -> int:
    """Queue the reading of a stored photo; a read of the same photo still waiting is not queued twice."""
    from device.jobs import enqueue
    check_editable(conn, exam)
    if photo.exam_id != exam.id or photo.kind != "photo":
        raise UserError(f"capture {photo.id} is not a printout photo of exam {exam.accession}; reload the page")
    return enqueue(conn, "ecg.read", {"photo_capture_id": photo.id, "user_id": user[0], "username": user[1]},
                   exam_id=exam.id, dedupe_key=f"ecg.read:{photo.id}")


def enqueue_correction(conn: sqlite3.Connection, exam: clinical.Exam, cap: clinical.Capture, speed: float,
                       gain: float, boxes: list | None, user: tuple[int | None, str]) -> int:
    """Queue the correction of reading ``cap`` (paper speed 25/50 mm/s, gain 5/10/20 mm/mV, the person's boxes)."""
    from device.jobs import enqueue
    check_editable(conn, exam)
    if speed not in (25.0, 50.0) or gain not in (5.0, 10.0, 20.0):
        raise InputError("choose a paper speed of 25 or 50 mm/s and a gain of 5, 10 or 20 mm/mV")
    if boxes is not None and not isinstance(boxes, list):
        raise InputError("the lead boxes could not be read; reload the correction page")
    return enqueue(conn, "ecg.correct", {"signal_capture_id": cap.id, "speed": speed, "gain": gain, "boxes": boxes,
                                         "user_id": user[0], "username": user[1]}, exam_id=exam.id)
