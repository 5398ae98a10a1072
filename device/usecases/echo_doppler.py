"""Spectral Doppler screens of an echo exam (issue 14), the use case: a screen uploaded on the echo page, or an echo
clip the live view model named OTHER (spectral screens carry no B-mode view), is read by a job
(``echo.read_doppler``, never in a web request) with ``device.echo.doppler.read_doppler`` (kind recognised from the
screen's label and trace). Its values become the exam's measurements (source "auto", model ``doppler-envelope``),
rounded as echo labs report them (:data:`DECIMALS`), editable on the report like the LV values; the reading (kind,
calibration, traced envelope, refusal reason) is a finding of kind :data:`FINDING_KIND`.

A newer screen's value supersedes the exam's current automatic value of the same name; a value a person confirmed
or edited is kept (the new reading is kept aside in the finding). The aortic dimensionless velocity index
(``av_dvi`` = LVOT VTI / AV VTI) is derived once both VTIs exist, and the continuity-equation AVA (``av_ava_cm2``) once the exam also has a 2-D LVOT
diameter (:func:`derive_ava`). Average E/e' (``mv_e_e_prime``) is recomputed from
the exam's current E and e' values after each reading. An OTHER clip that shows no spectral panel stores no values
(only a "not_spectral" finding, so it is not read again). Exactly once: a job resumed after a kill finds the
capture's finding and returns it; OTHER clips saved but never queued are queued by the worker at start.
"""

from __future__ import annotations

import sqlite3
import tempfile
from typing import Any

import numpy as np

from device.errors import InputError, UserError
from device.store import clinical
from device.store.db import Tx

READ_KIND = "echo.read_doppler"
FINDING_KIND = "doppler_reading"
MODEL_NAME = "doppler-envelope"
MODEL_VERSION = "0.2"
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
# stored name -> decimals (ASE/EACVI reporting: velocities in cm/s whole, tissue e' to 0.1, m/s to 0.01, gradients
# and pressures whole mmHg, times whole ms, VTI to 0.1 cm, ratios to 0.1 (E/A to 0.01))
DECIMALS = {"mv_e_cm_s": 0, "mv_a_cm_s": 0, "mv_e_a_ratio": 2, "mv_dt_ms": 0, "mv_e_e_prime": 1,
            "e_prime_septal_cm_s": 1, "e_prime_lateral_cm_s": 1, "a_prime_septal_cm_s": 1, "a_prime_lateral_cm_s": 1,
            "lvot_vmax_m_s": 2, "lvot_vti_cm": 1, "lvot_peak_gradient_mmhg": 0, "lvot_mean_gradient_mmhg": 0,
            "av_vmax_m_s": 2, "av_vti_cm": 1, "av_peak_gradient_mmhg": 0, "av_mean_gradient_mmhg": 0,
            "tr_vmax_m_s": 2, "tr_peak_gradient_mmhg": 0, "rvsp_mmhg": 0, "ra_pressure_mmhg": 0,
            "pv_vmax_m_s": 2, "pv_vti_cm": 1, "pv_at_ms": 0, "av_dvi": 2}
NAMES = tuple(DECIMALS)
_UNITS = (("_cm_s", "cm/s"), ("_m_s", "m/s"), ("_mmhg", "mmHg"), ("_ms", "ms"), ("_cm", "cm"))


def unit_of(name: str) -> str:
    """``mv_e_cm_s`` -> "cm/s", ``av_mean_gradient_mmhg`` -> "mmHg"; ratios -> ""."""
    return next((u for suf, u in _UNITS if name.endswith(suf)), "")


def report_values(values: dict[str, Any]) -> dict[str, float]:
    """The reader's values under their report names, rounded (:data:`DECIMALS`); counts and unknown names dropped."""
    return {k: round(float(v), DECIMALS[k]) for k, v in values.items() if k in DECIMALS and v is not None
            and np.isfinite(v)}


def _sniff(data: bytes) -> str:
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return ".png"
    if data[:3] == b"\xff\xd8\xff":
        return ".jpg"
    if data[128:132] == b"DICM":
        return ".dcm"
    return ""


