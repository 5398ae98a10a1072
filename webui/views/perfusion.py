"""Perfusion exam page: upload a study or make a demo one, analyse it in the background, show the result.

Upload: DICOM (one multi-frame NM/PET file, several single-slice files, or a .zip of them) or a .npy/.npz volume
with its voxel size; stress and optionally rest. Each volume is stored first as a capture of kind ``volume`` (the
upload is kept even when the analysis fails), then a background job runs ``device.perfusion.analyse_study`` and
stores, in one transaction, the bullseye(s) and slice strip (``frame`` captures), the analysis document, the
measurements and the territory findings (layout: ``device.reporting.perfusion_sections``). The page polls the job and
shows the bullseye beside the short-axis slices, the 17 segments, LAD/LCX/RCA risk with probabilities, extent,
severity and reversibility, with the models, their versions and the disclaimer.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import math
import re
import secrets
import tempfile
import threading
import tokenize
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from flask import (
    Blueprint,
    abort,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)

from device import __version__
from device.errors import InputError, ModelError, UserError
from device.reporting import perfusion_sections as rs
from device.store import audit, clinical
from device.store.db import Tx, connect
from webui.security import roles_required
from webui.views.common import audit_log, conn, pop_flash, services

log = logging.getLogger(__name__)
bp = Blueprint("perfusion", __name__)
EDIT_ROLES = ("sonographer", "physician")
EXAM_ACTIONS = [("perfusion.page", "perf_open", None, ("perfusion",))]
ORIENTATIONS = ("auto", "short_axis", "transaxial")
MAX_ZIP_FILES, MAX_ZIP_BYTES = 4000, 1 << 30
# what numpy and zipfile raise for a damaged .npz (a bad member header is parsed with tokenize / ast)
_NPZ_ERRORS = (ValueError, OSError, KeyError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError,
               SyntaxError, tokenize.TokenError, MemoryError)
_ZIP_ERRORS = (zipfile.BadZipFile, ValueError, OSError, EOFError, zlib.error, NotImplementedError, RuntimeError,
               MemoryError)
SEVERITY = {"mild": 0.3, "moderate": 0.5, "severe": 0.7}
CLASSICAL = "perfusion_classical_polar"   # FCM myocardium + classical polar map (no trained weights)


# ---------------------------------------------------------------- storing an upload (before any analysis)

def parse_voxel(text: str) -> tuple[float, ...] | None:
    """'3.2' or '4 3.2 3.2' / '4,3.2,3.2' (mm) -> numbers; '' -> None. UserError when not 1 or 3 positive numbers."""
    parts = [p for p in re.split(r"[\s,;x×]+", text.strip()) if p]
    if not parts:
        return None
    try:
        vals = tuple(float(p) for p in parts)
    except ValueError:
        raise UserError(f"voxel size '{text.strip()}' is not a number; type e.g. 3.2 or 4 3.2 3.2 (mm)") from None
    if len(vals) not in (1, 3) or not all(0 < v <= 50 for v in vals):
        raise UserError("the voxel size is 1 or 3 numbers between 0 and 50 mm (slice, row, column), e.g. 3.2")
    return vals


def _format(name: str) -> str:
    suf = Path(name).suffix.lower()
    return {".npy": "npy", ".npz": "npz", ".zip": "zip"}.get(suf, "dicom")


_MEDIA = {"npy": "application/x-npy", "npz": "application/x-npz", "zip": "application/zip",
          "dicom": "application/dicom"}


def _npz_keys(data: bytes) -> list[str]:
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            return list(z.files)
    except _NPZ_ERRORS:  # unreadable: stored anyway; the analysis says what is wrong
        return []


def store_volumes(c, blobs, exam_id: int, phase: str, files: list[tuple[str, bytes]], voxel, orientation: str,
                  extra: dict | None = None, split_rest: bool = True) -> list[clinical.Capture]:
    """Store one uploaded phase as volume capture(s) (inside a Tx). Several DICOM files become one .zip blob; a
    .npz holding ``stress`` and ``rest`` becomes a stress and a rest capture of the same blob (unless
    ``split_rest`` is False: a rest study was uploaded separately and wins)."""
    fmts = {_format(n) for n, _ in files}
    if len(files) > 1 and fmts & {"npy", "npz", "zip"}:
        raise UserError("give one .npy/.npz/.zip file, or several DICOM files of one series, per phase")
    if "npy" in fmts and voxel is None:
        raise UserError("a .npy volume carries no voxel size; type it in 'Voxel size (mm)', e.g. 3.2")
    if len(files) > 1:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
            for i, (name, data) in enumerate(files):
                zf.writestr(f"{i:05d}_{Path(name).name or 'slice'}", data)
        fmt, data = "zip", buf.getvalue()
    else:
        fmt, data = fmts.pop(), files[0][1]
    meta = {"phase": phase, "format": fmt, "filenames": [Path(n).name for n, _ in files][:50],
            "voxel_mm": list(voxel) if voxel else None, "orientation": orientation, "key_image": False,
            **(extra or {})}
    label = phase + (" (simulated demo)" if meta.get("simulated") else "")
    if fmt != "npz":
        return [clinical.add_capture(c, blobs, exam_id, "volume", data, _MEDIA[fmt], label, None, meta)]
    keys = _npz_keys(data)
    if phase == "rest":
        key = "rest" if "rest" in keys else next((k for k in ("volume", "counts", "stress") if k in keys), None)
        return [clinical.add_capture(c, blobs, exam_id, "volume", data, _MEDIA[fmt], label, None,
                                     {**meta, "array": key})]
    key = next((k for k in ("stress", "volume", "counts") if k in keys), None)
    caps = [clinical.add_capture(c, blobs, exam_id, "volume", data, _MEDIA[fmt], label, None, {**meta, "array": key})]
    if split_rest and "rest" in keys and key is not None:
        rlabel = "rest" + (" (simulated demo)" if meta.get("simulated") else "")
        caps.append(clinical.add_capture(c, blobs, exam_id, "volume", data, _MEDIA[fmt], rlabel, None,
                                         {**meta, "phase": "rest", "array": "rest"}))
    return caps


# ---------------------------------------------------------------- reading a stored volume back

def load_capture(blobs, cap: clinical.Capture, work: Path):
    """The capture's PerfusionVolume via ``device.perfusion.load_volume`` (files written to ``work``)."""
    from device.perfusion import load_volume

    data, m = blobs.get(cap.blob_sha256), cap.meta
    fmt = m.get("format", "dicom")
    p = work / f"cap{cap.id}"
    if fmt == "npz" and m.get("array"):
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as z:
                arrays = {"stress": z[m["array"]], **{k: z[k] for k in ("voxel_mm", "orientation", "direction")
                                                        if k in z.files}}
        except _NPZ_ERRORS as exc:
            raise InputError(f"the uploaded .npz cannot be read ({type(exc).__name__}); re-export it with "
                             "numpy.savez") from None
        p = p.with_suffix(".npz")
        np.savez(p, **arrays)
    elif fmt in ("npz", "npy"):
        p = p.with_suffix("." + fmt)
        p.write_bytes(data)
    elif fmt == "zip":
        _unzip(data, p)
    else:
        p = p.with_suffix(".dcm")
        p.write_bytes(data)
    return load_volume(p, m.get("voxel_mm"), m.get("orientation", "auto"))[0]


