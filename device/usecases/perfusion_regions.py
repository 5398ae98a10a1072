"""SPECTF regional counts on the perfusion page, the use case (issue 18 point 8: "SPECTF only on the command line").

One row of 44 counts (22 LV regions, rest and stress, percent of the study maximum, SPECTF column order
F1R,F1S,...,F22S; as ``python -m device perfusion regions`` reads) is checked and stored with the exam (a ``document``
capture), then classified by the ``perfusion_spectf`` model as a job (``perfusion.regions``, the worker role). The
result is stored in one transaction: a result document, the measurement ``spectf_prob_abnormal`` (the report's
perfusion summary shows it with the model's threshold), a finding naming the model, and the audit row. A value a
person reviewed is never replaced by a later automatic one.
"""

from __future__ import annotations

import json
import math
import sqlite3

from device.domain.records import REVIEWED_SOURCES
from device.errors import UserError
from device.store import audit, clinical
from device.store.db import Tx

REGIONS = "perfusion.regions"
COUNTS_SCHEMA = "cardiocart.spectf-counts/1"
RESULT_SCHEMA = "cardiocart.spectf-result/1"
MEASUREMENT = "spectf_prob_abnormal"
MODEL_NAME = "perfusion_spectf"
FINDING = "perfusion_spectf"
MAX_BYTES = 64 * 1024


def parse_upload(files: list[tuple[str, bytes]], text: str = "") -> tuple[str, list[float], str]:
    """(source name, the 44 counts, the CSV text) of one uploaded file or pasted text. UserError in one line."""
    from device.perfusion.spectf import parse_spectf

    files = [(n, d) for n, d in files if d]
    if len(files) > 1:
        raise UserError("give one SPECTF file (one row of 44 counts for this patient)")
    if files:
        name, data = files[0]
        if len(data) > MAX_BYTES:
            raise UserError(f"{name} is {len(data) // 1024} KB; a SPECTF row of 44 counts is under 1 KB - give this "
                            "patient's row only")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise UserError(f"{name} is not a text file; give a CSV of 44 comma-separated counts") from None
    else:
        name = "typed counts"
    if not text.strip():
        raise UserError("choose a SPECTF file or paste the 44 counts (F1R,F1S,...,F22S) first")
    rows = parse_spectf(text, name)
    if len(rows.counts) != 1:
        raise UserError(f"{name} holds {len(rows.counts)} rows; this exam is one patient - give that patient's row "
                        "only")
    return name, [float(x) for x in rows.counts[0]], text


def store_counts(conn: sqlite3.Connection, blobs, exam: clinical.Exam, files: list[tuple[str, bytes]], text: str,
                 user: tuple[int | None, str]) -> tuple[clinical.Capture, int]:
    """Check and store the counts, queue the classification; returns (capture, job id)."""
    from device.jobs import enqueue

    name, counts, raw = parse_upload(files, text)
    meta = {"schema": COUNTS_SCHEMA, "key_image": False, "source": name, "counts": counts}
    with Tx(conn):
        cap = clinical.add_capture(conn, blobs, exam.id, "document", raw.encode("utf-8"), "text/csv",
                                   "SPECTF regional counts", None, meta)
        audit.record(conn, user_id=user[0], username=user[1], action="create", object_type="capture",
                     object_id=cap.id, detail={"exam_id": exam.id, "kind": "spectf_counts", "source": name})
        job_id = enqueue(conn, REGIONS, {"counts_capture": cap.id, "user_id": user[0], "username": user[1]},
                         exam_id=exam.id)
    return cap, job_id


def _result_of_job(conn: sqlite3.Connection, exam_id: int, job_id: int | None) -> clinical.Capture | None:
    if job_id is None:
        return None
    return next((x for x in clinical.list_captures(conn, exam_id) if x.kind == "document"
                 and x.meta.get("schema") == RESULT_SCHEMA and x.meta.get("job_id") == job_id), None)


