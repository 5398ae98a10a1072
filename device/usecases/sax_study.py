"""Short-axis MRI series in the UI, the use case (issue 16 point 3, issue 18 point 8): store an uploaded SAX series
(DICOM files, or a .zip of them) on an echo (LV) exam after a header check that refuses what is not a short-axis MR
series, then segment and measure it as a job (``sax.analyse``, the worker role) and store, in one transaction, the
analysis document (per frame: slice, phase, ED/ES, contours, the 11 LVQuan indices; the stack's EDV/ESV/SV/EF by
summation of discs, or why not), the display frames, the report measurements and the audit row.

Report measurements (``mri_sax_*``): EDV/ESV/SV/EF of the stack and the 11 indices at ED and ES of the reported
slice (the measurable slice nearest the middle of the stack). An automatic value never replaces a value a person
edited or confirmed (a later analysis leaves those rows as they are); SV and EF are always recomputed from the
current EDV and ESV (:mod:`device.usecases.sax_edit`).
"""

from __future__ import annotations

import io
import json
import logging
import math
import sqlite3
import tempfile
import threading
import zipfile
from collections import OrderedDict
from pathlib import Path

import cv2
import numpy as np

from device import __version__
from device.domain.records import REVIEWED_SOURCES
from device.errors import InputError, UserError
from device.reporting.sax_sections import ANALYSIS_SCHEMA, IMAGES_SCHEMA, PREFIX, phase_frame
from device.reporting.sax_sections import analyses as analyses  # the page reads them through this use case
from device.store import audit, clinical
from device.store.db import Tx
from device.usecases.sax_upload import check_series, unpack

log = logging.getLogger(__name__)
ANALYSE = "sax.analyse"
SERIES_SCHEMA = "cardiocart.sax_series.v1"
INDEX_NAMES = ("cavity_area_mm2", "myo_area_mm2", "dim1_mm", "dim2_mm", "dim3_mm", "rwt1_mm", "rwt2_mm", "rwt3_mm",
               "rwt4_mm", "rwt5_mm", "rwt6_mm")
VOLUME_NAMES = ("edv_ml", "esv_ml", "sv_ml", "ef_pct")


def unit_of(name: str) -> str:
    return {"ml": "mL", "pct": "%", "mm2": "mm2", "mm": "mm"}[name.rsplit("_", 1)[1]]


# ---------------------------------------------------------------- upload: store (checks in sax_upload)

def sax_exam(conn: sqlite3.Connection, exam_id: int, *, open_for: str = "") -> clinical.Exam:
    exam = clinical.get_exam(conn, exam_id)
    if exam.kind != "echo":
        raise UserError(f"exam {exam.accession} is an exam of type {exam.kind}; a short-axis MRI series belongs to an echo "
                        "(LV) exam")
    if open_for and exam.status != "open":
        raise UserError(f"exam {exam.accession} is closed; open a new exam for {open_for}")
    return exam


def store_upload(conn: sqlite3.Connection, blobs, exam: clinical.Exam, files: list[tuple[str, bytes]],
                 user: tuple[int | None, str]) -> tuple[clinical.Capture, int]:
    """Check, store (one zip blob, a ``document`` capture) and queue the analysis; returns (capture, job id)."""
    from device.jobs import enqueue

    dicoms = unpack(files)
    info = check_series(dicoms)
    if len(dicoms) > 1 and len(files) == 1:
        blob = files[0][1]             # the uploaded .zip as it is (its limits were checked in unpack)
    else:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
            for i, (_, data) in enumerate(dicoms):
                zf.writestr(f"{i:05d}.dcm", data)
        blob = buf.getvalue()
    meta = {"schema": SERIES_SCHEMA, "key_image": False, "filenames": [Path(n).name for n, _ in files][:50], **info}
    with Tx(conn):
        cap = clinical.add_capture(conn, blobs, exam.id, "document", blob, "application/zip",
                                   "short-axis MRI series", None, meta)
        audit.record(conn, user_id=user[0], username=user[1], action="create", object_type="capture",
                     object_id=cap.id, detail={"exam_id": exam.id, "kind": "sax_series", **info})
        job_id = enqueue(conn, ANALYSE, {"series_capture": cap.id, "user_id": user[0], "username": user[1]},
                         exam_id=exam.id)
    return cap, job_id


# ---------------------------------------------------------------- the analysis (pure given frames and model)