def _unzip(data: bytes, folder: Path) -> None:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise InputError("the uploaded .zip is damaged; zip the DICOM series again") from None
    infos = [i for i in zf.infolist() if not i.is_dir() and Path(i.filename).name.upper() != "DICOMDIR"
             and not Path(i.filename).name.startswith(".")]
    if not infos:
        raise InputError("the .zip holds no files; zip the DICOM slices of one series")
    if len(infos) > MAX_ZIP_FILES or sum(i.file_size for i in infos) > MAX_ZIP_BYTES:
        raise InputError(f"the .zip is too large (more than {MAX_ZIP_FILES} files or 1 GB); give one series")
    folder.mkdir(parents=True)
    for k, info in enumerate(infos):  # own names: nothing from the archive chooses a path
        try:
            data = zf.read(info)
        except _ZIP_ERRORS as exc:  # bad header, CRC, deflate stream, offsets; encrypted (RuntimeError)
            raise InputError(f"{Path(info.filename).name} in the uploaded .zip cannot be unpacked "
                             f"({type(exc).__name__}); zip the DICOM series again") from None
        (folder / f"{k:05d}.dcm").write_bytes(data)


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


def _doc_capture(c, blobs, exam_id: int, doc: dict) -> int:
    data = json.dumps(_clean(doc), ensure_ascii=False, default=float).encode("utf-8")
    meta = {"schema": rs.ANALYSIS_SCHEMA, "status": doc["status"], "stress_capture": doc["stress_capture"],
            "key_image": False}
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