def _accuracy() -> str:
    """The model's measured accuracy as its manifest states it (first entry), e.g. 'roc_auc 0.845 (nested CV...)'."""
    from device.errors import ModelError
    from device.inference import model_provider

    try:
        acc = model_provider().manifest(MODEL_NAME).accuracy
    except (ModelError, OSError, ValueError, KeyError):
        return ""
    return "; ".join(f"{a.get('metric')} {a.get('value'):.3g} ({a.get('on', '')})" for a in acc[:2]
                     if isinstance(a.get("value"), (int, float)))


def regions_job(payload: dict, progress) -> dict:
    """Classify the stored counts and store the result (or a ``failed`` result with the reason)."""
    import numpy as np

    from device.perfusion.spectf import classify_regions

    store, job_id = progress.store, getattr(progress, "job_id", None)
    c, blobs = store.conn, store.blobs
    cap = clinical.get_capture(c, int(payload["counts_capture"]))
    if (done := _result_of_job(c, cap.exam_id, job_id)) is not None:
        return {"result_id": done.id, "status": done.meta.get("status"), "message": ""}
    progress(0.2, "classifying the regional counts")
    try:
        res = classify_regions(np.asarray([cap.meta["counts"]], np.float32))
        prob = float(res.prob_abnormal[0])
        parts = res.model.split()
        doc = {"schema": RESULT_SCHEMA, "status": "done", "counts_capture": cap.id, "prob_abnormal": prob,
               "abnormal": bool(res.abnormal[0]), "threshold": res.threshold, "model_tag": res.model,
               "model": parts[0] if parts else "", "version": parts[1] if len(parts) > 1 else "",
               "accuracy": _accuracy()}
    except UserError as exc:   # InputError, ModelError (model missing or altered): the reason in one line
        doc = {"schema": RESULT_SCHEMA, "status": "failed", "counts_capture": cap.id, "message": str(exc)}
    with Tx(c):
        if doc["status"] == "done" and math.isfinite(doc["prob_abnormal"]):
            cur = next((m for m in clinical.current_measurements(c, cap.exam_id) if m.name == MEASUREMENT), None)
            if cur is None or cur.source not in REVIEWED_SOURCES:
                doc["measurement_id"] = clinical.add_measurement(
                    c, cap.exam_id, cap.id, MEASUREMENT, doc["prob_abnormal"], "1", doc["model"], doc["version"],
                    supersedes=cur.id if cur else None)
            doc["finding_id"] = clinical.add_finding(
                c, cap.exam_id, cap.id, FINDING, "abnormal perfusion (SPECTF counts)" if doc["abnormal"] else
                "normal perfusion (SPECTF counts)", None, doc["model"], doc["version"],
                {"prob_abnormal": doc["prob_abnormal"], "threshold": doc["threshold"], "model": doc["model_tag"]})
        data = json.dumps(doc, ensure_ascii=False).encode("utf-8")
        rid = clinical.add_capture(c, blobs, cap.exam_id, "document", data, "application/json", "SPECTF result",
                                   None, {"schema": RESULT_SCHEMA, "status": doc["status"], "key_image": False,
                                          "job_id": job_id, "counts_capture": cap.id}).id
        audit.record(c, user_id=payload.get("user_id"), username=str(payload.get("username") or "worker"),
                     action="create", object_type="spectf_result", object_id=rid,
                     detail={"exam_id": cap.exam_id, "status": doc["status"], "message": doc.get("message", "")})
    return {"result_id": rid, "status": doc["status"], "message": doc.get("message", "")}


def results(conn: sqlite3.Connection, blobs, exam_id: int) -> list[tuple[clinical.Capture, dict]]:
    """The exam's SPECTF result documents, oldest first."""
    out = []
    for x in clinical.list_captures(conn, exam_id):
        if x.kind == "document" and x.meta.get("schema") == RESULT_SCHEMA:
            try:
                out.append((x, json.loads(blobs.get(x.blob_sha256))))
            except (OSError, ValueError) as exc:
                out.append((x, {"status": "failed", "message": f"the stored result cannot be read ({exc})"}))
    return out
