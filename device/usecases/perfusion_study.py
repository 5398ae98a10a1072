"""Perfusion study, the use case: store an uploaded (or simulated demo) SPECT/PET study as ``volume`` captures, then
analyse it as a job (``perfusion.analyse``, run by the worker role) and store, in one transaction, the bullseye(s)
and slice strip (``frame`` captures), the analysis document, the measurements, the territory findings and the audit
row (layout: ``device.reporting.perfusion_sections``). A failed analysis stores a ``failed`` document with the reason
(the study is kept). The job is idempotent: the document carries the job id, and a job resumed after its worker was
killed returns the analysis it had stored.

Upload formats: DICOM (one multi-frame NM/PET file, several single-slice files, or a .zip of them) or a .npy/.npz
volume with its voxel size; stress and optionally rest.
"""

from __future__ import annotations

import io
import json
import logging
import math
import secrets
import sqlite3
import tempfile
from pathlib import Path

import cv2
import numpy as np

from device import __version__
from device.errors import InputError, ModelError, UserError
from device.reporting import perfusion_sections as rs
from device.store import audit, clinical
from device.store.db import Tx
from device.usecases.perfusion_volumes import ORIENTATIONS, load_capture, parse_voxel, store_volumes

log = logging.getLogger(__name__)
ANALYSE = "perfusion.analyse"
DEMO = "perfusion.demo"

SEVERITY = {"mild": 0.3, "moderate": 0.5, "severe": 0.7}
CLASSICAL = "perfusion_classical_polar"   # FCM myocardium + classical polar map (no trained weights)


# ---------------------------------------------------------------- analysis and storing its result

def _png(rgb: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR))
    if not ok:
        raise UserError("the picture could not be encoded")
    return buf.tobytes()