def store_result(c, blobs, exam_id: int, stress_cap, rest_cap, res, normals, risk_error: str | None) -> int:
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
    s, cl = res.scores, (CLASSICAL, __version__)
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
    return _doc_capture(c, blobs, exam_id, doc)


def ui_message(text: str) -> str:
    """The analysis' reason in the UI's words (the CLI's option names become the form's fields)."""
    return (text.replace("(try --orientation transaxial)", "(choose Orientation: transaxial and upload again)")
            .replace("--orientation transaxial", "Orientation: transaxial")
            .replace("give --voxel-mm", "type the voxel size").replace("--voxel-mm", "the voxel size"))


# ---------------------------------------------------------------- background jobs

@dataclass
class PerfusionJob:
    id: str
    exam_id: int
    state: str = "queued"          # queued | running | done | error
    message: str = ""
    analysis_id: int | None = None

    def as_dict(self) -> dict:
        return {"id": self.id, "exam_id": self.exam_id, "state": self.state, "message": self.message,
                "analysis_id": self.analysis_id}


_JOBS: dict[str, PerfusionJob] = {}
_JOBS_LOCK = threading.Lock()
_ONE_AT_A_TIME = threading.Semaphore(1)   # 2 CPU cores: analyses queue rather than compete


def job(job_id: str) -> PerfusionJob | None:
    with _JOBS_LOCK:
        return _JOBS.get(job_id)


def start_job(db_path: Path, blobs, exam_id: int, stress_id: int, rest_id: int | None, user) -> PerfusionJob:
    j = PerfusionJob(secrets.token_hex(8), exam_id)
    with _JOBS_LOCK:
        _JOBS[j.id] = j
        for old in [k for k, v in _JOBS.items() if v.state in ("done", "error")][:-50]:
            del _JOBS[old]
    threading.Thread(target=run_job, args=(j, db_path, blobs, stress_id, rest_id, user.id, user.username),
                     daemon=True, name=f"perfusion-{j.id}").start()
    return j


def run_job(j: PerfusionJob, db_path: Path, blobs, stress_id: int, rest_id: int | None, user_id: int | None,
            username: str) -> None:
    """Analyse and store; on failure store a ``failed`` analysis document with the reason (the study stays)."""
    with _ONE_AT_A_TIME:
        j.state = "running"
        c = connect(db_path)
        try:
            stress = clinical.get_capture(c, stress_id)
            rest = clinical.get_capture(c, rest_id) if rest_id is not None else None
            try:
                res, normals, risk_error = analyse(blobs, stress, rest)
                failure = None
            except UserError as exc:   # InputError, ModelError: the reason in the user's words
                failure = ui_message(str(exc))
            except Exception as exc:   # never a hung page: the log has the details
                log.exception("perfusion analysis of capture %s failed", stress_id)
                failure = (f"the analysis failed unexpectedly ({type(exc).__name__}); the study is kept — try "
                           "Analyse again, and tell the administrator if it persists")
            with Tx(c):
                if failure is None:
                    aid = store_result(c, blobs, j.exam_id, stress, rest, res, normals, risk_error)
                else:
                    aid = _doc_capture(c, blobs, j.exam_id, {"status": "failed", "message": failure,
                                                             "stress_capture": stress_id, "rest_capture": rest_id})
                audit.record(c, user_id=user_id, username=username, action="create", object_type="perfusion_analysis",
                             object_id=aid, detail={"exam_id": j.exam_id, "stress_capture": stress_id,
                                                    "rest_capture": rest_id, "status": "failed" if failure else "done",
                                                    "message": failure or ""})
            j.analysis_id, j.state, j.message = aid, ("error" if failure else "done"), failure or ""
        except Exception as exc:       # the store itself refused (disk full, ...): say so
            log.exception("perfusion job %s could not store its result", j.id)
            j.state, j.message = "error", str(exc) if isinstance(exc, UserError) else \
                f"the result could not be stored ({type(exc).__name__}); the study is kept — try again"
        finally:
            c.close()


