"""Colour-Doppler regurgitant jets of an echo exam (issue 14 part 3), the use case: a stored colour clip (or frame)
of the exam is read with ``device.echo.jets.read_jets``; each graded jet becomes the exam's measurements (source
"auto", model ``echo_jets 1.0.0``): ``{valve}_jet_area_cm2``, ``mr_jet_la_pct`` / ``tr_jet_ra_pct`` (only with the
atrium outline given), ``{valve}_vc_mm`` (where measurable), ``ar_jet_lvot_pct`` / ``pr_jet_rvot_pct`` (with the
outflow diameter given) and ``{valve}_grade`` (0 none, 1 mild, 2 moderate, 3 severe; the rule text is in the
finding). The reading (jets with outlines, VC calipers, rules, notes, or the refusal and its reason) is a finding
of kind :data:`FINDING_KIND`. As for the Doppler screens (``device.usecases.echo_doppler``): a newer automatic
value supersedes the exam's automatic one, a value a person confirmed or edited is kept, nothing is written into a
frozen (signed) exam. Not a web request: the CLI or a job calls it.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import numpy as np

from device.echo.jets_rules import GRADES
from device.errors import InputError, UserError
from device.store import clinical
from device.store.db import Tx

FINDING_KIND = "colour_jets"
MODEL_NAME = "echo_jets"
MODEL_VERSION = "1.0.0"
# reader value -> stored name per valve (units in names); decimals as echo labs report them
_NAMES = {"jet_area_cm2": "{v}_jet_area_cm2", "vc_mm": "{v}_vc_mm"}
_RATIO = {"MR": "mr_jet_la_pct", "TR": "tr_jet_ra_pct", "AR": "ar_jet_lvot_pct", "PR": "pr_jet_rvot_pct"}
DECIMALS = {"jet_area_cm2": 1, "vc_mm": 1, "pct": 0, "grade": 0}


def unit_of(name: str) -> str:
    return "cm2" if name.endswith("_cm2") else "mm" if name.endswith("_mm") else "%" if name.endswith("_pct") else ""


def report_values(records: list[dict[str, Any]]) -> dict[str, float]:
    """Stored names and rounded values of a reading's graded jets (``JetRecord.as_dict()`` rows)."""
    out: dict[str, float] = {}
    for r in records:
        v = r["valve"].lower()
        if r["grade"] not in GRADES:
            continue
        out[f"{v}_grade"] = float(GRADES.index(r["grade"]))
        if r["grade"] == "none":
            continue
        vals = r["values"]
        for key, pattern in _NAMES.items():
            if vals.get(key) is not None and not (r["valve"] in ("AR", "PR") and key == "jet_area_cm2"):
                out[pattern.format(v=v)] = round(float(vals[key]), DECIMALS[key])
        ratio = vals.get("jet_atrium_pct") if r["valve"] in ("MR", "TR") else vals.get("jet_outflow_pct")
        if ratio is not None:
            out[_RATIO[r["valve"]]] = round(float(ratio), DECIMALS["pct"])
    return out


def frames_of(data: bytes, is_clip: bool) -> np.ndarray:
    """(T, H, W, 3) uint8 frames of a stored clip, or one stored image as a 1-frame clip."""
    from device.domain.codecs import decode_clip
    from device.usecases.echo_doppler import screen_of

    if not is_clip:
        return screen_of(data)[None]
    try:
        f = np.asarray(decode_clip(data).frames)
    except ValueError as exc:                       # ClipCodecError is a ValueError
        raise InputError(f"the clip cannot be read ({exc}); capture the colour view again") from None
    return np.repeat(f[..., None], 3, axis=3) if f.ndim == 3 else f[..., :3]


def _store(conn, exam_id: int, capture_id: int, values: dict[str, float]) -> tuple[list[int], list[str]]:
    cur = {m.name: m for m in clinical.current_measurements(conn, exam_id)}
    ids, kept = [], []
    for name, v in values.items():
        old = cur.get(name)
        if old is not None and old.source != "auto":
            kept.append(name)
            continue
        ids.append(clinical.add_measurement(conn, exam_id, capture_id, name, v, unit_of(name), MODEL_NAME,
                                            MODEL_VERSION, (0,), source="auto",
                                            supersedes=old.id if old is not None else None))
    return ids, kept


def read_capture(conn: sqlite3.Connection, blobs, capture_id: int, view: str | None = None,
                 atrium: np.ndarray | None = None, outflow_diam_mm: float | None = None) -> dict[str, Any]:
    """Read one stored colour clip/frame of an open echo exam and store its jets. ``view`` defaults to the clip's
    label; the pixel size comes from the capture's ``mm_per_px``. A refusal is stored as a finding too."""
    from device.echo.jets import read_jets
    from device.services.echo_measure import _echo_exam, frozen_reason

    cap = clinical.get_capture(conn, capture_id)
    exam = _echo_exam(conn, cap.exam_id)
    why = frozen_reason(conn, exam)
    if why is not None:
        raise UserError(f"{why}: its measurements are frozen; colour jets cannot be added now")
    view = view or cap.label
    mmpp = cap.meta.get("mm_per_px")
    try:
        if not mmpp:
            raise InputError("the capture has no pixel size (mm/px); capture it from a calibrated screen")
        r = read_jets(frames_of(blobs.get(cap.blob_sha256), cap.kind == "clip"), float(mmpp), view, atrium,
                      outflow_diam_mm)
        refused, records = r.refused, [j.as_dict() for j in r.records]
    except InputError as exc:
        refused, records = str(exc), []
    values = report_values(records) if not refused else {}
    detail: dict[str, Any] = {"status": "measured" if values else "refused", "reason": refused or "",
                              "view": view, "jets": records, "values": values, "model_name": MODEL_NAME,
                              "model_version": MODEL_VERSION}
    with Tx(conn):
        ids, kept = _store(conn, exam.id, cap.id, values) if values else ([], [])
        detail["kept_reviewed"] = kept
        label = ", ".join(f"{j['valve']} {j['grade']}" for j in records) or "not read"
        fid = clinical.add_finding(conn, exam.id, cap.id, FINDING_KIND, f"colour jets: {label}", None, MODEL_NAME,
                                   MODEL_VERSION, detail)
    return {"capture_id": cap.id, "finding_id": fid, "status": detail["status"], "reason": detail["reason"],
            "values": values, "measurement_ids": ids, "kept_reviewed": kept}
