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

import json
import logging
import sqlite3
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from device.domain.codecs import decode_clip
from device.errors import InputError, UserError
from device.lv import AORTIC_ROOT, CAVITY, LEFT_ATRIUM, MYOCARDIUM
from device.lv.calibration import require_spacing
from device.lv.casetable import CaseTable
from device.lv.records import unit_of
from device.store import clinical, reports
from device.store.blobs import BlobStore
from device.store.db import Tx

log = logging.getLogger(__name__)

FINDING_KIND = "lv_geometry"
MODES = {"A4C": "apical", "A2C": "apical", "PLAX": "plax", "PSAX-PM": "sax"}
APICAL_VALUES = ("edv_ml", "esv_ml", "sv_ml", "ef_pct")
PLAX_VALUES = ("lvidd_mm", "lvids_mm", "ivsd_mm", "lvpwd_mm", "aortic_root_mm", "la_diameter_mm", "fs_pct",
               "teichholz_edv_ml", "teichholz_esv_ml", "teichholz_ef_pct")
CALIPER_FRAME = {"lvidd": "ed", "ivsd": "ed", "lvpwd": "ed", "aortic_root": "ed", "lvids": "es", "la_diameter": "es"}
TRACE_POINTS = 32
MEASURE_S = 1.6          # the first 1.6 s of a clip (a whole beat down to ~38 bpm) is segmented and measured


@dataclass(frozen=True)
class ClipOutcome:
    """What happened to one clip: measured (values by stored name) or refused (reason)."""

    capture_id: int
    view: str
    status: str                      # "measured" or "refused"
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


# ---------------------------------------------------------------- geometry from masks (pure)

def _xy(points) -> list[list[float]]:
    return [[round(float(x), 2), round(float(y), 2)] for x, y in np.asarray(points, dtype=float).reshape(-1, 2)]