# ---------------------------------------------------------------- routes

def _exam(c, exam_id: int) -> clinical.Exam:
    exam = clinical.get_exam(c, exam_id)
    if exam.kind != "perfusion":
        raise UserError(f"exam {exam.accession} is a {exam.kind} exam; perfusion studies belong to a perfusion exam")
    return exam


def _data_uri(blobs, c, cap_id) -> str | None:
    try:
        cap = clinical.get_capture(c, int(cap_id))
        return "data:image/png;base64," + base64.b64encode(blobs.get(cap.blob_sha256)).decode("ascii")
    except (OSError, UserError, ValueError, TypeError):
        return None


def _page(exam_id: int, error: str | None = None, code: int = 200):
    c, blobs = conn(), services().blobs
    exam = _exam(c, exam_id)
    j = job(request.args.get("job", ""))
    # the job's state is read BEFORE the store: a job is marked done/error only after its rows are committed
    snap = j.as_dict() if j is not None and j.exam_id == exam_id else None
    all_a = rs.analyses(c, blobs, exam_id)
    done = [a for a in all_a if a[1].get("status") == "done"]
    latest = done[-1] if done else None
    failed = all_a[-1] if all_a and all_a[-1][1].get("status") != "done" else None
    images = {k: _data_uri(blobs, c, v) for k, v in ((latest[1].get("images") or {}).items() if latest else [])}
    volumes = [cap for cap in clinical.list_captures(c, exam_id) if cap.kind == "volume"]
    status = {a[1].get("stress_capture"): a[1].get("status") for a in all_a}
    with Tx(c):
        audit_log("view", "perfusion", exam_id, {"analysis": latest[0].id if latest else None})
    return render_template("perfusion.html", exam=exam, latest=latest, failed=failed, images=images, volumes=volumes,
                           status=status, job=snap, error=error,
                           can_edit=g.user.role in EDIT_ROLES,
                           has_report="reports.report_page" in current_app.view_functions, orientations=ORIENTATIONS, severities=list(SEVERITY),
                           flash=pop_flash()), code


@bp.route("/exams/<int:exam_id>/perfusion")
def page(exam_id: int):
    return _page(exam_id)


def _files(field: str) -> list[tuple[str, bytes]]:
    return [(f.filename, f.read()) for f in request.files.getlist(field) if f and f.filename]


def _rest_of(caps: list[clinical.Capture]) -> int | None:
    return next((cap.id for cap in caps if cap.meta.get("phase") == "rest"), None)


@bp.route("/exams/<int:exam_id>/perfusion/upload", methods=["POST"])
@roles_required(*EDIT_ROLES)
def upload(exam_id: int):
    c, svc = conn(), services()
    try:
        exam = _exam(c, exam_id)
        if exam.status != "open":
            raise UserError(f"exam {exam.accession} is closed; open a new perfusion exam for a new study")
        stress, rest = _files("stress"), _files("rest")
        if not stress:
            raise UserError("choose the stress (or only) study file(s) first: DICOM, .zip of DICOM, .npy or .npz")
        if any(not d for _, d in stress + rest):
            raise UserError("an uploaded file is empty; choose the study files again")
        voxel = parse_voxel(request.form.get("voxel_mm", ""))
        orient = request.form.get("orientation", "auto")
        if orient not in ORIENTATIONS:
            raise UserError(f"orientation must be one of {', '.join(ORIENTATIONS)}")
        with Tx(c):
            caps = store_volumes(c, svc.blobs, exam_id, "stress", stress, voxel, orient, split_rest=not rest)
            if rest:
                caps += store_volumes(c, svc.blobs, exam_id, "rest", rest, voxel, orient)
            audit_log("create", "capture", caps[0].id, {"exam_id": exam_id, "kind": "volume",
                                                        "captures": [x.id for x in caps],
                                                        "files": [n for n, _ in stress + rest][:20]})
    except UserError as exc:
        return _page(exam_id, error=str(exc), code=400)
    j = start_job(svc.db_path, svc.blobs, exam_id, caps[0].id, _rest_of(caps), g.user)
    return redirect(url_for("perfusion.page", exam_id=exam_id, job=j.id))


