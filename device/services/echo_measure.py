"""Measure an echo exam's saved clips with the LV model, store the numbers and the editable geometry, and apply a
sonographer's contour or caliper edits.

Per clip (the capture of kind "clip" that the live echo loop saved, label = view):
- A4C / A2C: single-plane EDV, ESV, SV, EF by the method of discs (stored as ``a4c_ef_pct`` ...); when both exist,
  biplane values (``biplane_ef_pct`` ...) from the current traces of both.
- PLAX: LVIDd, LVIDs, IVSd, LVPWd, aortic root, LA diameter, FS, Teichholz volumes and EF (``lvidd_mm`` ...).
- PSAX-PM: the 11 LVQuan short-axis indices at ED (``sax_ed_cavity_area_mm2``, ``sax_ed_dim1_mm``,
  ``sax_ed_rwt1_mm`` ...) and the cavity / myocardium areas at ES; ED/ES from the polynomial fit of the area curve.
Every value is a ``measurements`` row with the model name and version, the capture and the frames (ED, ES),
source "auto". The geometry (traces, calipers, contours, ED/ES frames, calibration) is a finding of kind
:data:`FINDING_KIND` whose detail JSON the echo page draws and edits; a clip that cannot be measured gets the same
finding with ``status = "refused"`` and the reason, and no numbers. Critical case-table values raise an alert.

An edit stores a new finding (the new geometry, ``supersedes_finding``) and, for each value that changed, a row with
source "edited", ``edited_by`` and ``supersedes`` = the row it replaces. Functions that write open their own Tx.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from typing import Any

import numpy as np

from device.domain.codecs import decode_clip
from device.echo import measures2d
from device.domain.records import Measurement
from device.errors import InputError, UserError
from device.lv.casetable import CaseTable
from device.lv.geometry import (  # noqa: F401 - the geometry API re-exported for the echo page and the CLI
    APICAL_VALUES,
    CALIPER_FRAME,
    MODES,
    PLAX_VALUES,
    TRACE_POINTS,
    apical_values,
    apply_change,
    biplane_values,
    geometry_from_clip,
    outline,
    plax_values,
    sax_values,
    values_of,
)
from device.lv.records import unit_of
from device.store import clinical, reports
from device.store.blobs import BlobStore
from device.store.db import Tx

log = logging.getLogger(__name__)

FINDING_KIND = "lv_geometry"
MEASURE_S = 1.6          # the first 1.6 s of a clip (a whole beat down to ~38 bpm) is segmented and measured


@dataclass(frozen=True)
class ClipOutcome:
    """What happened to one clip: measured (values by stored name) or refused (reason)."""

    capture_id: int
    view: str
    status: str                      # "measured", "refused" or "kept_aside" (measured after the freeze)
    reason: str
    finding_id: int
    values: dict[str, float]
    measurement_ids: tuple[int, ...]


@dataclass(frozen=True)
class ExamMeasurement:
    exam_id: int
    clips: tuple[ClipOutcome, ...]
    biplane: dict[str, float]        # empty when the exam has no measured A4C + A2C pair
    alert_ids: tuple[int, ...]
    model: str                       # model tag, "" when no clip needed the model


# ---------------------------------------------------------------- reading clips and the stored geometry

def load_clip(blobs: BlobStore, cap: clinical.Capture) -> np.ndarray:
    """The clip's frames (T, H, W, 3) or (T, H, W) uint8. Raises InputError for an unreadable clip."""
    try:
        return decode_clip(blobs.get(cap.blob_sha256)).frames
    except (OSError, ValueError, KeyError) as exc:      # ClipCodecError is a ValueError
        raise InputError(f"clip {cap.id} ({cap.label}) cannot be read ({exc}); capture the view again") from None


def geometry_findings(conn: sqlite3.Connection, exam_id: int) -> dict[int, dict[str, Any]]:
    """The current geometry finding of each measured-or-refused capture: capture id -> finding row (with detail)."""
    out: dict[int, dict[str, Any]] = {}
    for f in clinical.list_findings(conn, exam_id):
        if f["kind"] == FINDING_KIND and f["capture_id"] is not None:
            out[int(f["capture_id"])] = f          # ordered by id: the last one is current
    return out


