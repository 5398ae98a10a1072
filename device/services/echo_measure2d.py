"""Store side of the 2-D echo measurements beyond the LV (device.echo.measures2d; issue 14 part 2).

Per saved clip of a view that has 2-D measurers: a finding of kind :data:`FINDING_KIND` whose detail holds every
caliper and contour (the exam page draws and edits them) and the reasons of what was not measured, and a
``measurements`` row per value (source "auto", model ``echo_2d``). A re-measurement never replaces a value a person
confirmed or edited; an edit stores a new finding (``supersedes_finding``) and rows with source "edited".
Functions that write open their own Tx.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from device.echo import measures2d
from device.errors import InputError, UserError
from device.lv.casetable import CaseTable
from device.store import clinical
from device.store.blobs import BlobStore
from device.store.db import Tx

log = logging.getLogger(__name__)

FINDING_KIND = "echo_2d"


def findings_2d(conn: sqlite3.Connection, exam_id: int) -> dict[int, dict[str, Any]]:
    """The current 2-D finding of each capture: capture id -> finding row (with detail)."""
    out: dict[int, dict[str, Any]] = {}
    for f in clinical.list_findings(conn, exam_id):
        if f["kind"] == FINDING_KIND and f["capture_id"] is not None:
            out[int(f["capture_id"])] = f
    return out


def _label(detail: dict[str, Any]) -> str:
    if detail["status"] != "measured":
        return f"{detail['view']} 2-D measurements not made: {detail['reason']}"
    how = " (edited)" if detail.get("edited_by") else ""
    return f"{detail['view']} 2-D measurements: {', '.join(sorted(detail['values']))}{how}"


def _frames_of(detail: dict[str, Any]) -> tuple[int, ...]:
    idx = sorted({int(i) for m in detail.get("measures", []) for i in (m.get("frame"), m.get("frame2"))
                  if i is not None})
    return tuple(idx)


def measure_2d(conn: sqlite3.Connection, blobs: BlobStore, exam: clinical.Exam, cap: clinical.Capture,
               table: CaseTable, lv_detail: dict[str, Any] | None = None,
               job_id: int | None = None) -> tuple[int | None, list[int], list[int]]:
    """Measure one clip's 2-D values when its view has measurers; store the finding and the values. Returns
    (finding id or None when the view has none, measurement row ids, alert ids)."""
    from device.services.echo_measure import _store_values, frozen_reason, load_clip
    if cap.label not in measures2d.views():
        return None, [], []
    try:
        sp = cap.meta.get("mm_per_px")
        if sp is None:
            raise InputError(f"the {cap.label} clip has no pixel calibration (the depth scale was not read when it "
                             "was saved), so no length or area is measured; capture the view again")
        if isinstance(sp, (int, float)):
            sp = (float(sp), float(sp))
        fps = float(cap.meta.get("fps") or 0) or None
        frames = load_clip(blobs, cap)
        fan = None
        if lv_detail is None:           # the LV path did not check this clip: validity before analysis
            from device.echo.validity import echo_clip_validity
            ev = echo_clip_validity(frames)
            if not ev.ok:
                raise InputError(ev.reason)
            fan = ev.fan_mask
        detail = measures2d.measure_clip(measures2d.Clip2D(frames, tuple(sp), cap.label, fps, fan, lv_detail))
    except InputError as exc:
        detail = {"status": "refused", "reason": str(exc), "view": cap.label, "measures": [], "values": {},
                  "model_name": measures2d.MODEL_NAME, "model_version": measures2d.VERSION}
    if job_id is not None:
        detail["job_id"] = job_id
    ids: list[int] = []
    alerts: list[int] = []
    with Tx(conn):
        held = frozen_reason(conn, exam)
        if held is not None and detail["status"] == "measured":
            detail |= {"status": "kept_aside", "reason": f"measured after the measurements were frozen ({held}); "
                       "kept aside, not applied to the report"}
        fid = clinical.add_finding(conn, exam.id, cap.id, FINDING_KIND, _label(detail), None,
                                   detail["model_name"], detail["model_version"], detail)
        if detail["status"] == "measured":
            ids, alerts = _store_values(conn, exam, cap.id, detail["values"], detail, _frames_of(detail), "auto",
                                        None, table)
            if "lvot_diam_mm" in detail["values"]:      # continuity AVA once the Doppler VTIs are in too
                from device.usecases.echo_doppler import derive_ava
                ids += derive_ava(conn, exam.id, cap.id)
    return fid, ids, alerts


def edit_2d(conn: sqlite3.Connection, exam_id: int, finding_id: int, name: str, points, user_id: int,
            table: CaseTable) -> dict[str, Any]:
    """A sonographer moves one caliper or contour of the current 2-D finding ``finding_id``: the new finding and
    the changed values (source "edited"). Returns {finding_id, values, changed, alert_ids}. One transaction."""
    from device.services.echo_measure import _refuse_if_signed, _store_values
    exam = clinical.get_exam(conn, exam_id)
    with Tx(conn):
        _refuse_if_signed(conn, exam_id)
        cur = next((f for f in findings_2d(conn, exam_id).values() if f["id"] == finding_id), None)
        if cur is None:
            raise UserError("these calipers were changed meanwhile (not the current ones); reload the page")
        if cur["detail"].get("status") not in ("measured", "refused") or "image_size" not in cur["detail"]:
            raise UserError("this clip could not be read, so there is nothing to edit; capture the view again")
        new = measures2d.apply_edit(cur["detail"], name, points)
        new |= {"edited_by": user_id, "supersedes_finding": finding_id}
        fid = clinical.add_finding(conn, exam_id, cur["capture_id"], FINDING_KIND, _label(new), None,
                                   new["model_name"], new["model_version"], new)
        old = cur["detail"].get("values", {})
        changed_vals = {k: v for k, v in new["values"].items() if old.get(k) != v}
        ids, alerts = _store_values(conn, exam, cur["capture_id"], changed_vals, new, _frames_of(new), "edited",
                                    user_id, table)
        if "lvot_diam_mm" in changed_vals:              # the continuity AVA follows the edited LVOT diameter
            from device.usecases.echo_doppler import derive_ava
            ids += derive_ava(conn, exam_id, cur["capture_id"])
        if any(k.startswith("la_a") for k in changed_vals):   # the LA biplane volume follows an edited LA trace
            from device.services.la_biplane import update_la_biplane
            update_la_biplane(conn, exam, table)
    return {"finding_id": fid, "values": new["values"], "changed": sorted(changed_vals), "alert_ids": alerts}


def measure_clips_2d(conn: sqlite3.Connection, blobs: BlobStore, exam: clinical.Exam, caps, remeasure: bool,
                     job_id: int | None, table: CaseTable, lv_detail) -> list[int]:
    """:func:`measure_2d` on each of ``caps`` whose view has measurers and that was not measured yet (all with
    ``remeasure``; a clip this job already measured before its worker was killed is skipped). ``lv_detail(capture_id)``
    gives the clip's measured LV geometry or None. Returns alert ids."""
    from device.services.echo_measure import geometry_findings
    have = set(measures2d.views())
    done = findings_2d(conn, exam.id)
    geo = geometry_findings(conn, exam.id)
    alerts: list[int] = []
    for cap in caps:
        if cap.label not in have or (cap.id in done and not remeasure):
            continue
        lv = geo.get(cap.id, {}).get("detail") or {}
        if lv.get("status") == "refused" and str(lv.get("reason", "")).startswith("not an echo clip"):
            continue                    # the LV card already says why: nothing is measured on it
        if cap.id in done and job_id is not None and done[cap.id]["detail"].get("job_id") == job_id:
            continue
        _, _, al = measure_2d(conn, blobs, exam, cap, table, lv_detail(cap.id), job_id)
        alerts += al
    return alerts
