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

from device.errors import UserError
from device.store import clinical

log = logging.getLogger(__name__)

MEASURE_CLIP = "echo.measure_clip"
MEASURED_VIEWS = ("A4C", "A2C", "PLAX", "PSAX-PM")
FINDING_KIND_2D = "echo_2d"            # == device.services.echo_measure2d.FINDING_KIND


def measured_views() -> tuple[str, ...]:
    """Views whose saved clips are measured: the LV views and the views with 2-D measurers (device.echo.measures2d)."""
    from device.echo.measures2d import views
    return tuple(dict.fromkeys(MEASURED_VIEWS + views()))
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
        "WHERE f.capture_id = c.id AND f.kind IN (?, ?)) AND coalesce((SELECT r.status FROM reports r WHERE "
        "r.exam_id = e.id ORDER BY r.version DESC LIMIT 1), '') != 'signed' AND NOT EXISTS (SELECT 1 FROM jobs j "
        "WHERE j.dedupe_key = ? || c.id AND j.state IN ('queued', 'running')) ORDER BY c.id",
        (json.dumps(measured_views()), FINDING_KIND, FINDING_KIND_2D, f"{MEASURE_CLIP}:"))]


def enqueue_unmeasured_clips(conn: sqlite3.Connection) -> int:
    """The worker's recovery hook: queue every clip saved but never measured nor queued. Returns how many."""
    clips = unmeasured_clips(conn)
    for cap_id, exam_id in clips:
        enqueue_clip_measurement(conn, cap_id, exam_id)
    return len(clips)


def _finding_of(conn: sqlite3.Connection, capture_id: int) -> dict[str, Any] | None:
    """The clip's LV finding, or its 2-D one (a view measured only in 2-D; the LV is measured before the 2-D
    values of the same clip, so either means the clip was measured)."""
    found = {f["kind"]: f for f in clinical.list_findings(conn, clinical.get_capture(conn, capture_id).exam_id)
             if f["capture_id"] == capture_id and f["kind"] in (FINDING_KIND, FINDING_KIND_2D)}
    return found.get(FINDING_KIND) or found.get(FINDING_KIND_2D)


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
    progress(0.1, "reading the clip")
    res = measure_capture(store.conn, store.blobs, cap_id, model, degree=degree, table=case_table(settings),
                          job_id=getattr(progress, "job_id", None), progress=progress)
    if not res.clips:                   # a view measured only in 2-D (device.services.echo_measure2d)
        return {"capture_id": cap_id, "finding_id": None, "status": "measured_2d", "reason": "", "values": {},
                "measurement_ids": [], "biplane": res.biplane, "alert_ids": list(res.alert_ids), "model": "",
                "already": False}
    out = res.clips[0]
    return {"capture_id": cap_id, "finding_id": out.finding_id, "status": out.status, "reason": out.reason,
            "values": out.values, "measurement_ids": list(out.measurement_ids), "biplane": res.biplane,
            "alert_ids": list(res.alert_ids), "model": res.model, "already": False}


# ---------------------------------------------------------------- the echo page: measure the exam (job), edit, show

MEASURE_EXAM = "echo.measure_exam"


def enqueue_exam_measurement(conn: sqlite3.Connection, exam_id: int, remeasure: bool,
                             user: tuple[int | None, str]) -> int:
    """Queue the measurement of an echo exam's best clips (one waiting or running per exam)."""
    from device.jobs import enqueue
    from device.services.echo_measure import _echo_exam, frozen_reason
    exam = _echo_exam(conn, exam_id)            # an echo exam whose report is not signed (UserError otherwise)
    why = frozen_reason(conn, exam)
    if why is not None:
        raise UserError(f"{why}: its measurements are frozen; confirm or edit values on the report instead")
    return enqueue(conn, MEASURE_EXAM, {"exam_id": exam_id, "remeasure": bool(remeasure), "user_id": user[0],
                                        "username": user[1]}, exam_id=exam_id, dedupe_key=f"{MEASURE_EXAM}:{exam_id}")