def best_clips(conn: sqlite3.Connection, exam_id: int) -> list[clinical.Capture]:
    """The best clip (highest quality, then newest) of each view label, in protocol order of capture."""
    best: dict[str, clinical.Capture] = {}
    for cap in clinical.list_captures(conn, exam_id):
        if cap.kind != "clip":
            continue
        prev = best.get(cap.label)
        if prev is None or (cap.quality or 0.0) >= (prev.quality or 0.0):
            best[cap.label] = cap
    return sorted(best.values(), key=lambda c: c.id)


# ---------------------------------------------------------------- the store side

_MODEL: dict[str, Any] = {}


def default_model():
    """The LV segmentation model (loaded once per process)."""
    if "echo" not in _MODEL:
        from device.lv.segment import load_lv_model
        _MODEL["echo"] = load_lv_model("echo")
    return _MODEL["echo"]


def _alert_if_critical(conn: sqlite3.Connection, exam: clinical.Exam, name: str, value: float, table) -> int | None:
    """An alert for a critical case-table value, unless the same one is already waiting to be acknowledged."""
    from device.lv.interpret import interpret_value, label_of, sex_of, split_name
    sp = split_name(name)
    if sp is None:
        return None
    interp, _, _, alert = interpret_value(name, value, sex_of(exam.patient.sex), table)
    if not alert:
        return None
    code = f"lv_{name}"
    if conn.execute("SELECT 1 FROM alerts WHERE exam_id = ? AND code = ? AND acknowledged_at IS NULL",
                    (exam.id, code)).fetchone():
        return None
    return clinical.add_alert(conn, exam.id, "critical", code,
                              f"{label_of(name)} {value:.0f} {unit_of(name)}: {interp}; review the measurement",
                              {"name": name, "value": value, "interpretation": interp})


def _current_rows(conn: sqlite3.Connection, exam_id: int, capture_id: int) -> dict[str, Measurement]:
    """The current row of each name OF THIS CLIP: a clip's values never supersede another clip's (which clip the
    report uses is chosen by device.reporting.measurement_set, so values of two clips never mix)."""
    return {m.name: m for m in sorted(clinical.current_measurements(conn, exam_id), key=lambda m: m.id)
            if m.capture_id == capture_id}


def _store_values(conn, exam, capture_id, values: dict[str, float], detail, frames, source: str,
                  user_id: int | None, table) -> tuple[list[int], list[int]]:
    """Rows for the values that are new or changed (superseding the current row of the same name)."""
    cur = _current_rows(conn, exam.id, capture_id)
    ids, alerts = [], []
    for name, v in values.items():
        if v is None or not np.isfinite(v):
            continue
        old = cur.get(name)
        if old is not None and abs(old.value - float(v)) < 1e-6 and old.capture_id == capture_id \
                and tuple(old.frames) == tuple(frames):
            continue
        if old is not None and source == "auto" and old.source != "auto" and not name.startswith("biplane_"):
            continue            # a re-measurement never replaces a value a person confirmed or edited
        ids.append(clinical.add_measurement(conn, exam.id, capture_id, name, float(v), unit_of(name),
                                            detail["model_name"], detail["model_version"], frames, source=source,
                                            edited_by=user_id if source == "edited" else None,
                                            supersedes=old.id if old is not None else None))
        a = _alert_if_critical(conn, exam, name, float(v), table)
        if a is not None:
            alerts.append(a)
    return ids, alerts


def _update_biplane(conn, exam, table) -> tuple[dict[str, float], list[int], list[int]]:
    """Biplane values from the current A4C and A2C geometries (stored under the A4C capture); source "edited"
    (by the latest editor) when either trace was edited by a person. Returns (values, new row ids, alert ids)."""
    from device.reporting.measurement_set import build
    chosen = build(clinical.all_measurements(conn, exam.id), clinical.list_captures(conn, exam.id),
                   clinical.measurement_picks(conn, exam.id)).chosen
    found = geometry_findings(conn, exam.id)
    geo = {view: found[chosen[g]] for g, view in (("a4c", "A4C"), ("a2c", "A2C"))
           if chosen.get(g) in found and found[chosen[g]]["detail"].get("status") == "measured"}
    if "A4C" not in geo or "A2C" not in geo:
        return {}, [], []
    a4c, a2c = geo["A4C"]["detail"], geo["A2C"]["detail"]
    try:
        vals = biplane_values(a4c, a2c)
    except InputError as exc:
        log.warning("biplane volumes not computed: %s", exc)
        return {}, [], []
    frames = (a4c["ed_frame"], a4c["es_frame"], a2c["ed_frame"], a2c["es_frame"])
    editors = [f for f in (geo["A4C"], geo["A2C"]) if f["detail"].get("edited_by")]
    source = "edited" if editors else "auto"
    user_id = max(editors, key=lambda f: f["id"])["detail"]["edited_by"] if editors else None
    named = {f"biplane_{k}": v for k, v in vals.items()}
    ids, alerts = _store_values(conn, exam, geo["A4C"]["capture_id"], named, a4c, frames, source, user_id, table)
    return named, ids, alerts