def contours(mask: np.ndarray, label_min: int, max_points: int = 24) -> list[list[float]]:
    """The outline of ``mask >= label_min`` (largest region) as at most ``max_points`` [x, y] pixel points."""
    m = (mask >= label_min).astype(np.uint8) if label_min > 1 else (mask == label_min).astype(np.uint8)
    cs, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not cs:
        return []
    c = max(cs, key=cv2.contourArea)[:, 0, :].astype(float)
    if len(c) < 3 or cv2.contourArea(c.astype(np.float32)) < 4.0:     # a speck: nothing a person could edit
        return []
    keep = np.unique(np.linspace(0, len(c), min(max_points, len(c)), endpoint=False).astype(int))
    return [[round(float(x), 1), round(float(y), 1)] for x, y in c[keep]]


def _finite(v) -> float | None:
    return round(float(v), 2) if v is not None and math.isfinite(float(v)) else None


def analyse_frames(frames, result) -> dict:
    """The analysis document's body from the read frames (device.lv.dicom_io) and their SaxSeriesResult."""
    from device.lv import CAVITY, MYOCARDIUM
    from device.lv.sax_volumes import positions_mm, stack_volumes

    pos = positions_mm(frames)
    slice_of: dict[float | None, int] = {}
    seen: dict[float | None, int] = {}
    out = []
    for k, (fr, r) in enumerate(zip(frames, result.frames)):
        key = round(fr.slice_location, 1) if fr.slice_location is not None else None
        slice_of.setdefault(key, len(slice_of))
        ph = seen.get(key, 0)
        seen[key] = ph + 1
        ind = r.indices.as_row() if r.indices is not None else {"cavity_area_mm2": r.cavity_area_mm2}
        out.append({"k": k, "file": r.file, "frame": r.frame, "slice": slice_of[key],
                    "location_mm": round(pos[k], 1) if pos[k] is not None else None,
                    "phase_index": ph, "phase": r.phase, "is_ed": r.is_ed, "is_es": r.is_es, "reason": r.reason,
                    "spacing_rc": list(fr.spacing_rc or ()), "shape": list(r.mask.shape[:2]),
                    "orientation": list(fr.orientation) if fr.orientation is not None else None,
                    "indices": {n: _finite(ind.get(n)) for n in INDEX_NAMES},
                    "endo": contours(r.mask, CAVITY), "epi": contours(r.mask, MYOCARDIUM)})
    volumes, why = None, ""
    try:
        v = stack_volumes([f["location_mm"] for f in out], [f["phase_index"] for f in out],
                          [f["indices"]["cavity_area_mm2"] for f in out])
        volumes = volume_row(v)
    except InputError as exc:
        why = str(exc)
    return {"frames": out, "n_slices": len(slice_of), "volumes": volumes, "volumes_reason": why,
            "reported_slice": reported_slice(out, volumes)}


def volume_row(v) -> dict:
    """A StackVolumes as the document stores it: EDV and ESV to 0.1 mL, SV and EF from those rounded values (so the
    page, the stored rows and the report agree to the last digit), the volume curve."""
    row = v.as_row()
    edv, esv = row["edv_ml"], row["esv_ml"]
    row["sv_ml"], row["ef_pct"] = round(edv - esv, 1), round(100.0 * (edv - esv) / edv, 1)
    return {**row, "volume_curve_ml": [round(x, 2) for x in v.volume_curve_ml]}


def reported_slice(frames: list[dict], volumes: dict | None = None) -> int | None:
    """The slice whose ED and ES indices go into the report: the one nearest the middle of the stack whose ED and
    ES frames (device.reporting.sax_sections.phase_frame) both have indices; None when there is none."""
    slices = sorted({f["slice"] for f in frames})
    mid = (len(slices) - 1) / 2
    for s in sorted(slices, key=lambda s: (abs(s - mid), s)):
        ed, es = phase_frame(frames, volumes, s, "ed"), phase_frame(frames, volumes, s, "es")
        if ed and es and ed["indices"]["dim1_mm"] is not None and es["indices"]["dim1_mm"] is not None:
            return s
    return None


def report_values(doc: dict) -> list[tuple[str, float, tuple[int, ...]]]:
    """(name, value, frames) of the report measurements of an analysis document."""
    rows: list[tuple[str, float, tuple[int, ...]]] = []
    v = doc.get("volumes")
    if v:
        ed_ks = tuple(f["k"] for f in doc["frames"] if f["phase_index"] == v["ed_phase"])
        es_ks = tuple(f["k"] for f in doc["frames"] if f["phase_index"] == v["es_phase"])
        edv, esv = float(v["edv_ml"]), float(v["esv_ml"])     # SV and EF from the stored EDV and ESV: consistent
        rows += [(PREFIX + "edv_ml", edv, ed_ks), (PREFIX + "esv_ml", esv, es_ks),
                 (PREFIX + "sv_ml", edv - esv, ed_ks + es_ks), (PREFIX + "ef_pct", 100.0 * (edv - esv) / edv,
                                                                ed_ks + es_ks)]
    s = doc.get("reported_slice")
    for phase in ("ed", "es"):
        fr = phase_frame(doc["frames"], doc.get("volumes"), s, phase)
        if fr is None:
            continue
        rows += [(f"{PREFIX}{phase}_{n}", float(val), (fr["k"],)) for n, val in fr["indices"].items()
                 if val is not None]
    return rows