@bp.route("/exams/<int:exam_id>/perfusion/demo", methods=["POST"])
@roles_required(*EDIT_ROLES)
def demo(exam_id: int):
    """A simulated stress/rest study (device.sim.spect) with the chosen defect, stored and analysed like an upload."""
    from device.sim.spect import Defect, simulate_study

    c, svc, f = conn(), services(), request.form
    try:
        exam = _exam(c, exam_id)
        if exam.status != "open":
            raise UserError(f"exam {exam.accession} is closed; open a new perfusion exam for a demo study")
        terr, sev, kind = f.get("territory", "LAD"), f.get("severity", "moderate"), f.get("defect_type", "ischaemia")
        orient = f.get("orientation", "short_axis")
        if terr not in ("none", "LAD", "LCX", "RCA") or sev not in SEVERITY or kind not in ("ischaemia", "scar") \
                or orient not in ("short_axis", "transaxial"):
            raise UserError("choose a territory (none, LAD, LCX, RCA), a severity, a defect type and an orientation")
        defects = () if terr == "none" else (Defect(terr, SEVERITY[sev], 0.6, 1.0 if kind == "ischaemia" else 0.0),)
        seed = secrets.randbelow(1 << 31)
        s = simulate_study(defects, orientation=orient, seed=seed)
        buf = io.BytesIO()
        np.savez_compressed(buf, stress=s.stress, rest=s.rest, voxel_mm=np.array(s.voxel_mm),
                            orientation=np.array(s.orientation))
        extra = {"simulated": True, "seed": seed, "defects": [d.__dict__ for d in defects]}
        with Tx(c):
            caps = store_volumes(c, svc.blobs, exam_id, "stress", [("demo.npz", buf.getvalue())], None, "auto", extra)
            audit_log("create", "capture", caps[0].id, {"exam_id": exam_id, "kind": "volume", "simulated": True,
                                                        "defects": extra["defects"], "orientation": orient})
    except UserError as exc:
        return _page(exam_id, error=str(exc), code=400)
    j = start_job(svc.db_path, svc.blobs, exam_id, caps[0].id, _rest_of(caps), g.user)
    return redirect(url_for("perfusion.page", exam_id=exam_id, job=j.id))


@bp.route("/exams/<int:exam_id>/perfusion/analyse", methods=["POST"])
@roles_required(*EDIT_ROLES)
def reanalyse(exam_id: int):
    """Analyse a stored stress volume again (with the rest volume stored with it, if any)."""
    c, svc = conn(), services()
    try:
        _exam(c, exam_id)
        stress = clinical.get_capture(c, int(request.form.get("stress_capture", "0") or 0))
        if stress.exam_id != exam_id or stress.kind != "volume" or stress.meta.get("phase") != "stress":
            raise UserError("that is not a stress study of this exam; reload the page")
        vols = [v for v in clinical.list_captures(c, exam_id) if v.kind == "volume"]
        nxt = [v for v in vols if v.id > stress.id]
        rest = nxt[0].id if nxt and nxt[0].meta.get("phase") == "rest" else None
        with Tx(c):
            audit_log("edit", "capture", stress.id, {"exam_id": exam_id, "event": "analyse again"})
    except (UserError, ValueError) as exc:
        return _page(exam_id, error=str(exc) if isinstance(exc, UserError) else "choose a study", code=400)
    j = start_job(svc.db_path, svc.blobs, exam_id, stress.id, rest, g.user)
    return redirect(url_for("perfusion.page", exam_id=exam_id, job=j.id))


@bp.route("/exams/<int:exam_id>/perfusion/jobs/<job_id>")
def job_state(exam_id: int, job_id: str):
    j = job(job_id)
    if j is None or j.exam_id != exam_id:
        abort(404)
    return jsonify(j.as_dict())
