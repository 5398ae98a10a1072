"""Edits of a short-axis MRI analysis by a person (issue 16 point 3: "editable like the echo contours"):

- a value typed over (EDV, ESV, or an ED/ES index of the reported slice): stored as an ``edited`` measurement that
  supersedes the current one, with who edited it; SV and EF are never typed, they follow EDV and ESV
  (device.reporting.sax_sections), so they stay consistent by construction;
- a frame's contours moved (cavity and/or epicardium outline, pixel points): the frame's mask is redrawn from them,
  its 11 indices and cavity area recomputed (device.lv.indices), the stack's volumes recomputed, and a new analysis
  document stored that supersedes the old one; report values that changed become ``edited`` rows.

An automatic value never replaces an edited one (device.usecases.sax_study keeps reviewed rows). A signed report
freezes the values. The caller writes the audit row (who, what, before and after).
"""

from __future__ import annotations

import json
import math
import sqlite3

import cv2
import numpy as np

from device.errors import InputError, UserError
from device.store import clinical, reports
from device.store.db import Tx
from device.usecases import sax_study as st

EDITABLE_STACK = ("edv_ml", "esv_ml")
LIMITS = {"ml": (0.0, 1000.0), "pct": (0.0, 100.0), "mm2": (0.0, 20000.0), "mm": (0.0, 150.0)}


def _check_open(conn: sqlite3.Connection, exam: clinical.Exam) -> None:
    latest = reports.latest(conn, exam.id)
    if latest is not None and latest.status == "signed":
        raise UserError("the report of this exam is signed; its values are frozen (start a correction to change "
                        "them)")


def _check_name(name: str) -> None:
    rest = name[len(st.PREFIX):] if name.startswith(st.PREFIX) else ""
    if rest in ("sv_ml", "ef_pct"):
        raise UserError("SV and EF are computed from EDV and ESV; edit EDV or ESV instead")
    if rest not in EDITABLE_STACK and not (rest[:3] in ("ed_", "es_") and rest[3:] in st.INDEX_NAMES):
        raise UserError(f"'{name}' is not a short-axis MRI value that can be edited; reload the page")


def edit_value(conn: sqlite3.Connection, exam_id: int, name: str, text: str, user_id: int) -> dict:
    """Store a typed value. Returns {name, old, new, measurement_id}. UserError with the reason otherwise."""
    exam = st.sax_exam(conn, exam_id)
    _check_open(conn, exam)
    _check_name(name)
    try:
        value = float(str(text).strip().replace(",", "."))
    except ValueError:
        raise UserError(f"'{str(text)[:20]}' is not a number; type e.g. 120.5") from None
    lo, hi = LIMITS[name.rsplit("_", 1)[1]]
    if not (math.isfinite(value) and lo < value < hi):
        raise UserError(f"{value:g} {st.unit_of(name)} is outside {lo:g}-{hi:g} {st.unit_of(name)}; check the value")
    cur = {m.name: m for m in clinical.current_measurements(conn, exam.id) if m.name.startswith(st.PREFIX)}
    old = cur.get(name)
    if old is None:
        raise UserError(f"this exam has no short-axis MRI value '{name}' to edit; upload and analyse a series first")
    edv = value if name == st.PREFIX + "edv_ml" else (cur[st.PREFIX + "edv_ml"].value
                                                      if st.PREFIX + "edv_ml" in cur else None)
    esv = value if name == st.PREFIX + "esv_ml" else (cur[st.PREFIX + "esv_ml"].value
                                                      if st.PREFIX + "esv_ml" in cur else None)
    if edv is not None and esv is not None and esv >= edv:
        raise UserError(f"ESV ({esv:g} mL) must be smaller than EDV ({edv:g} mL); check both values")
    with Tx(conn):
        mid = clinical.add_measurement(conn, exam.id, old.capture_id, name, value, st.unit_of(name), old.model_name,
                                       old.model_version, frames=old.frames, source="edited", edited_by=user_id,
                                       supersedes=old.id)
    return {"name": name, "old": old.value, "new": value, "measurement_id": mid}