def frozen_reason(conn: sqlite3.Connection, exam: clinical.Exam) -> str | None:
    """Why the exam's measurements are frozen (issue 18 part 1: no automatic value changes once the exam is
    closed, i.e. sent for signing, or its report is signed), None while it is open. A person may still confirm or
    edit a value of a closed exam's draft; a clip measured after the freeze is kept aside (not applied)."""
    cur = reports.latest(conn, exam.id)
    if cur is not None and cur.status == "signed":
        return f"report version {cur.version} is signed"
    if clinical.get_exam(conn, exam.id).status != "open":
        return "the exam is closed (sent for signing)"
    return None


def _refuse_if_signed(conn: sqlite3.Connection, exam_id: int) -> None:
    cur = reports.latest(conn, exam_id)
    if cur is not None and cur.status == "signed":
        raise UserError(f"report version {cur.version} is signed; start a correction on the report page before "
                        "changing measurements")


def _measure_one(conn, blobs, exam, cap: clinical.Capture, model, degree: int, table, job_id: int | None = None,
                 progress=None) -> tuple[ClipOutcome, list[int], str, Any]:
    """Measure one clip and store the result (numbers, or the refusal and its reason; the geometry names the job
    that measured it, ``job_id``). Returns (outcome, alert ids, model tag, the model, loaded when it was needed)."""
    try:
        if MODES.get(cap.label) is None:
            raise InputError(f"{cap.label or 'this'} clip is not a view the LV is measured on; measurements come "
                             f"from {', '.join(MODES)} clips")
        frames = load_clip(blobs, cap)
        fps = float(cap.meta.get("fps") or 0)
        if fps > 0 and len(frames) > MEASURE_S * fps:
            frames = frames[: round(MEASURE_S * fps)]
        if model is None and cap.meta.get("mm_per_px") is not None:
            model = default_model()
        from device.lv.validity import ClipTiming
        if progress is not None:
            progress(0.2, f"segmenting the LV on the {cap.label} clip")
        detail = geometry_from_clip(frames, cap.label, cap.meta.get("mm_per_px"), model,
                                    cap.meta.get("sector_bbox"), degree, ClipTiming.of(fps=fps))
    except InputError as exc:
        man = getattr(model, "manifest", None)
        detail = {"status": "refused", "reason": str(exc), "view": cap.label, "mode": MODES.get(cap.label, ""),
                  "checks": getattr(exc, "checks", {}),
                  "model_name": getattr(man, "name", "lv_seg"), "model_version": getattr(man, "version", "")}
    if job_id is not None:
        detail["job_id"] = job_id
    if progress is not None:
        progress(0.9, "storing the traces and values")
    ids: list[int] = []
    alerts: list[int] = []
    with Tx(conn):
        held = frozen_reason(conn, exam)
        if held is not None and detail["status"] == "measured":      # frozen meanwhile: kept aside, not applied
            detail |= {"status": "kept_aside", "reason": f"measured after the measurements were frozen ({held}); "
                       "kept aside, not applied to the report"}
        fid = clinical.add_finding(conn, exam.id, cap.id, FINDING_KIND, _finding_label(detail), None,
                                   detail["model_name"], detail["model_version"], detail)
        if detail["status"] == "measured":
            ids, alerts = _store_values(conn, exam, cap.id, detail["values"], detail,
                                        (detail["ed_frame"], detail["es_frame"]), "auto", None, table)
    out = ClipOutcome(cap.id, cap.label, detail["status"], detail["reason"], fid, dict(detail.get("values", {})),
                      tuple(ids))
    return out, alerts, detail.get("model_tag", ""), model