def outline(region: np.ndarray, n_points: int = 48) -> list[list[float]]:
    """The outer boundary of a boolean region (H, W) as up to n_points (x, y) pixel points ([] when empty)."""
    cs, _ = cv2.findContours(region.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not cs:
        return []
    c = max(cs, key=cv2.contourArea).reshape(-1, 2)
    idx = np.linspace(0, len(c), min(n_points, len(c)), endpoint=False).astype(int)
    return _xy(c[idx])


def _outlines(mask: np.ndarray) -> dict[str, list]:
    return {"cavity": outline(mask == CAVITY), "myocardium": outline((mask == MYOCARDIUM) | (mask == CAVITY)),
            "la": outline(mask == LEFT_ATRIUM), "aortic_root": outline(mask == AORTIC_ROOT)}


def _trace_json(trace) -> dict[str, Any]:
    return {"contour": _xy(trace.contour_xy), "apex": _xy([trace.apex_xy])[0], "annulus": _xy(trace.annulus_xy)}


def _trace_of(d: dict[str, Any]):
    from device.lv.volumes import ApicalTrace
    return ApicalTrace(tuple(map(tuple, d["contour"])), tuple(d["apex"]), tuple(map(tuple, d["annulus"])))


def apical_values(detail: dict[str, Any]) -> dict[str, float]:
    """Single-plane EDV/ESV/SV/EF of an apical geometry (its ED and ES traces and calibration)."""
    from device.lv.volumes import apical_volumes
    ed, es = _trace_of(detail["frames"]["ed"]["trace"]), _trace_of(detail["frames"]["es"]["trace"])
    sp = tuple(detail["mm_per_px"])
    v = apical_volumes(ed, es, sp) if detail["view"] == "A4C" else apical_volumes(None, None, None, ed, es, sp)
    return {"edv_ml": v.edv_ml, "esv_ml": v.esv_ml, "sv_ml": v.sv_ml, "ef_pct": v.ef_pct}


def biplane_values(a4c: dict[str, Any], a2c: dict[str, Any]) -> dict[str, float]:
    """Biplane EDV/ESV/SV/EF from the A4C and A2C geometries (each with its own calibration)."""
    from device.lv.volumes import apical_volumes
    fr4, fr2 = a4c["frames"], a2c["frames"]
    v = apical_volumes(_trace_of(fr4["ed"]["trace"]), _trace_of(fr4["es"]["trace"]), tuple(a4c["mm_per_px"]),
                       _trace_of(fr2["ed"]["trace"]), _trace_of(fr2["es"]["trace"]), tuple(a2c["mm_per_px"]))
    return {"edv_ml": v.edv_ml, "esv_ml": v.esv_ml, "sv_ml": v.sv_ml, "ef_pct": v.ef_pct}


def plax_values(detail: dict[str, Any]) -> dict[str, float]:
    from device.lv.plax import PlaxCalipers, plax_from_calipers
    cal = {k: (tuple(map(tuple, v)) if v else None) for k, v in detail["calipers"].items()}
    lin = plax_from_calipers(PlaxCalipers(**cal), tuple(detail["mm_per_px"]))
    return {k: getattr(lin, k) for k in PLAX_VALUES if getattr(lin, k) is not None}


def sax_values(detail: dict[str, Any]) -> dict[str, float]:
    """ED indices (11) and ES areas from the stored endo/epi contours of the ED and ES frames."""
    from device.lv.edit import recompute_sax
    h, w = detail["image_size"]
    out: dict[str, float] = {}
    for ph in ("ed", "es"):
        fr = detail["frames"][ph]
        _, ind = recompute_sax((h, w), fr["endo"], fr["epi"], tuple(detail["mm_per_px"]))
        out[f"sax_{ph}_cavity_area_mm2"] = ind.cavity_area_mm2
        out[f"sax_{ph}_myo_area_mm2"] = ind.myo_area_mm2
        if ph == "ed":
            out |= {f"sax_ed_dim{i + 1}_mm": v for i, v in enumerate(ind.dims_mm)}
            out |= {f"sax_ed_rwt{i + 1}_mm": v for i, v in enumerate(ind.rwt_mm)}
    return out


def values_of(detail: dict[str, Any]) -> dict[str, float]:
    """Stored-name -> value of a measured geometry (recomputed from its points with the device.lv functions)."""
    mode = detail["mode"]
    if mode == "apical":
        pre = detail["view"].lower()
        return {f"{pre}_{k}": v for k, v in apical_values(detail).items()}
    if mode == "plax":
        return plax_values(detail)
    return sax_values(detail)


def _valid_bbox(bbox, hw: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """The saved fan box (x0, y0, x1, y1) when it fits the frames, else None (the segmenter finds the fan)."""
    try:
        x0, y0, x1, y1 = (int(v) for v in bbox)
    except (TypeError, ValueError):
        return None
    ok = x0 >= 0 and y0 >= 0 and x0 + 16 <= x1 <= hw[1] and y0 + 16 <= y1 <= hw[0]
    return (x0, y0, x1, y1) if ok else None


def geometry_from_clip(frames: np.ndarray, view: str, mm_per_px, model, bbox=None,
                       degree: int = 11, timing=None) -> dict[str, Any]:
    """Segment a clip and build its editable geometry (the finding detail). Raises InputError with the reason when
    the clip cannot be measured (not a measurable view, no calibration, empty segmentation, no beat)."""
    from device.lv.echo import check_echo, measure_apical, measure_plax
    from device.lv.edit import sax_contours, simplify_trace
    from device.lv.phase import phase_from_areas
    from device.lv.segment import grey_frames, segment_echo

    mode = MODES.get(view)
    if mode is None:
        raise InputError(f"{view or 'this'} clip is not a view the LV is measured on; measurements come from "
                         f"{', '.join(MODES)} clips")
    if mm_per_px is None:
        raise InputError(f"the {view} clip has no pixel calibration (mm per pixel): the depth scale was not read "
                         "from the screen when it was saved, so no length or volume is measured; capture the view "
                         "again with the depth scale visible")
    sp = require_spacing(mm_per_px, f"the {view} clip")
    if len(frames) < 3:
        raise InputError(f"the {view} clip has {len(frames)} frames; ED and ES need a clip over a whole beat")
    checks = check_echo(frames)          # "is this echo?" (device/echo/validity.py): ClipRefused with the reason
    fan = checks.pop("fan_mask")
    seg = segment_echo(frames, model, _valid_bbox(bbox, frames.shape[1:3]))
    masks = seg.masks
    detail: dict[str, Any] = {"status": "measured", "reason": "", "view": view, "mode": mode,
                              "mm_per_px": list(sp), "image_size": list(masks.shape[1:]), "model_tag": seg.model_tag,
                              "model_name": seg.model_name, "model_version": seg.model_version,
                              "n_frames": len(frames), "checks": checks}
    if mode == "apical":
        res = measure_apical(masks, sp, view, seg.model_name, seg.model_version, fan_mask=fan, timing=timing,
                             echo_checked=True)
        detail["checks"] = checks | res.checks
        ed, es = res.ed_frame, res.es_frame
        detail["curve"] = [None if not np.isfinite(v) else round(v, 2) for v in res.volume_curve_ml]
        detail["frames"] = {
            "ed": {"index": ed, "trace": _trace_json(simplify_trace(res.ed_trace, TRACE_POINTS)), **_outlines(masks[ed])},
            "es": {"index": es, "trace": _trace_json(simplify_trace(res.es_trace, TRACE_POINTS)), **_outlines(masks[es])}}
    elif mode == "plax":
        res = measure_plax(masks, sp, seg.model_name, seg.model_version, grey_frames(frames), fan_mask=fan,
                           timing=timing, echo_checked=True)
        detail["checks"] = checks | res.checks
        ed, es = res.ed_frame, res.es_frame
        detail["curve"] = [None if not np.isfinite(v) else round(v, 2) for v in res.lvid_curve_mm]
        detail["calipers"] = {k: (_xy(v) if v else None) for k, v in vars(res.linear.calipers).items()}
        detail["frames"] = {"ed": {"index": ed, **_outlines(masks[ed])}, "es": {"index": es, **_outlines(masks[es])}}
        if res.linear.lvidd_mm is None:
            raise InputError("no LV internal dimension could be placed on the PLAX clip; place the calipers by hand")
    else:
        sax = np.where(masks <= MYOCARDIUM, masks, 0).astype(np.uint8)
        areas = (sax == CAVITY).sum(axis=(1, 2)).astype(float) * sp[0] * sp[1]
        if areas.max() <= 0:
            raise InputError("the segmentation found no LV cavity in the PSAX clip; is it a short-axis view at the "
                             "papillary muscles?")
        ph = phase_from_areas(areas, degree)
        ed, es = ph.ed_frame, ph.es_frame
        detail["curve"] = [round(float(a), 1) for a in areas]
        detail["phases"] = list(ph.labels)
        detail["frames"] = {}
        for name, i in (("ed", ed), ("es", es)):
            endo, epi = sax_contours(sax[i], TRACE_POINTS)
            if len(endo) < 3 or len(epi) < 3:
                raise InputError(f"the segmentation has no myocardium around the cavity on the "
                                 f"{name.upper()} frame; the short-axis indices need both")
            detail["frames"][name] = {"index": int(i), "endo": _xy(endo), "epi": _xy(epi), **_outlines(sax[i])}
    detail["ed_frame"], detail["es_frame"] = int(ed), int(es)
    detail["values"] = {k: round(float(v), 4) for k, v in values_of(detail).items()}
    if not detail["values"]:
        raise InputError(f"nothing could be measured on the {view} clip; check the view and image quality")
    return detail


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
    interp, _, _, alert = interpret_value(sp[1], value, sex_of(exam.patient.sex), table)
    if not alert:
        return None
    code = f"lv_{name}"
    if conn.execute("SELECT 1 FROM alerts WHERE exam_id = ? AND code = ? AND acknowledged_at IS NULL",
                    (exam.id, code)).fetchone():
        return None
    return clinical.add_alert(conn, exam.id, "critical", code,
                              f"{label_of(name)} {value:.0f} {unit_of(name)}: {interp}; review the measurement",
                              {"name": name, "value": value, "interpretation": interp})


def _current_rows(conn: sqlite3.Connection, exam_id: int) -> dict[str, clinical.MeasurementRow]:
    """The current row of each name (names carry the view, so a newer clip of a view replaces the older one's)."""
    return {m.name: m for m in sorted(clinical.current_measurements(conn, exam_id), key=lambda m: m.id)}


def _store_values(conn, exam, capture_id, values: dict[str, float], detail, frames, source: str,
                  user_id: int | None, table) -> tuple[list[int], list[int]]:
    """Rows for the values that are new or changed (superseding the current row of the same name)."""
    cur = _current_rows(conn, exam.id)
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
    geo = {f["detail"].get("view"): f for f in sorted(geometry_findings(conn, exam.id).values(), key=lambda f: f["id"])
           if f["detail"].get("status") == "measured"}
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


def _refuse_if_signed(conn: sqlite3.Connection, exam_id: int) -> None:
    cur = reports.latest(conn, exam_id)
    if cur is not None and cur.status == "signed":
        raise UserError(f"report version {cur.version} is signed; start a correction on the report page before "
                        "changing measurements")


def _measure_one(conn, blobs, exam, cap: clinical.Capture, model, degree: int, table, job_id: int | None = None
                 ) -> tuple[ClipOutcome, list[int], str, Any]:
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
        detail = geometry_from_clip(frames, cap.label, cap.meta.get("mm_per_px"), model,
                                    cap.meta.get("sector_bbox"), degree, ClipTiming.of(fps=fps))
    except InputError as exc:
        man = getattr(model, "manifest", None)
        detail = {"status": "refused", "reason": str(exc), "view": cap.label, "mode": MODES.get(cap.label, ""),
                  "checks": getattr(exc, "checks", {}),
                  "model_name": getattr(man, "name", "lv_seg"), "model_version": getattr(man, "version", "")}
    if job_id is not None:
        detail["job_id"] = job_id
    ids: list[int] = []
    alerts: list[int] = []
    with Tx(conn):
        fid = clinical.add_finding(conn, exam.id, cap.id, FINDING_KIND, _finding_label(detail), None,
                                   detail["model_name"], detail["model_version"], detail)
        if detail["status"] == "measured":
            ids, alerts = _store_values(conn, exam, cap.id, detail["values"], detail,
                                        (detail["ed_frame"], detail["es_frame"]), "auto", None, table)
    out = ClipOutcome(cap.id, cap.label, detail["status"], detail["reason"], fid, dict(detail.get("values", {})),
                      tuple(ids))
    return out, alerts, detail.get("model_tag", ""), model


def _echo_exam(conn: sqlite3.Connection, exam_id: int) -> clinical.Exam:
    exam = clinical.get_exam(conn, exam_id)
    if exam.kind != "echo":
        raise UserError(f"exam {exam_id} is a {exam.kind} exam; LV echo measurements need an echo exam")
    _refuse_if_signed(conn, exam_id)
    return exam


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
    with Tx(conn):
        bi, _, al = _update_biplane(conn, exam, table)
    return ExamMeasurement(exam_id, tuple(outcomes), bi, tuple(alerts + al), tag)


def measure_capture(conn: sqlite3.Connection, blobs: BlobStore, capture_id: int, model=None, *, degree: int = 11,
                    table: CaseTable, job_id: int | None = None) -> ExamMeasurement:
    """Measure one saved clip (e.g. from the core right after the live loop saved it), then the biplane volumes.
    A clip of a view the LV is not measured on is stored as refused with that reason."""
    cap = clinical.get_capture(conn, capture_id)
    if cap.kind != "clip":
        raise UserError(f"capture {capture_id} is a {cap.kind}, not a clip; LV measurements need a cine clip")
    exam = _echo_exam(conn, cap.exam_id)
    out, alerts, tag, _ = _measure_one(conn, blobs, exam, cap, model, degree, table, job_id)
    with Tx(conn):
        bi, _, al = _update_biplane(conn, exam, table)
    return ExamMeasurement(exam.id, (out,), bi, tuple(alerts + al), tag)


def _finding_label(detail: dict[str, Any]) -> str:
    if detail["status"] == "refused":
        return f"{detail['view']} not measured: {detail['reason']}"
    how = " (edited)" if detail.get("edited_by") else ""
    return f"{detail['view']} LV traced on ED frame {detail['ed_frame']} and ES frame {detail['es_frame']}{how}"


def _points(raw, n: int | None, size: tuple[int, int], what: str) -> list[list[float]]:
    try:
        arr = np.asarray(raw, dtype=float).reshape(-1, 2)
    except (TypeError, ValueError):
        raise InputError(f"the {what} points must be [x, y] pairs; reload the page and try again") from None
    if (n is not None and len(arr) != n) or not np.all(np.isfinite(arr)):
        raise InputError(f"the {what} needs {n} finite points; reload the page and try again")
    h, w = size
    arr[:, 0] = np.clip(arr[:, 0], 0, w - 1)
    arr[:, 1] = np.clip(arr[:, 1], 0, h - 1)
    return _xy(arr)


def apply_change(detail: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    """A copy of a measured geometry with a sonographer's change, its values recomputed (pure).

    change: apical ``{"phase": "ed"|"es", "contour": [[x, y]...], "apex": [x, y], "annulus": [[x, y], [x, y]]}``
    (any subset of the points); PLAX ``{"caliper": "lvidd", "points": [[x0, y0], [x1, y1]]}``; PSAX
    ``{"phase": "ed"|"es", "endo": [...], "epi": [...]}``. Point counts must match the stored ones.
    Raises InputError for a change that does not fit the geometry or gives no measurable result.
    """
    if detail.get("status") != "measured":
        raise InputError("this clip was not measured, so there is nothing to edit; measure it first")
    new = json.loads(json.dumps(detail))
    size = tuple(detail["image_size"])
    if detail["mode"] == "plax":
        name = change.get("caliper")
        if not isinstance(name, str) or name not in CALIPER_FRAME:
            raise InputError(f"unknown caliper {name!r}; use one of {', '.join(CALIPER_FRAME)}")
        new["calipers"][name] = _points(change.get("points"), 2, size, f"{name} caliper")
    else:
        ph = change.get("phase")
        if ph not in ("ed", "es"):
            raise InputError("say which frame the edit is on (phase 'ed' or 'es')")
        fr = new["frames"][ph]
        keys = ("contour", "apex", "annulus") if detail["mode"] == "apical" else ("endo", "epi")
        target = fr["trace"] if detail["mode"] == "apical" else fr
        if not any(k in change for k in keys):
            raise InputError(f"the edit has no points; send one of {', '.join(keys)}")
        for k in keys:
            if k in change:
                pts = _points(change[k], len(np.asarray(target[k], float).reshape(-1, 2)), size, k)
                target[k] = pts[0] if k == "apex" else pts
    new["values"] = {k: round(float(v), 4) for k, v in values_of(new).items()}
    return new


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