def measure_exam_job(payload: dict, progress) -> dict:
    """Measure the exam's best clips not measured yet (all with ``remeasure``), then biplane; audit as the user.
    A resumed job does not measure again a clip it had measured before its worker was killed."""
    from device.services.echo_measure import measure_exam
    from device.store import audit

    store, settings = progress.store, getattr(progress, "settings", None)
    exam_id = int(payload["exam_id"])
    progress(0.05, "loading the LV model")
    degree = settings.lv.phase_poly_degree if settings is not None else 11
    res = measure_exam(store.conn, store.blobs, exam_id, lv_model(settings), degree=degree,
                       table=case_table(settings), remeasure=bool(payload.get("remeasure")),
                       job_id=getattr(progress, "job_id", None), progress=progress)
    clips = [{"capture_id": o.capture_id, "view": o.view, "status": o.status} for o in res.clips]
    audit.record(store.conn, user_id=payload.get("user_id"), username=str(payload.get("username") or "worker"),
                 action="create", object_type="echo_measurements", object_id=exam_id,
                 detail={"clips": clips, "model": res.model, "alerts": list(res.alert_ids)})
    measured = sum(o.status == "measured" for o in res.clips)
    return {"exam_id": exam_id, "clips": clips, "measured": measured, "refused": len(res.clips) - measured,
            "biplane": res.biplane, "alert_ids": list(res.alert_ids), "model": res.model}


def edit_geometry(conn: sqlite3.Connection, exam_id: int, finding_id: int, change: dict, user_id: int,
                  table) -> dict[str, Any]:
    """A sonographer's contour or caliper edit (light: recomputed from the points, in the request)."""
    from device.services.echo_measure import edit_geometry as edit
    return edit(conn, exam_id, finding_id, change, user_id, table)


def page_clips(conn: sqlite3.Connection, exam_id: int) -> tuple[list[dict], list[str]]:
    """The measured (or refused) clips with their current geometry, in view order, and the measurable views still
    waiting for a measurement."""
    from device.services.echo_measure import MODES, best_clips, geometry_findings

    caps = {cap.id: cap for cap in clinical.list_captures(conn, exam_id)}
    clips = []
    for cap_id, f in geometry_findings(conn, exam_id).items():
        cap = caps.get(cap_id)
        clips.append({"capture_id": cap_id, "finding_id": f["id"], "view": f["detail"].get("view", ""),
                      "quality": cap.quality if cap else None, "model": f"{f['model_name']} {f['model_version']}",
                      "detail": f["detail"], "edited": bool(f["detail"].get("edited_by"))})
    clips.sort(key=lambda x: list(MODES).index(x["view"]) if x["view"] in MODES else 99)
    seen = {x["capture_id"] for x in clips}
    pending = [cap.label for cap in best_clips(conn, exam_id) if cap.label in MODES and cap.id not in seen]
    return clips, pending


def page_clips_2d(conn: sqlite3.Connection, exam_id: int) -> list[dict]:
    """The clips' current 2-D measurement findings (device.services.echo_measure2d): what the echo page draws over
    the frames the calipers and contours lie on, and lets a sonographer drag."""
    from device.services.echo_measure2d import findings_2d

    out = []
    for cap_id, f in sorted(findings_2d(conn, exam_id).items()):
        d = f["detail"]
        frames = sorted({int(i) for m in d.get("measures", []) for i in (m.get("frame"), m.get("frame2"))
                         if i is not None and m.get("points")})
        out.append({"capture_id": cap_id, "finding_id": f["id"], "view": d.get("view", ""), "detail": d,
                    "model": f"{f['model_name']} {f['model_version']}", "frames": frames,
                    "edited": bool(d.get("edited_by"))})
    return out


def edit_2d(conn: sqlite3.Connection, exam_id: int, finding_id: int, name: str, points, user_id: int,
            table) -> dict:
    """A sonographer's move of one 2-D caliper or contour (device.services.echo_measure2d.edit_2d)."""
    from device.services.echo_measure2d import edit_2d as edit
    return edit(conn, exam_id, finding_id, name, points, user_id, table)


def pick_clip(conn: sqlite3.Connection, exam_id: int, capture_id: int, user_id: int, table) -> str:
    """The sonographer chooses the clip the report uses for its view (issue 18: one coherent measurement set)."""
    from device.services.echo_measure import pick_clip as pick
    return pick(conn, exam_id, capture_id, user_id, table)