def display_frames(frames) -> bytes:
    """The frames as one .npz of uint8 (N, H, W) arrays per shape (windowed 1-99th percentile), for the page."""
    arrays = {}
    for k, fr in enumerate(frames):
        a = fr.pixels if fr.pixels.ndim == 2 else fr.pixels.mean(axis=-1)
        lo, hi = np.percentile(a, (1, 99.5))
        arrays[f"f{k}"] = np.clip((a - lo) / max(hi - lo, 1e-6) * 255, 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


# ---------------------------------------------------------------- the job

def _store_measurements(c, exam_id: int, cap_id: int, doc: dict, model: tuple[str, str]) -> list[int]:
    """Automatic rows; a name whose current value a person edited or confirmed keeps that value."""
    current = {m.name: m for m in clinical.current_measurements(c, exam_id) if m.name.startswith(PREFIX)}
    ids = []
    for name, value, frames in report_values(doc):
        cur = current.get(name)
        if cur is not None and cur.source in REVIEWED_SOURCES:
            continue
        ids.append(clinical.add_measurement(c, exam_id, cap_id, name, value, unit_of(name), *model, frames=frames,
                                            supersedes=cur.id if cur else None))
    return ids


def _doc_of_job(c, exam_id: int, job_id: int | None) -> clinical.Capture | None:
    if job_id is None:
        return None
    return next((x for x in clinical.list_captures(c, exam_id) if x.kind == "document"
                 and x.meta.get("schema") == ANALYSIS_SCHEMA and x.meta.get("job_id") == job_id), None)


def _add_doc(c, blobs, exam_id: int, doc: dict, job_id: int | None) -> int:
    data = json.dumps(doc, ensure_ascii=False).encode("utf-8")
    meta = {"schema": ANALYSIS_SCHEMA, "status": doc["status"], "series_capture": doc["series_capture"],
            "key_image": False, "job_id": job_id, "supersedes": doc.get("supersedes")}
    return clinical.add_capture(c, blobs, exam_id, "document", data, "application/json", "short-axis MRI analysis",
                                None, meta).id


def analyse_job(payload: dict, progress) -> dict:
    """Read, segment and measure the stored series; store the document, display frames, measurements and audit
    (or a ``failed`` document with the reason: the series is kept). Safe to run again after a killed worker."""
    from device.lv.dicom_io import read_frames
    from device.lv.sax import measure_sax_series
    from device.lv.segment import load_lv_model

    store, job_id = progress.store, getattr(progress, "job_id", None)
    c, blobs = store.conn, store.blobs
    series = clinical.get_capture(c, int(payload["series_capture"]))
    if (done := _doc_of_job(c, series.exam_id, job_id)) is not None:
        return {"analysis_id": done.id, "status": done.meta.get("status"), "message": ""}
    progress(0.1, "reading the series")
    body, images, failure, model = None, None, None, ("", "")
    try:
        with tempfile.TemporaryDirectory(prefix="sax-") as d:
            with zipfile.ZipFile(io.BytesIO(blobs.get(series.blob_sha256))) as zf:
                for i, info in enumerate(zf.infolist()):   # own names: nothing from the archive chooses a path
                    if not info.is_dir() and not Path(info.filename).name.startswith("."):
                        (Path(d) / f"{i:05d}.dcm").write_bytes(zf.read(info))
            frames = read_frames(d)
        progress(0.3, f"segmenting {len(frames)} images")
        result = measure_sax_series(frames, load_lv_model("sax"))
        model = (result.model_name, result.model_version)
        progress(0.8, "measuring the stack")
        body = analyse_frames(frames, result)
        images = display_frames(frames)
        body["model"] = {"name": result.model_name, "version": result.model_version, "tag": result.model_tag}
    except UserError as exc:   # InputError, ModelError: the reason in the user's words
        failure = str(exc)
    except MemoryError:
        failure = "the series is too large for the cart's memory; upload fewer slices or phases"
    with Tx(c):
        if body is not None and images is not None:
            img = clinical.add_capture(c, blobs, series.exam_id, "document", images, "application/x-npz",
                                       "short-axis MRI frames", None, {"schema": IMAGES_SCHEMA, "key_image": False,
                                                                       "series_capture": series.id})
            doc = {"schema": ANALYSIS_SCHEMA, "status": "done", "series_capture": series.id, "images": img.id,
                   "cart_version": __version__, **body}
            doc["measurement_ids"] = _store_measurements(c, series.exam_id, series.id, doc, model)
        else:
            doc = {"schema": ANALYSIS_SCHEMA, "status": "failed", "series_capture": series.id,
                   "message": failure or "the series could not be analysed"}
        aid = _add_doc(c, blobs, series.exam_id, doc, job_id)
        audit.record(c, user_id=payload.get("user_id"), username=str(payload.get("username") or "worker"),
                     action="create", object_type="sax_analysis", object_id=aid,
                     detail={"exam_id": series.exam_id, "series_capture": series.id, "status": doc["status"],
                             "message": doc.get("message", "")})
    return {"analysis_id": aid, "status": doc["status"], "message": doc.get("message", "")}


# ---------------------------------------------------------------- reading back

_FRAMES: OrderedDict[int, dict[str, np.ndarray]] = OrderedDict()   # images capture id -> its decoded frames
_FRAMES_LOCK = threading.Lock()


def _frames_of(conn: sqlite3.Connection, blobs, exam_id: int, images_id: int) -> dict[str, np.ndarray] | None:
    """The decoded display frames of an analysis (the last 2 kept: a 240-image series is ~16 MB; a page of 240
    thumbnails would otherwise read and inflate the whole blob 240 times)."""
    with _FRAMES_LOCK:
        if images_id in _FRAMES:
            _FRAMES.move_to_end(images_id)
            return _FRAMES[images_id]
    cap = clinical.get_capture(conn, images_id)
    if cap.exam_id != exam_id or cap.meta.get("schema") != IMAGES_SCHEMA:
        return None
    with np.load(io.BytesIO(blobs.get(cap.blob_sha256)), allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    with _FRAMES_LOCK:
        _FRAMES[images_id] = arrays
        while len(_FRAMES) > 2:
            _FRAMES.popitem(last=False)
    return arrays


def frame_png(conn: sqlite3.Connection, blobs, exam_id: int, images_id: int, k: int) -> bytes | None:
    """PNG of display frame ``k`` of an analysis, None if not there."""
    arrays = _frames_of(conn, blobs, exam_id, images_id)
    a = arrays.get(f"f{k}") if arrays is not None else None
    if a is None:
        return None
    ok, buf = cv2.imencode(".png", a)
    return buf.tobytes() if ok else None


GRID_TILE, GRID_PITCH = 48, 50          # px of one frame in the slice x phase mosaic, and its pitch (2 px gap)
_GRIDS: OrderedDict[int, bytes] = OrderedDict()


def grid_png(conn: sqlite3.Connection, blobs, exam_id: int, analysis_id: int) -> bytes | None:
    """One PNG of every frame of an analysis: row = slice, column = phase (GRID_PITCH apart), so a page shows a
    240-image series with one request. None when the analysis is not this exam's or has no frames."""
    with _FRAMES_LOCK:
        if analysis_id in _GRIDS:
            return _GRIDS[analysis_id]
    doc = next((d for cap, d in analyses(conn, blobs, exam_id) if cap.id == analysis_id), None)
    if doc is None or doc.get("status") != "done" or not doc.get("frames"):
        return None
    arrays = _frames_of(conn, blobs, exam_id, int(doc["images"]))
    if arrays is None:
        return None
    frames = doc["frames"]
    n_rows = max(f["slice"] for f in frames) + 1
    n_cols = max(f["phase_index"] for f in frames) + 1
    mosaic = np.zeros((n_rows * GRID_PITCH, n_cols * GRID_PITCH), np.uint8)
    for f in frames:
        a = arrays.get(f"f{f['k']}")
        if a is None:
            continue
        y, x = f["slice"] * GRID_PITCH, f["phase_index"] * GRID_PITCH
        mosaic[y:y + GRID_TILE, x:x + GRID_TILE] = cv2.resize(a, (GRID_TILE, GRID_TILE), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".png", mosaic)
    if not ok:
        return None
    with _FRAMES_LOCK:
        _GRIDS[analysis_id] = buf.tobytes()
        while len(_GRIDS) > 4:
            _GRIDS.popitem(last=False)
    return buf.tobytes()