def screen_of(data: bytes, is_clip: bool = False) -> np.ndarray:
    """The (H, W, 3) uint8 screen of a stored payload: a CardioCart clip (its last frame), PNG, JPEG or DICOM."""
    from device.domain.codecs import decode_clip
    from device.drivers.files import read_any_frames

    if is_clip:
        frames = decode_clip(data).frames
        f = np.asarray(frames[-1])
    else:
        suffix = _sniff(data)
        if not suffix:
            raise InputError("the file is not a PNG, JPEG or DICOM image; save the frozen Doppler screen as one")
        with tempfile.NamedTemporaryFile(suffix=suffix) as t:
            t.write(data)
            t.flush()
            try:
                frames = read_any_frames(t.name, 1000)
            except (OSError, ValueError) as exc:
                raise InputError(f"the image cannot be read ({exc}); save the screen again") from None
        if not frames:
            raise InputError("the file holds no image; save the frozen Doppler screen")
        f = np.asarray(frames[-1])
    return np.repeat(f[:, :, None], 3, axis=2) if f.ndim == 2 else f[:, :, :3]


def _open_echo_exam(conn: sqlite3.Connection, exam_id: int) -> clinical.Exam:
    from device.services.echo_measure import _echo_exam, frozen_reason
    exam = _echo_exam(conn, exam_id)             # an echo exam whose report is not signed (UserError otherwise)
    why = frozen_reason(conn, exam)
    if why is not None:
        raise UserError(f"{why}: its measurements are frozen; a Doppler screen cannot be added now")
    return exam


def enqueue_read(conn: sqlite3.Connection, capture_id: int, exam_id: int | None = None) -> int:
    """Queue the reading of one stored screen or OTHER clip (not twice while one is waiting or running)."""
    from device.jobs import enqueue
    return enqueue(conn, READ_KIND, {"capture_id": int(capture_id)}, exam_id=exam_id,
                   dedupe_key=f"{READ_KIND}:{int(capture_id)}")


def unread_other_clips(conn: sqlite3.Connection) -> list[tuple[int, int]]:
    """(capture id, exam id) of OTHER clips in open echo exams without a Doppler reading and without a waiting or
    running reading job (the core was killed between saving the clip and queueing it)."""
    return [(int(r[0]), int(r[1])) for r in conn.execute(
        "SELECT c.id, c.exam_id FROM captures c JOIN exams e ON e.id = c.exam_id WHERE c.kind = 'clip' "
        "AND c.label = 'OTHER' AND e.kind = 'echo' AND e.status = 'open' AND NOT EXISTS (SELECT 1 FROM findings f "
        "WHERE f.capture_id = c.id AND f.kind = ?) AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.dedupe_key = ? || c.id "
        "AND j.state IN ('queued', 'running')) ORDER BY c.id", (FINDING_KIND, f"{READ_KIND}:"))]


def enqueue_unread_other_clips(conn: sqlite3.Connection) -> int:
    """The worker's recovery hook: queue the reading of every OTHER clip saved but never read nor queued."""
    clips = unread_other_clips(conn)
    for cap_id, exam_id in clips:
        enqueue_read(conn, cap_id, exam_id)
    return len(clips)


def add_screen(conn: sqlite3.Connection, blobs, exam_id: int, data: bytes, filename: str,
               user: tuple[int | None, str]) -> tuple[int, int]:
    """Store an uploaded Doppler screen (PNG/JPEG/DICOM) in an open echo exam and queue its reading.
    Returns (capture id, job id). One-line InputError/UserError for a bad file or a frozen exam."""
    from device.store import audit
    if not data:
        raise InputError("no file was chosen; pick the frozen Doppler screen (PNG, JPEG or DICOM)")
    if len(data) > MAX_UPLOAD_BYTES:
        raise InputError(f"the file is larger than {MAX_UPLOAD_BYTES // 2**20} MB; save one frozen screen")
    suffix = _sniff(data)
    if not suffix:
        raise InputError("the file is not a PNG, JPEG or DICOM image; save the frozen Doppler screen as one")
    media = {".png": "image/png", ".jpg": "image/jpeg", ".dcm": "application/dicom"}[suffix]
    with Tx(conn):
        exam = _open_echo_exam(conn, exam_id)
        cap = clinical.add_capture(conn, blobs, exam.id, "frame", data, media, "OTHER", None,
                                   {"source": "upload", "filename": filename[:120], "doppler": True})
        job = enqueue_read(conn, cap.id, exam.id)
        audit.record(conn, user_id=user[0], username=user[1], action="create", object_type="doppler_screen",
                     object_id=cap.id, detail={"exam_id": exam.id, "job_id": job})
    return cap.id, job


