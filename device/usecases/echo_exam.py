"""Echo exam, the use case: the LV measurement of saved clips runs as a job (``echo.measure_clip``), queued by the
core when the live loop saves a clip of a measured view (A4C, A2C, PLAX, PSAX-PM), or by the worker at start for
clips saved but never queued (the core was killed in between). The measurement itself (segmentation, geometry,
values, alerts) is :mod:`device.services.echo_measure`.

Exactly once: a clip has one LV result (a geometry finding, measured or refused) stored in one transaction with its
numbers; a job resumed after its worker was killed finds that finding and returns it instead of measuring again.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from typing import Any

from device.store import clinical

log = logging.getLogger(__name__)

MEASURE_CLIP = "echo.measure_clip"
MEASURED_VIEWS = ("A4C", "A2C", "PLAX", "PSAX-PM")
FINDING_KIND = "lv_geometry"           # == device.services.echo_measure.FINDING_KIND (kept import-light here)
_MODEL: dict[str, Any] = {}


def enqueue_clip_measurement(conn: sqlite3.Connection, capture_id: int, exam_id: int | None = None) -> int:
    """Queue the LV measurement of one saved clip (not twice while one is waiting or running)."""
    from device.jobs import enqueue
    return enqueue(conn, MEASURE_CLIP, {"capture_id": int(capture_id)}, exam_id=exam_id,
                   dedupe_key=f"{MEASURE_CLIP}:{int(capture_id)}")


def unmeasured_clips(conn: sqlite3.Connection) -> list[tuple[int, int]]:
    """(capture id, exam id) of clips of a measured view in open echo exams (report not signed) without an LV result
    and without a waiting or running measurement job."""
    return [(int(r[0]), int(r[1])) for r in conn.execute(
        "SELECT c.id, c.exam_id FROM captures c JOIN exams e ON e.id = c.exam_id WHERE c.kind = 'clip' "
        "AND e.kind = 'echo' AND e.status = 'open' AND c.label IN (SELECT value FROM json_each(?)) "
        "AND NOT EXISTS (SELECT 1 FROM findings f "
        "WHERE f.capture_id = c.id AND f.kind = ?) AND coalesce((SELECT r.status FROM reports r WHERE "
        "r.exam_id = e.id ORDER BY r.version DESC LIMIT 1), '') != 'signed' AND NOT EXISTS (SELECT 1 FROM jobs j "
        "WHERE j.dedupe_key = ? || c.id AND j.state IN ('queued', 'running')) ORDER BY c.id",
        (json.dumps(MEASURED_VIEWS), FINDING_KIND, f"{MEASURE_CLIP}:"))]


def enqueue_unmeasured_clips(conn: sqlite3.Connection) -> int:
    """The worker's recovery hook: queue every clip saved but never measured nor queued. Returns how many."""
    clips = unmeasured_clips(conn)
    for cap_id, exam_id in clips:
        enqueue_clip_measurement(conn, cap_id, exam_id)
    return len(clips)


def _finding_of(conn: sqlite3.Connection, capture_id: int) -> dict[str, Any] | None:
    for f in clinical.list_findings(conn, clinical.get_capture(conn, capture_id).exam_id):
        if f["kind"] == FINDING_KIND and f["capture_id"] == capture_id:
            return f
    return None


def lv_model(settings) -> Any:
    """The LV segmentation model of these settings (loaded once per worker process, one thread: the live loop
    shares the CPU)."""
    from device.inference import ModelProvider, model_provider
    provider = model_provider() if settings is None else ModelProvider.from_settings(settings)
    return provider.get("lv_seg", threads=1)          # cached per process by the full key


def case_table(settings) -> Any:
    """The case table of the worker's settings (its --config), never re-read from another file."""
    from device.lv.casetable import load_case_table
    return load_case_table((settings.lv.case_table or None) if settings is not None else None)


def measure_clip_job(payload: dict, progress) -> dict:
    """Measure the clip ``payload['capture_id']`` (a refusal with its reason is a result too)."""
    from device.services.echo_measure import measure_capture

    store = getattr(progress, "store", None)
    if store is None:
        raise RuntimeError("a clip measurement job needs the worker's store (run it through device.jobs.worker)")
    settings = getattr(progress, "settings", None)
    cap_id = int(payload["capture_id"])
    done = _finding_of(store.conn, cap_id)
    if done is not None:        # measured already (by this job before a kill, or by the exam page)
        return {"capture_id": cap_id, "finding_id": done["id"], "status": done["detail"].get("status", ""),
                "reason": done["detail"].get("reason", ""), "values": done["detail"].get("values", {}),
                "already": True}
    progress(0.05, "loading the LV model")
    model = lv_model(settings)
    degree = settings.lv.phase_poly_degree if settings is not None else 11
    progress(0.15, "segmenting the LV and placing the traces")
    res = measure_capture(store.conn, store.blobs, cap_id, model, degree=degree, table=case_table(settings))
    out = res.clips[0]
    return {"capture_id": cap_id, "finding_id": out.finding_id, "status": out.status, "reason": out.reason,
            "values": out.values, "measurement_ids": list(out.measurement_ids), "biplane": res.biplane,
            "alert_ids": list(res.alert_ids), "model": res.model, "already": False}