def _mask(shape, endo, epi) -> np.ndarray:
    """Label mask from the outlines: epicardium filled as myocardium (2), then the cavity (1) over it."""
    h, w = int(shape[0]), int(shape[1])
    m = np.zeros((h, w), np.uint8)
    for pts, label in ((epi, 2), (endo, 1)):
        a = np.asarray(pts, dtype=float)
        if a.ndim != 2 or a.shape[1] != 2 or len(a) < 3 or not np.isfinite(a).all():
            raise UserError("a contour needs at least 3 points [x, y]; reload the page")
        a = np.clip(a, 0, [w - 1, h - 1])
        cv2.fillPoly(m, [np.round(a).astype(np.int32).reshape(-1, 1, 2)], label)
    return m


def _frame_indices(fr: dict, mask: np.ndarray) -> tuple[dict, str]:
    from device.lv import CAVITY
    from device.lv.indices import SaxOrientation, largest_component, sax_indices

    sp = fr.get("spacing_rc") or []
    if len(sp) != 2:
        raise UserError("this frame has no pixel spacing; its values cannot be recomputed")
    orient = SaxOrientation()
    if fr.get("orientation"):
        try:
            orient = SaxOrientation.from_dicom(fr["orientation"])
        except InputError:
            pass
    area = float(largest_component(mask == CAVITY).sum()) * sp[0] * sp[1]
    try:
        row = sax_indices(mask, (sp[0], sp[1]), orient).as_row()
        reason = ""
    except InputError as exc:
        row, reason = {"cavity_area_mm2": area}, str(exc)
    return {n: st._finite(row.get(n)) for n in st.INDEX_NAMES}, reason


def edit_contours(conn: sqlite3.Connection, blobs, exam_id: int, analysis_id: int, k: int, endo, epi,
                  user_id: int) -> dict:
    """Redraw frame ``k`` of an analysis from the given outlines; store the new document version and the report
    values that changed as edited rows. Returns {analysis_id, frame, indices, volumes, changed}."""
    from device.lv.sax_volumes import stack_volumes

    exam = st.sax_exam(conn, exam_id)
    _check_open(conn, exam)
    cap = clinical.get_capture(conn, analysis_id)
    if cap.exam_id != exam.id or cap.meta.get("schema") != st.ANALYSIS_SCHEMA:
        raise UserError("that is not a short-axis analysis of this exam; reload the page")
    doc = json.loads(blobs.get(cap.blob_sha256))
    if doc.get("status") != "done" or not 0 <= k < len(doc.get("frames", [])):
        raise UserError("that frame is not part of the analysis; reload the page")
    fr = doc["frames"][k]
    mask = _mask(fr["shape"], endo, epi)
    before = {n: v for n, v, _ in st.report_values(doc)}
    fr["indices"], fr["reason"] = _frame_indices(fr, mask)
    fr["endo"], fr["epi"] = st.contours(mask, 1), st.contours(mask, 2)
    fr["edited_by"] = user_id
    try:
        v = stack_volumes([f["location_mm"] for f in doc["frames"]], [f["phase_index"] for f in doc["frames"]],
                          [f["indices"]["cavity_area_mm2"] for f in doc["frames"]])
        doc["volumes"], doc["volumes_reason"] = st.volume_row(v), ""
    except InputError as exc:
        doc["volumes"], doc["volumes_reason"] = None, str(exc)
    doc["supersedes"] = cap.id
    after = st.report_values(doc)
    changed = [(n, val, frames) for n, val, frames in after if before.get(n) is None
               or abs(before[n] - val) > 1e-6]
    cur = {m.name: m for m in clinical.current_measurements(conn, exam.id) if m.name.startswith(st.PREFIX)}
    model = (doc.get("model") or {}).get("name", ""), (doc.get("model") or {}).get("version", "")
    with Tx(conn):
        aid = st._add_doc(conn, blobs, exam.id, doc, None)
        for name, val, frames in changed:
            if name[len(st.PREFIX):] in ("sv_ml", "ef_pct"):
                continue             # follow EDV and ESV in the report
            old = cur.get(name)
            clinical.add_measurement(conn, exam.id, doc["series_capture"], name, val, st.unit_of(name), *model,
                                     frames=frames, source="edited", edited_by=user_id,
                                     supersedes=old.id if old else None)
    return {"analysis_id": aid, "frame": k, "indices": fr["indices"], "volumes": doc["volumes"],
            "changed": [n for n, _, _ in changed]}