def _echo_exam(conn: sqlite3.Connection, exam_id: int, refuse_signed: bool = True) -> clinical.Exam:
    exam = clinical.get_exam(conn, exam_id)
    if exam.kind != "echo":
        raise UserError(f"exam {exam_id} is an exam of type {exam.kind}; LV echo measurements need an echo exam")
    if refuse_signed:
        _refuse_if_signed(conn, exam_id)
    return exam


def _update_biplane_unless_frozen(conn, exam, table) -> tuple[dict[str, float], list[int], list[int]]:
    from device.services.la_biplane import update_la_biplane
    with Tx(conn):
        if frozen_reason(conn, exam) is not None:
            return {}, [], []
        update_la_biplane(conn, exam, table)       # LA area-length volume from the A4C + A2C 2-D findings
        return _update_biplane(conn, exam, table)


def measure_exam(conn: sqlite3.Connection, blobs: BlobStore, exam_id: int, model=None, *, degree: int = 11,
                 table: CaseTable, remeasure: bool = False, job_id: int | None = None,
                 progress=None) -> ExamMeasurement:
    """Measure the best clip of each measurable view (A4C, A2C, PLAX, PSAX-PM) of an echo exam that has not been
    measured yet (all of them when ``remeasure``), then the biplane volumes.

    A clip that cannot be measured is stored as refused with its reason (no numbers). Values are stored with
    source "auto"; a re-measured value supersedes the current one when it differs, unless a person confirmed or
    edited it. ``model``: the lv_seg model (loaded on first need when None). ``table``: the case table of the
    caller's settings (``ReportSettings.from_settings(settings).case_table``), never re-read here. ``job_id``: the
    job measuring (a clip whose current geometry that job stored is not measured again when the job resumes after
    a kill); ``progress(fraction, message)`` is told before each clip.
    """
    exam = _echo_exam(conn, exam_id)
    if remeasure and exam.status != "open":
        raise UserError(f"exam {exam_id} is closed: its measurements are frozen (review or edit a value on the "
                        "report instead of measuring again)")
    done = geometry_findings(conn, exam_id)
    outcomes, alerts, tag = [], [], ""
    todo = [cap for cap in best_clips(conn, exam_id) if MODES.get(cap.label) is not None
            and not (cap.id in done and (not remeasure or (job_id is not None
                                                           and done[cap.id]["detail"].get("job_id") == job_id)))]
    for k, cap in enumerate(todo):     # other views (A3C, subcostal ...) are kept as clips; nothing to measure
        if progress is not None:
            progress(0.1 + 0.85 * k / len(todo), f"measuring the {cap.label} clip ({k + 1} of {len(todo)})")
        out, al, t, model = _measure_one(conn, blobs, exam, cap, model, degree, table, job_id)
        outcomes.append(out)
        alerts += al
        tag = t or tag
    alerts += _measure_2d_clips(conn, blobs, exam, remeasure, job_id, table)
    bi, _, al = _update_biplane_unless_frozen(conn, exam, table)
    return ExamMeasurement(exam_id, tuple(outcomes), bi, tuple(alerts + al), tag)


def _lv_detail(conn: sqlite3.Connection, exam_id: int, capture_id: int) -> dict[str, Any] | None:
    f = geometry_findings(conn, exam_id).get(capture_id)
    return f["detail"] if f is not None and f["detail"].get("status") == "measured" else None


def _measure_2d_clips(conn, blobs, exam, remeasure: bool, job_id: int | None, table: CaseTable,
                      only: clinical.Capture | None = None) -> list[int]:
    """The 2-D measurements beyond the LV of the exam's best clips (or of ``only``). Returns alert ids."""
    from device.services.echo_measure2d import measure_clips_2d
    caps = [only] if only is not None else best_clips(conn, exam.id)
    return measure_clips_2d(conn, blobs, exam, caps, remeasure or only is not None, job_id, table,
                            lambda cap_id: _lv_detail(conn, exam.id, cap_id))