def slice_strip(stack: np.ndarray, n: int = 8, tile: int = 96) -> np.ndarray:
    """Short-axis slices apex -> base (hot map) with the fuzzy c-means myocardium contour (cyan). RGB uint8."""
    from device.perfusion.bullseye import render_slices
    from device.perfusion.segment import segment_lv

    stack, seg = segment_lv(stack)
    # zoom on the LV: a square around the myocardium of all slices, with a margin
    rows, cols = np.nonzero(seg.myo_mask.any(0))
    half = int(max(np.ptp(rows), np.ptp(cols)) / 2 + 5)
    cy, cx = int(rows.mean()), int(cols.mean())
    r0, c0 = max(cy - half, 0), max(cx - half, 0)
    r1, c1 = min(cy + half + 1, stack.shape[1]), min(cx + half + 1, stack.shape[2])
    stack, mask = stack[:, r0:r1, c0:c1], seg.myo_mask[:, r0:r1, c0:c1]
    img = render_slices(stack, seg.first, seg.last, n, tile)
    zs = np.linspace(seg.first, seg.last, n).round().astype(int)
    for k, z in enumerate(zs):
        m = cv2.resize(mask[z].astype(np.uint8) * 255, (tile, tile), interpolation=cv2.INTER_LINEAR)
        contours, _ = cv2.findContours((m > 127).astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
        view = np.ascontiguousarray(img[:tile, k * (tile + 4): k * (tile + 4) + tile])
        cv2.drawContours(view, contours, -1, (0, 230, 255), 1, cv2.LINE_AA)
        img[:tile, k * (tile + 4): k * (tile + 4) + tile] = view
    return img


def _name_version(tag: str) -> tuple[str, str]:
    parts = tag.split()
    return (parts[0], parts[1]) if len(parts) >= 2 else (tag, "")


def analyse(blobs, stress_cap: clinical.Capture, rest_cap: clinical.Capture | None):
    """(PerfusionResult, NormalLimits, risk_error or None). Raises InputError/ModelError with a clear reason."""
    from device.perfusion import analyse_study
    from device.perfusion.normals import load_normals

    with tempfile.TemporaryDirectory(prefix="perf-") as d:
        stress = load_capture(blobs, stress_cap, Path(d))
        rest = load_capture(blobs, rest_cap, Path(d)) if rest_cap is not None else None
    if rest is not None and rest.counts.shape != stress.counts.shape:
        raise InputError(f"the rest volume {rest.counts.shape} and the stress volume {stress.counts.shape} differ in "
                         "shape; upload both phases of the same reconstruction")
    normals = load_normals()
    args = (stress.counts, stress.voxel_mm, rest.counts if rest is not None else None,
            stress.orientation if stress.orientation != "unknown" else "auto", stress.direction, normals)
    try:
        return analyse_study(*args), normals, None
    except ModelError as exc:  # the classical map and scores need no network; say the risk is unavailable
        log.error("perfusion networks unavailable: %s", exc)
        return analyse_study(*args, use_networks=False), normals, str(exc)


def _clean(o):
    if isinstance(o, float):
        return o if math.isfinite(o) else None
    if isinstance(o, dict):
        return {k: _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    return o


def _doc_capture(c, blobs, exam_id: int, doc: dict, job_id: int | None = None) -> int:
    data = json.dumps(_clean(doc), ensure_ascii=False, default=float).encode("utf-8")
    meta = {"schema": rs.ANALYSIS_SCHEMA, "status": doc["status"], "stress_capture": doc["stress_capture"],
            "key_image": False, "job_id": job_id}
    return clinical.add_capture(c, blobs, exam_id, "document", data, "application/json", "perfusion analysis",
                                None, meta).id


def _measure(c, exam_id: int, cap_id: int, rows: list[tuple[str, float | None, str, str, str]]) -> list[int]:
    """Add measurements (name, value, unit, model, version); each supersedes the current row of the same name."""
    current = {m.name: m.id for m in clinical.current_measurements(c, exam_id)}
    ids = []
    for name, value, unit, model, version in rows:
        if value is None or not math.isfinite(value):
            continue
        ids.append(clinical.add_measurement(c, exam_id, cap_id, name, float(value), unit, model, version,
                                            supersedes=current.get(name)))
    return ids


def store_result(c, blobs, exam_id: int, stress_cap, rest_cap, res, normals, risk_error: str | None,
                 job_id: int | None = None) -> int:
    """Images, document, measurements and findings of a finished analysis (inside a Tx). Returns the document id."""
    from device.perfusion import render_bullseye

    tags = {_name_version(t)[0]: t for t in res.models}
    ring_n, ring_v = _name_version(tags.get("perfusion_ring", ""))
    terr_n, terr_v = _name_version(tags.get("perfusion_territory", ""))
    norm_n, norm_v = _name_version(res.normals)
    models = [{"name": CLASSICAL, "version": __version__, "tag": "fuzzy c-means myocardium, classical polar map"},
              {"name": norm_n, "version": norm_v, "tag": res.normals}]
    models += [{"name": n, "version": v, "tag": tags[n]} for n, v in ((ring_n, ring_v), (terr_n, terr_v)) if v]
    short = "; ".join(f"{m['name']} {m['version']}" for m in models[2:]) or f"{CLASSICAL} {__version__}"
    sim = bool(stress_cap.meta.get("simulated"))
    risk = "  ".join(f"{t.territory} {t.prob_at_risk:.2f}{' AT RISK' if t.at_risk else ''}"
                     for t in res.territories if math.isfinite(t.prob_at_risk))
    note = (f"Risk (network 2): {risk}" if risk else "Territory risk unavailable") + ("  SIMULATED" if sim else "")
    polar_source = res.polar_source
    note += "  Map: network 1" if polar_source == "network" else "  Map: classical; risk: both maps" if (
        polar_source == "ensemble") else (
        "  Map: classical (network 1 disagreed)" if res.polar_note else "")
    images = {}
    for key, polar, segs, ab, title in (
            ("bullseye_stress", res.polar_stress_pct, res.segments_stress_pct, res.scores.abnormal_stress,
             "Stress perfusion (% max)"),
            ("bullseye_rest", res.polar_rest_pct, res.segments_rest_pct, res.scores.abnormal_rest,
             "Rest perfusion (% max)")):
        if polar is None:
            continue
        png = _png(render_bullseye(polar, segs, title, short, ab,
                                   note=note if key == "bullseye_stress" else ("SIMULATED" if sim else "")))
        images[key] = clinical.add_capture(c, blobs, exam_id, "frame", png, "image/png", key.replace("_", " "),
                                           None, {"image_kind": "bullseye", "source_capture": stress_cap.id}).id
    images["slices"] = clinical.add_capture(c, blobs, exam_id, "frame", _png(slice_strip(res.short_axis)),
                                            "image/png", "short-axis slices", None,
                                            {"image_kind": "slices", "source_capture": stress_cap.id}).id
    s = res.scores
    cl = (ring_n, ring_v) if polar_source == "network" and ring_v else (CLASSICAL, __version__)  # the map's maker
    rows: list = [(f"seg{i + 1:02d}_uptake_pct", float(v), "%", *cl) for i, v in enumerate(res.segments_stress_pct)]
    if res.segments_rest_pct is not None:
        rows += [(f"seg{i + 1:02d}_rest_uptake_pct", float(v), "%", *cl) for i, v in enumerate(res.segments_rest_pct)]
    nv = (norm_n, norm_v)
    rows += [("sss", s.sss, "1", *nv), ("srs", s.srs, "1", *nv), ("sds", s.sds, "1", *nv),
             ("total_extent_pct", s.total_extent_pct, "%", *nv)]
    for t in res.territories:
        p = t.territory.lower()
        rows += [(f"{p}_extent_pct", t.extent_pct, "%", *nv), (f"{p}_severity_sd", t.severity_sd, "SD", *nv),
                 (f"{p}_sss", t.summed_stress_score, "1", *nv), (f"{p}_rest_extent_pct", t.rest_extent_pct, "%", *nv),
                 (f"{p}_reversible_extent_pct", t.reversible_extent_pct, "%", *nv),
                 (f"{p}_sds", t.summed_difference_score, "1", *nv)]
    rows.append(("network_polar_mae_pct", res.network_agreement_mae_pct, "%", ring_n, ring_v))
    mids = _measure(c, exam_id, stress_cap.id, [r for r in rows if r[4] or r[3] == CLASSICAL])
    fids = []
    known = {(f["label"], round(float(f["score"]), 6), f["model_version"]): f["id"]
             for f in clinical.list_findings(c, exam_id) if f["kind"] == rs.TERRITORY_FINDING and f["score"] is not None}
    for t in res.territories:
        label = f"{t.territory} {'at risk' if t.at_risk else 'not at risk'}"
        same = known.get((label, round(float(t.prob_at_risk), 6), terr_v))
        if same is not None:   # the same study analysed again: the finding is already there
            fids.append(same)
        elif terr_v and math.isfinite(t.prob_at_risk):
            fids.append(clinical.add_finding(
                c, exam_id, stress_cap.id, rs.TERRITORY_FINDING, label, float(t.prob_at_risk), terr_n, terr_v,
                {"territory": t.territory, "at_risk": t.at_risk, "model": tags.get(terr_n, ""),
                 "extent_pct": t.extent_pct, "severity_sd": t.severity_sd,
                 "reversible_extent_pct": t.reversible_extent_pct, "simulated": sim}))
    lower = (normals.segment_mean - 2.0 * normals.segment_sd).astype(float).round(1).tolist()
    doc = {"schema": rs.ANALYSIS_SCHEMA, "status": "done", "stress_capture": stress_cap.id,
           "rest_capture": rest_cap.id if rest_cap else None, "simulated": sim, "result": res.to_json_dict(),
           "segment_lower_limit_pct": lower, "images": images, "models": models, "risk_error": risk_error,
           "measurement_ids": mids, "finding_ids": fids}
    return _doc_capture(c, blobs, exam_id, doc, job_id)


def ui_message(text: str) -> str:
    """The analysis' reason in the UI's words (the CLI's option names become the form's fields)."""
    return (text.replace("(try --orientation transaxial)", "(choose Orientation: transaxial and upload again)")
            .replace("--orientation transaxial", "Orientation: transaxial")
            .replace("give --voxel-mm", "type the voxel size").replace("--voxel-mm", "the voxel size"))


# ---------------------------------------------------------------- the use case: store, demo, queue, job

def perfusion_exam(conn: sqlite3.Connection, exam_id: int, *, open_for: str = "") -> clinical.Exam:
    exam = clinical.get_exam(conn, exam_id)
    if exam.kind != "perfusion":
        raise UserError(f"exam {exam.accession} is an exam of type {exam.kind}; perfusion studies belong to a perfusion exam")
    if open_for and exam.status != "open":
        raise UserError(f"exam {exam.accession} is closed; open a new perfusion exam for {open_for}")
    return exam


def rest_of(caps: list[clinical.Capture]) -> int | None:
    return next((cap.id for cap in caps if cap.meta.get("phase") == "rest"), None)


def store_upload(conn: sqlite3.Connection, blobs, exam: clinical.Exam, stress: list[tuple[str, bytes]],
                 rest: list[tuple[str, bytes]], voxel_text: str, orient: str,
                 user: tuple[int | None, str]) -> list[clinical.Capture]:
    """Check and store an uploaded study (stress, optional rest) with its audit row, in one transaction."""
    if not stress:
        raise UserError("choose the stress (or only) study file(s) first: DICOM, .zip of DICOM, .npy or .npz")
    if any(not d for _, d in stress + rest):
        raise UserError("an uploaded file is empty; choose the study files again")
    voxel = parse_voxel(voxel_text)
    if orient not in ORIENTATIONS:
        raise UserError(f"orientation must be one of {', '.join(ORIENTATIONS)}")
    with Tx(conn):
        caps = store_volumes(conn, blobs, exam.id, "stress", stress, voxel, orient, split_rest=not rest)
        if rest:
            caps += store_volumes(conn, blobs, exam.id, "rest", rest, voxel, orient)
        audit.record(conn, user_id=user[0], username=user[1], action="create", object_type="capture",
                     object_id=caps[0].id, detail={"exam_id": exam.id, "kind": "volume",
                                                   "captures": [x.id for x in caps],
                                                   "files": [n for n, _ in stress + rest][:20]})
    return caps


def _check_demo(territory: str, severity: str, kind: str, orient: str) -> None:
    if territory not in ("none", "LAD", "LCX", "RCA") or severity not in SEVERITY \
            or kind not in ("ischaemia", "scar") or orient not in ("short_axis", "transaxial"):
        raise UserError("choose a territory (none, LAD, LCX, RCA), a severity, a defect type and an orientation")


def enqueue_demo(conn: sqlite3.Connection, exam: clinical.Exam, territory: str, severity: str, kind: str,
                 orient: str, user: tuple[int | None, str]) -> int:
    """Queue a simulated study (made, stored and analysed by the worker: ``perfusion.demo``)."""
    from device.jobs import enqueue
    _check_demo(territory, severity, kind, orient)
    return enqueue(conn, DEMO, {"territory": territory, "severity": severity, "defect_type": kind,
                                "orientation": orient, "user_id": user[0], "username": user[1]}, exam_id=exam.id)


def demo_job(payload: dict, progress) -> dict:
    """Simulate, store (once per job) and analyse a demo study."""
    store, job_id = progress.store, getattr(progress, "job_id", None)
    user = (payload.get("user_id"), str(payload.get("username") or "worker"))
    caps = [c for c in clinical.list_captures(store.conn, int(progress.exam_id))
            if c.kind == "volume" and job_id is not None and c.meta.get("job_id") == job_id]
    if not caps:
        progress(0.02, "simulating the study")
        exam = perfusion_exam(store.conn, int(progress.exam_id), open_for="a demo study")
        caps = store_demo(store.conn, store.blobs, exam, payload["territory"], payload["severity"],
                          payload["defect_type"], payload["orientation"], user, job_id)
    return analyse_job({"stress_capture": caps[0].id, "rest_capture": rest_of(caps), "user_id": user[0],
                        "username": user[1]}, progress)


def store_demo(conn: sqlite3.Connection, blobs, exam: clinical.Exam, territory: str, severity: str, kind: str,
               orient: str, user: tuple[int | None, str], job_id: int | None = None) -> list[clinical.Capture]:
    """A simulated stress/rest study (device.sim.spect) with the chosen defect, stored like an upload."""
    from device.sim.spect import Defect, simulate_study

    _check_demo(territory, severity, kind, orient)
    defects = () if territory == "none" else \
        (Defect(territory, SEVERITY[severity], 0.6, 1.0 if kind == "ischaemia" else 0.0),)
    seed = secrets.randbelow(1 << 31)
    s = simulate_study(defects, orientation=orient, seed=seed)
    buf = io.BytesIO()
    np.savez_compressed(buf, stress=s.stress, rest=s.rest, voxel_mm=np.array(s.voxel_mm),
                        orientation=np.array(s.orientation))
    extra = {"simulated": True, "seed": seed, "defects": [d.__dict__ for d in defects], "job_id": job_id}
    with Tx(conn):
        caps = store_volumes(conn, blobs, exam.id, "stress", [("demo.npz", buf.getvalue())], None, "auto", extra)
        audit.record(conn, user_id=user[0], username=user[1], action="create", object_type="capture",
                     object_id=caps[0].id, detail={"exam_id": exam.id, "kind": "volume", "simulated": True,
                                                   "defects": extra["defects"], "orientation": orient})
    return caps


def stress_and_rest(conn: sqlite3.Connection, exam_id: int, stress_id: int) -> tuple[clinical.Capture, int | None]:
    """A stored stress study of the exam and the rest study stored with it (None when there is none)."""
    stress = clinical.get_capture(conn, stress_id)
    if stress.exam_id != exam_id or stress.kind != "volume" or stress.meta.get("phase") != "stress":
        raise UserError("that is not a stress study of this exam; reload the page")
    vols = [v for v in clinical.list_captures(conn, exam_id) if v.kind == "volume"]
    nxt = [v for v in vols if v.id > stress.id]
    return stress, (nxt[0].id if nxt and nxt[0].meta.get("phase") == "rest" else None)


def enqueue_analysis(conn: sqlite3.Connection, exam_id: int, stress_id: int, rest_id: int | None,
                     user: tuple[int | None, str]) -> int:
    from device.jobs import enqueue
    return enqueue(conn, ANALYSE, {"stress_capture": stress_id, "rest_capture": rest_id, "user_id": user[0],
                                   "username": user[1]}, exam_id=exam_id)


def _analysis_of_job(conn: sqlite3.Connection, job_id: int) -> clinical.Capture | None:
    row = conn.execute("SELECT id FROM captures WHERE kind = 'document' AND json_extract(meta, '$.job_id') = ?",
                       (job_id,)).fetchone()
    return clinical.get_capture(conn, int(row[0])) if row else None


def analyse_job(payload: dict, progress) -> dict:
    """Analyse and store; on failure store a ``failed`` analysis document with the reason (the study stays)."""
    store, job_id = progress.store, getattr(progress, "job_id", None)
    c, blobs = store.conn, store.blobs
    if job_id is not None and (done := _analysis_of_job(c, job_id)) is not None:
        return {"analysis_id": done.id, "status": done.meta.get("status"), "message": ""}
    stress = clinical.get_capture(c, int(payload["stress_capture"]))
    rest_id = payload.get("rest_capture")
    rest = clinical.get_capture(c, int(rest_id)) if rest_id is not None else None
    progress(0.1, "reading the study, finding the myocardium, scoring the segments")
    try:
        res, normals, risk_error = analyse(blobs, stress, rest)
        failure = None
    except UserError as exc:   # InputError, ModelError: the reason in the user's words
        failure = ui_message(str(exc))
    except Exception as exc:   # noqa: BLE001 - never a hung page: the log has the details
        log.exception("perfusion analysis of capture %s failed", stress.id)
        failure = (f"the analysis failed unexpectedly ({type(exc).__name__}); the study is kept — try "
                   "Analyse again, and tell the administrator if it persists")
    progress(0.8, "storing the bullseye, segments and territories")
    with Tx(c):
        if failure is None:
            aid = store_result(c, blobs, stress.exam_id, stress, rest, res, normals, risk_error, job_id)
        else:
            aid = _doc_capture(c, blobs, stress.exam_id, {"status": "failed", "message": failure,
                                                          "stress_capture": stress.id, "rest_capture": rest_id},
                               job_id)
        audit.record(c, user_id=payload.get("user_id"), username=str(payload.get("username") or "worker"),
                     action="create", object_type="perfusion_analysis", object_id=aid,
                     detail={"exam_id": stress.exam_id, "stress_capture": stress.id, "rest_capture": rest_id,
                             "status": "failed" if failure else "done", "message": failure or ""})
    return {"analysis_id": aid, "status": "failed" if failure else "done", "message": failure or ""}
