"""The ECG jobs the worker runs: read a stored printout photo, correct a reading (speed, gain, moved lead boxes).

Both are idempotent per job: the stored reading carries the job id, and a job resumed after its worker was killed
returns the reading it had stored instead of storing a second one. Progress: decoding, reading the printout,
measuring and screening, storing.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import replace
from typing import Any

import numpy as np

from device.errors import InputError
from device.store import clinical
from device.usecases.ecg_images import decode_photo
from device.usecases.ecg_reading import check_editable, ecg_exam, save_serial, signal_of_job, store_reading

READ_KIND = "ecg.read"
CORRECT_KIND = "ecg.correct"
SERIAL_KIND = "ecg.serial_save"
_CACHE: OrderedDict[tuple, Any] = OrderedDict()   # (photo sha, speed, gain) -> (image, EcgReading), for corrections
_CACHE_LOCK = threading.Lock()


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


def box_times(boxes: list[dict[str, Any]], meta: dict[str, Any], speed: float, size: tuple[int, int]):
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


def moved_boxes(boxes: list[dict[str, Any]], old: list[dict[str, Any]]) -> bool:
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
        lead_boxes = box_times(boxes, meta, speed, size)
    else:
        lead_boxes = list(base.layout.boxes)
    return image, redigitise(base, lead_boxes, cal)




def _result(cap: clinical.Capture, photo_id: int) -> dict[str, Any]:
    return {"ok": True, "signal_capture_id": cap.id, "photo_capture_id": photo_id,
            "version": int(cap.meta.get("version", 1)), "exam_id": cap.exam_id}


def _context(progress):
    store = getattr(progress, "store", None)
    if store is None:
        raise RuntimeError("an ECG job needs the worker's store (run it through device.jobs.worker)")
    return store, getattr(progress, "job_id", None)


def read_job(payload: dict, progress) -> dict:
    """Read the photo capture ``payload['photo_capture_id']`` and store the reading (by ``user_id``/``username``)."""
    from device.ecg.api import analyse_reading

    store, job_id = _context(progress)
    conn = store.conn
    photo = clinical.get_capture(conn, int(payload["photo_capture_id"]))
    if job_id is not None and (done := signal_of_job(conn, job_id)) is not None:
        return _result(done, photo.id)             # stored before the worker was killed: finish, do not repeat
    exam = ecg_exam(conn, photo.exam_id)
    check_editable(conn, exam)
    progress(0.05, "decoding the photo")
    data = store.blobs.get(photo.blob_sha256)
    progress(0.15, "finding the paper, the grid and the traces")
    image, reading = read_photo(photo.blob_sha256, data)
    progress(0.7, "measuring and screening")
    analysis = analyse_reading(reading)
    progress(0.85, "storing the reading")
    user = (payload.get("user_id"), str(payload.get("username") or "worker"))
    cap = store_reading(conn, store.blobs, exam, photo, image, reading, analysis, user, job_id=job_id)
    return _result(cap, photo.id)


def correct_job(payload: dict, progress) -> dict:
    """Re-digitise the reading ``payload['signal_capture_id']`` at ``speed``/``gain`` with the person's ``boxes``
    (None: the layout's boxes) and store it as the next version (source edited)."""
    from device.ecg.api import analyse_reading

    store, job_id = _context(progress)
    conn = store.conn
    cap = clinical.get_capture(conn, int(payload["signal_capture_id"]))
    photo = clinical.get_capture(conn, int(cap.meta["photo_capture_id"]))
    if job_id is not None and (done := signal_of_job(conn, job_id)) is not None:
        return _result(done, photo.id)
    exam = ecg_exam(conn, cap.exam_id)
    check_editable(conn, exam)
    speed, gain, boxes = float(payload["speed"]), float(payload["gain"]), payload.get("boxes")
    moved = boxes is not None and moved_boxes(boxes, cap.meta["boxes"])
    progress(0.1, "reading the printout at the new calibration")
    image, reading = redigitise_photo(photo, store.blobs.get(photo.blob_sha256), cap.meta, speed, gain,
                                      boxes if moved else None)
    if not np.isfinite(reading.signals_mv).any():
        raise InputError("no traces: no trace could be followed in the boxes; drag them over the traces",
                         step="no traces")
    progress(0.7, "measuring and screening")
    analysis = analyse_reading(reading)
    progress(0.85, "storing the corrected reading")
    overrides = {"speed_mm_s": speed, "gain_mm_mv": gain, "boxes_moved": moved}
    user = (payload.get("user_id"), str(payload.get("username") or "worker"))
    new = store_reading(conn, store.blobs, exam, photo, image, reading, analysis, user, prev=cap,
                        overrides=overrides, job_id=job_id)
    return _result(new, photo.id)


def serial_job(payload: dict, progress) -> dict:
    """Analyse and store the serial recording kept in blob ``payload['blob_sha256']``."""
    store, job_id = _context(progress)
    conn = store.conn
    if job_id is not None and (done := signal_of_job(conn, job_id)) is not None:
        return {"ok": True, "signal_capture_id": done.id, "seconds": done.meta.get("seconds"), "version": 1}
    exam = ecg_exam(conn, int(progress.exam_id))
    progress(0.2, "measuring and screening the recording")
    user = (payload.get("user_id"), str(payload.get("username") or "worker"))
    cap = save_serial(conn, store.blobs, exam, store.blobs.get(payload["blob_sha256"]), str(payload.get("port", "")),
                      user, job_id)
    return {"ok": True, "signal_capture_id": cap.id, "seconds": cap.meta["seconds"], "version": 1}