def measure_capture(conn: sqlite3.Connection, blobs: BlobStore, capture_id: int, model=None, *, degree: int = 11,
                    table: CaseTable, job_id: int | None = None, progress=None) -> ExamMeasurement:
    """Measure one saved clip (e.g. from the core right after the live loop saved it), then the biplane volumes.
    A clip of a view the LV is not measured on is stored as refused with that reason; a clip whose exam was frozen
    (closed or signed, :func:`frozen_reason`) meanwhile is stored kept aside with its values and applies none."""
    cap = clinical.get_capture(conn, capture_id)
    if cap.kind != "clip":
        raise UserError(f"capture {capture_id} is a {cap.kind}, not a clip; LV measurements need a cine clip")
    exam = _echo_exam(conn, cap.exam_id, refuse_signed=False)     # a frozen exam keeps the result aside
    if MODES.get(cap.label) is None and cap.label in measures2d.views():
        out = None                      # a view measured only in 2-D (RV, IVC, great vessels ...)
        alerts: list[int] = []
        tag = ""
    else:
        out, alerts, tag, _ = _measure_one(conn, blobs, exam, cap, model, degree, table, job_id, progress)
    alerts = list(alerts) + _measure_2d_clips(conn, blobs, exam, True, job_id, table, only=cap)
    bi, _, al = _update_biplane_unless_frozen(conn, exam, table)
    if out is None:
        return ExamMeasurement(exam.id, (), bi, tuple(alerts + al), tag)
    return ExamMeasurement(exam.id, (out,), bi, tuple(alerts + al), tag)


def _finding_label(detail: dict[str, Any]) -> str:
    if detail["status"] == "refused":
        return f"{detail['view']} not measured: {detail['reason']}"
    if detail["status"] == "kept_aside":
        return f"{detail['view']} kept aside: {detail['reason']}"
    how = " (edited)" if detail.get("edited_by") else ""
    return f"{detail['view']} LV traced on ED frame {detail['ed_frame']} and ES frame {detail['es_frame']}{how}"


def edit_geometry(conn: sqlite3.Connection, exam_id: int, finding_id: int, change: dict[str, Any],
                  user_id: int, table: CaseTable) -> dict[str, Any]:
    """Apply a contour or caliper edit to the current geometry ``finding_id``, store the new geometry and the
    changed values (source "edited", superseding), recompute biplane. Returns {finding_id, values, biplane,
    changed: [names], alert_ids}. One transaction. ``table``: the case table of the caller's settings."""
    exam = clinical.get_exam(conn, exam_id)
    with Tx(conn):
        _refuse_if_signed(conn, exam_id)
        cur = next((f for f in geometry_findings(conn, exam_id).values() if f["id"] == finding_id), None)
        if cur is None:
            raise UserError("this contour was changed meanwhile (it is not the current one); reload the page")
        new = apply_change(cur["detail"], change)
        new |= {"edited_by": user_id, "supersedes_finding": finding_id}
        fid = clinical.add_finding(conn, exam_id, cur["capture_id"], FINDING_KIND, _finding_label(new), None,
                                   new["model_name"], new["model_version"], new)
        ids, alerts = _store_values(conn, exam, cur["capture_id"], new["values"], new,
                                    (new["ed_frame"], new["es_frame"]), "edited", user_id, table)
        bi, bi_ids, al = _update_biplane(conn, exam, table) if new["mode"] == "apical" else ({}, [], [])
        ids += bi_ids
    changed = [r["name"] for r in conn.execute(
        f"SELECT name FROM measurements WHERE id IN ({','.join('?' * len(ids))})", ids)] if ids else []
    return {"finding_id": fid, "values": new["values"], "biplane": bi, "changed": changed,
            "alert_ids": alerts + al}


def pick_clip(conn: sqlite3.Connection, exam_id: int, capture_id: int, user_id: int, table: CaseTable) -> str:
    """The sonographer's pick: ``capture_id`` is the clip the report uses for its view (stored; wins over the
    reviewed and best-quality rules of device.reporting.measurement_set); biplane recomputed for an apical view.
    Returns the view. One transaction."""
    exam = clinical.get_exam(conn, exam_id)
    with Tx(conn):
        _refuse_if_signed(conn, exam_id)
        cap = clinical.get_capture(conn, capture_id)
        if cap.exam_id != exam_id or cap.kind != "clip" or MODES.get(cap.label) is None:
            raise UserError(f"capture {capture_id} is not a measured clip of this exam; reload the page")
        clinical.pick_measurement_clip(conn, exam_id, cap.label, cap.id, user_id)
        if MODES[cap.label] == "apical":
            _update_biplane(conn, exam, table)
    return cap.label