def _finding_of(conn: sqlite3.Connection, exam_id: int, capture_id: int) -> dict[str, Any] | None:
    for f in clinical.list_findings(conn, exam_id):
        if f["kind"] == FINDING_KIND and f["capture_id"] == capture_id:
            return f
    return None


def readings(conn: sqlite3.Connection, exam_id: int) -> list[dict[str, Any]]:
    """The exam's Doppler readings (finding rows with detail), oldest first, without the OTHER clips that showed no
    spectral panel: for the echo page."""
    return [f for f in clinical.list_findings(conn, exam_id) if f["kind"] == FINDING_KIND
            and f["detail"].get("status") != "not_spectral"]


def _store(conn, exam, capture_id: int, values: dict[str, float]) -> tuple[list[int], list[str]]:
    """Rows for the reading's values (superseding the exam's current automatic rows of the same names); names whose
    current value a person confirmed or edited are not replaced (returned as kept)."""
    cur = {m.name: m for m in clinical.current_measurements(conn, exam.id)}
    ids, kept = [], []
    for name, v in values.items():
        old = cur.get(name)
        if old is not None and old.source != "auto":
            kept.append(name)
            continue
        ids.append(clinical.add_measurement(conn, exam.id, capture_id, name, v, unit_of(name), MODEL_NAME,
                                            MODEL_VERSION, (0,), source="auto",
                                            supersedes=old.id if old is not None else None))
    cur = {m.name: m for m in clinical.current_measurements(conn, exam.id)}
    e = cur.get("mv_e_cm_s")
    primes = [cur[k].value for k in ("e_prime_septal_cm_s", "e_prime_lateral_cm_s") if k in cur and cur[k].value]
    old = cur.get("mv_e_e_prime")
    if e is not None and primes and (old is None or old.source == "auto"):
        ratio = round(e.value / (sum(primes) / len(primes)), DECIMALS["mv_e_e_prime"])
        if old is None or abs(old.value - ratio) > 1e-9:
            ids.append(clinical.add_measurement(conn, exam.id, capture_id, "mv_e_e_prime", ratio, "", MODEL_NAME,
                                                MODEL_VERSION, (0,), source="auto",
                                                supersedes=old.id if old is not None else None))
    ids += _derive_dvi(conn, exam.id, capture_id)
    ids += derive_ava(conn, exam.id, capture_id)
    return ids, kept


def _derive_dvi(conn, exam_id: int, capture_id: int) -> list[int]:
    """Dimensionless velocity index of the aortic valve, LVOT VTI / AV VTI (ASE/EACVI 2017: < 0.25 severe aortic
    stenosis), from the exam's current VTIs; needs no LVOT diameter. Not written over a person's value."""
    cur = {m.name: m for m in clinical.current_measurements(conn, exam_id)}
    lvot, av, old = cur.get("lvot_vti_cm"), cur.get("av_vti_cm"), cur.get("av_dvi")
    if lvot is None or av is None or not av.value or (old is not None and old.source != "auto"):
        return []
    dvi = round(lvot.value / av.value, DECIMALS["av_dvi"])
    if old is not None and abs(old.value - dvi) <= 1e-9:
        return []
    return [clinical.add_measurement(conn, exam_id, capture_id, "av_dvi", dvi, "", MODEL_NAME, MODEL_VERSION, (0,),
                                     source="auto", supersedes=old.id if old is not None else None)]


def derive_ava(conn, exam_id: int, capture_id: int) -> list[int]:
    """Aortic valve area by continuity (``av_ava_cm2``, cm2; ASE/EACVI 2017: < 1.0 severe AS) from the exam's current
    2-D LVOT diameter (``lvot_diam_mm``) and both VTIs; recomputed when any of them changed (also after an edit of
    the LVOT caliper: device.services.echo_measure2d calls this), never over a person's value. Caller holds the Tx."""
    from device.values import ava_cm2
    cur = {m.name: m for m in clinical.current_measurements(conn, exam_id)}
    d, lvot, av, old = (cur.get(k) for k in ("lvot_diam_mm", "lvot_vti_cm", "av_vti_cm", "av_ava_cm2"))
    if d is None or lvot is None or av is None or not av.value or not d.value or \
            (old is not None and old.source != "auto"):
        return []
    ava = round(ava_cm2(d.value, lvot.value, av.value), 2)
    if old is not None and abs(old.value - ava) <= 1e-9:
        return []
    return [clinical.add_measurement(conn, exam_id, capture_id, "av_ava_cm2", ava, "cm2", MODEL_NAME, MODEL_VERSION,
                                     (0,), source="auto", supersedes=old.id if old is not None else None)]


def read_job(payload: dict, progress) -> dict:
    """Read the screen ``payload['capture_id']`` and store its values (a refusal with its reason is a result too)."""
    from device.echo.doppler import read_doppler
    from device.services.echo_measure import frozen_reason

    store = getattr(progress, "store", None)
    if store is None:
        raise RuntimeError("a Doppler reading job needs the worker's store (run it through device.jobs.worker)")
    settings = getattr(progress, "settings", None)
    conn, cap_id = store.conn, int(payload["capture_id"])
    cap = clinical.get_capture(conn, cap_id)
    done = _finding_of(conn, cap.exam_id, cap_id)
    if done is not None:
        d = done["detail"]
        return {"capture_id": cap_id, "finding_id": done["id"], "status": d.get("status"), "kind": d.get("kind"),
                "reason": d.get("reason", ""), "values": d.get("values", {}), "already": True}
    progress(0.1, "reading the Doppler screen")
    ra = settings.echo.doppler_ra_pressure_mmhg if settings is not None else 8.0
    try:
        rgb = screen_of(store.blobs.get(cap.blob_sha256), cap.kind == "clip")
        r = read_doppler(rgb, None, ra)
    except (InputError, ValueError) as exc:          # ClipCodecError is a ValueError
        r = None
        reason = str(exc)
    uploaded = cap.meta.get("source") == "upload"
    if r is not None and r.refused and r.refused.startswith("no spectral Doppler panel") and not uploaded:
        with Tx(conn):             # marked, so the worker's recovery hook does not queue it again; no values
            fid = clinical.add_finding(conn, cap.exam_id, cap_id, FINDING_KIND, "not spectral", None, MODEL_NAME,
                                       MODEL_VERSION, {"status": "not_spectral", "reason": r.refused})
        return {"capture_id": cap_id, "finding_id": fid, "status": "not_spectral", "reason": r.refused, "values": {}}
    values = report_values(r.values) if r is not None and not r.refused else {}
    detail: dict[str, Any] = {
        "status": "measured" if values else "refused", "reason": (r.refused or "") if r is not None else reason,
        "kind": r.kind if r is not None else "unknown", "kind_source": r.kind_source if r is not None else "",
        "values": values, "ra_pressure_mmhg": ra, "method": r.method if r is not None else "",
        "calibration": {k: v for k, v in (r.calibration if r is not None else {}).items()
                        if k in ("panel", "baseline_row", "cm_s_per_row", "px_per_s", "unit", "irregular_rhythm",
                                 "rr_cv", "kind_label", "aliased_columns")},
        "envelope": [[x, round(y, 1)] for x, y in (r.envelope[::2] if r is not None else [])],
        "beats": [int(b["x"]) for b in (r.beats if r is not None else [])],
        "model_name": MODEL_NAME, "model_version": MODEL_VERSION, "job_id": getattr(progress, "job_id", None)}
    progress(0.8, "storing the Doppler values")
    with Tx(conn):
        exam = clinical.get_exam(conn, cap.exam_id)
        held = frozen_reason(conn, exam)
        if held is not None and values:
            detail |= {"status": "kept_aside", "reason": f"read after the measurements were frozen ({held}); "
                       "kept aside, not applied to the report"}
        ids, kept = _store(conn, exam, cap_id, values) if detail["status"] == "measured" else ([], [])
        detail["kept_reviewed"] = kept
        fid = clinical.add_finding(conn, exam.id, cap_id, FINDING_KIND, f"Doppler {detail['kind']}", None,
                                   MODEL_NAME, MODEL_VERSION, detail)
    return {"capture_id": cap_id, "finding_id": fid, "status": detail["status"], "kind": detail["kind"],
            "reason": detail["reason"], "values": values, "measurement_ids": ids, "already": False}

