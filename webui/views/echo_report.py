"""The echo measurement page of an exam: ED and ES key frames of each measured clip with the LV contours and
calipers on an SVG overlay that a sonographer drags (touch or mouse); the numbers are recomputed on the server
with the device.lv functions and stored as edited values that supersede the automatic ones. Each number shows its
reference range and interpretation (case table, patient's sex) and the model that made it.

The page reads the store; measuring runs as a job (``echo.measure_exam``, the worker role) that the page follows
by SSE; editing and the clips go through the echo exam use case (device.usecases.echo_exam).
"""

from __future__ import annotations

import io
import logging
import threading
from collections import OrderedDict

import numpy as np
from flask import (
    Blueprint,
    Response,
    abort,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)

from device.errors import UserError
from device.reporting.echo_sections import echo_rows
from device.reporting.settings import ReportSettings
from device.jobs import find_job, jobs_of_exam
from device.store import clinical, reports
from device.usecases import echo_doppler as doppler_uc
from device.usecases import echo_exam as uc
from webui.app import current_language
from webui.i18n import translate
from webui.security import roles_required
from webui.views.common import audit_log, conn, flash_key, pop_flash, services, settings

log = logging.getLogger(__name__)
bp = Blueprint("echo_report", __name__)
EDIT_ROLES = ("sonographer", "physician")
EXAM_ACTIONS = [("echo_report.page", "echo_measure", None, ("echo",))]
PER_PAGE = 6                      # clips a page (each shows two key frames)
_PNGS: OrderedDict[str, bytes] = OrderedDict()
_LAST_CLIP: dict = {}
_PNGS_LOCK = threading.Lock()


def _table():
    """The case table of the app's loaded settings (the --config file's), never re-read from another file."""
    return ReportSettings.from_settings(settings()).case_table


def _echo_exam(exam_id: int) -> clinical.Exam:
    exam = clinical.get_exam(conn(), exam_id)
    if exam.kind != "echo":
        abort(404)
    return exam


def _row_json(r) -> dict:
    return {"id": r.measurement_id, "name": r.name, "base": r.base, "group": r.group, "label": r.label,
            "capture_id": r.capture_id, "value": r.value, "unit": r.unit, "reference": r.reference,
            "interpretation": r.interpretation, "alert": r.alert, "model": f"{r.model_name} {r.model_version}",
            "frames": list(r.frames), "source": r.source, "chosen": r.chosen, "is2d": r.model_name == "echo_2d"}


def page_data(exam: clinical.Exam) -> dict:
    """What the page and its script show: clips with their current geometry, and the current rows."""
    c = conn()
    clips, pending = uc.page_clips(c, exam.id)
    rows = [_row_json(r) for r in echo_rows(c, exam, _table(), all_clips=True)]
    latest = reports.latest(c, exam.id)
    lang = current_language()
    words = {r["interpretation"]: translate(lang, "interp." + r["interpretation"]) for r in rows}
    return {"exam_id": exam.id, "clips": clips, "clips2d": uc.page_clips_2d(c, exam.id), "rows": rows,
            "pending": pending,
            "signed": latest is not None and latest.status == "signed",
            "interp_i18n": {k: v for k, v in words.items() if v != "interp." + k}}


def _paged(clips: list[dict], page_no: int, clip_id: int) -> tuple[list[dict], dict]:
    """The clips of one page (:data:`PER_PAGE` a page; the page holding ``clip_id`` when it is one of them) and
    the pager's numbers. Many clips used to take ~7 s to show: every clip's key frames decode its whole clip."""
    total = len(clips)
    pages = max(1, -(-total // PER_PAGE))
    at = next((i for i, c in enumerate(clips) if c["capture_id"] == clip_id), None) if clip_id else None
    page_no = min(max(1, page_no if at is None else at // PER_PAGE + 1), pages)
    start = (page_no - 1) * PER_PAGE
    shown = clips[start:start + PER_PAGE]
    return shown, {"page": page_no, "pages": pages, "first": start + 1 if shown else 0, "last": start + len(shown),
                   "total": total}


@bp.route("/exams/<int:exam_id>/echo")
def page(exam_id: int):
    exam = _echo_exam(exam_id)
    data = page_data(exam)
    lv_ids = {c["capture_id"] for c in data["clips"]}
    data["clips"], pager = _paged(data["clips"], request.args.get("page", 1, type=int),
                                  request.args.get("clip", 0, type=int))
    shown = {c["capture_id"] for c in data["clips"]}   # 2-D cards follow their clip's page; 2-D-only clips always show
    data["clips2d"] = [c for c in data["clips2d"] if c["capture_id"] in shown or c["capture_id"] not in lv_ids]
    audit_log("view", "echo_measurements", exam_id, {"patient_id": exam.patient.patient_id})
    can_edit = g.user.role in EDIT_ROLES and not data["signed"]
    jobs = [j for j in jobs_of_exam(conn(), exam_id, active_only=True) if j.kind == uc.MEASURE_EXAM]
    jobs += [j for j in jobs_of_exam(conn(), exam_id, active_only=True) if j.kind == doppler_uc.READ_KIND]
    dopplers = [{"capture_id": f["capture_id"], **{k: f["detail"].get(k) for k in
                 ("status", "reason", "kind", "kind_source", "values")}}
                for f in doppler_uc.readings(conn(), exam_id)]
    return render_template("echo_report.html", exam=exam, data=data, can_edit=can_edit, jobs=jobs, pager=pager,
                           flash=_job_flash(exam_id) or pop_flash(), sex=exam.patient.sex, dopplers=dopplers)


def _job_flash(exam_id: int):
    """The finished measurement job named by ?job=: how many clips were measured, or why it failed; for a Doppler
    screen's reading: its kind and how many values, or why it was not measured."""
    job = find_job(conn(), request.args.get("job", 0, type=int))
    if job is not None and job.exam_id == exam_id and job.kind == doppler_uc.READ_KIND and job.finished:
        res = job.result or {}
        if job.state == "failed" or res.get("status") not in ("measured",):
            return "doppler_not_read", {"reason": job.error or res.get("reason", "")}
        kind = translate(current_language(), "doppler_kind." + str(res.get("kind", "unknown")))
        return "doppler_read", {"kind": kind, "n": len(res.get("values", {}))}
    if job is None or job.exam_id != exam_id or job.kind != uc.MEASURE_EXAM or not job.finished:
        return None
    if job.state == "failed":
        return "echo_measure_failed", {"reason": job.error or ""}
    return "echo_measured", {"measured": job.result.get("measured", 0), "refused": job.result.get("refused", 0)}


@bp.route("/exams/<int:exam_id>/echo/measure", methods=["POST"])
@roles_required(*EDIT_ROLES)
def measure(exam_id: int):
    exam = _echo_exam(exam_id)
    try:
        job_id = uc.enqueue_exam_measurement(conn(), exam.id, request.form.get("remeasure") == "1",
                                             (g.user.id, g.user.username))
    except UserError as exc:
        flash_key("echo_measure_failed", reason=str(exc))
        return redirect(url_for("echo_report.page", exam_id=exam_id))
    return redirect(url_for("echo_report.page", exam_id=exam_id, job=job_id))


@bp.route("/exams/<int:exam_id>/echo/doppler", methods=["POST"])
@roles_required(*EDIT_ROLES)
def doppler_upload(exam_id: int):
    """A frozen spectral Doppler screen (PNG, JPEG or DICOM): stored in the exam and read by a job
    (device.usecases.echo_doppler); the page follows the job and shows its values."""
    exam = _echo_exam(exam_id)
    files = [f for f in request.files.getlist("screen") if f and f.filename]
    try:
        cap_id, job_id = doppler_uc.add_screen(conn(), services().blobs, exam.id,
                                               files[0].read() if files else b"", files[0].filename if files else "",
                                               (g.user.id, g.user.username))
    except UserError as exc:           # InputError is a UserError: one line, back to the page
        flash_key("doppler_not_read", reason=str(exc))
        return redirect(url_for("echo_report.page", exam_id=exam_id))
    log.info("Doppler screen %s queued (job %s)", cap_id, job_id)
    return redirect(url_for("echo_report.page", exam_id=exam_id, job=job_id))


@bp.route("/exams/<int:exam_id>/echo/edit", methods=["POST"])
@roles_required(*EDIT_ROLES)
def edit(exam_id: int):
    exam = _echo_exam(exam_id)
    try:
        body = request.get_json(silent=True)
    except RecursionError:  # nested deeper than the JSON decoder goes: not an edit either
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("change"), dict):
        return jsonify({"error": "the edit must be JSON {finding_id, change}; reload the page"}), 400
    try:
        fid = int(body.get("finding_id"))
        out = uc.edit_geometry(conn(), exam.id, fid, body["change"], g.user.id, _table())
    except (TypeError, ValueError, OverflowError):   # OverflowError: int(Infinity)
        return jsonify({"error": "finding_id must be a number; reload the page"}), 400
    except UserError as exc:
        return jsonify({"error": str(exc)}), 409
    audit_log("edit", "echo_measurements", exam_id, {"finding_id": fid, "new_finding_id": out["finding_id"],
                                                      "change": body["change"], "changed": out["changed"]})
    return jsonify({"ok": True, "changed": out["changed"], **page_data(exam)})


@bp.route("/exams/<int:exam_id>/echo/edit2d", methods=["POST"])
@roles_required(*EDIT_ROLES)
def edit_2d(exam_id: int):
    """A dragged 2-D caliper or contour (RV, IVC, great vessels ...): JSON {finding_id, name, points}."""
    exam = _echo_exam(exam_id)
    try:
        body = request.get_json(silent=True)
    except RecursionError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("name"), str) or not isinstance(body.get("points"),
                                                                                              list):
        return jsonify({"error": "the edit must be JSON {finding_id, name, points}; reload the page"}), 400
    try:
        fid = int(body.get("finding_id"))
        out = uc.edit_2d(conn(), exam.id, fid, body["name"], body["points"], g.user.id, _table())
    except (TypeError, ValueError, OverflowError):
        return jsonify({"error": "finding_id must be a number; reload the page"}), 400
    except UserError as exc:
        return jsonify({"error": str(exc)}), 409
    audit_log("edit", "echo_measurements", exam_id, {"finding_id": fid, "new_finding_id": out["finding_id"],
                                                      "measure": body["name"], "changed": out["changed"]})
    return jsonify({"ok": True, "changed": out["changed"], **page_data(exam)})


@bp.route("/exams/<int:exam_id>/echo/pick", methods=["POST"])
@roles_required(*EDIT_ROLES)
def pick(exam_id: int):
    """Use this clip's values for its view in the report (the sonographer's pick, stored and audited)."""
    exam = _echo_exam(exam_id)
    try:
        cid = int(request.form.get("capture_id", ""))
        view = uc.pick_clip(conn(), exam.id, cid, g.user.id, _table())
    except (TypeError, ValueError, OverflowError):
        flash_key("echo_pick_failed", reason="capture_id must be a number; reload the page")
        return redirect(url_for("echo_report.page", exam_id=exam_id))
    except UserError as exc:
        flash_key("echo_pick_failed", reason=str(exc))
        return redirect(url_for("echo_report.page", exam_id=exam_id))
    audit_log("edit", "echo_measurements", exam_id, {"event": "clip_picked", "capture_id": cid, "view": view})
    flash_key("echo_picked", view=view)
    return redirect(url_for("echo_report.page", exam_id=exam_id, clip=cid) + f"#clip-{cid}")


def _frame_png(sha: str, index: int, blobs) -> bytes | None:
    """PNG of one frame of a clip blob (None when out of range). Keeps the last decoded clip and 32 PNGs: a cart
    has little memory and a clip decodes to tens of MB."""
    from PIL import Image

    key = f"{sha}:{index}"
    with _PNGS_LOCK:                     # requests run in threads: the LRU is read and trimmed under one lock
        if key in _PNGS:
            _PNGS.move_to_end(key)
            return _PNGS[key]
    last = _LAST_CLIP.get("clip")       # (sha, frames), replaced as a whole (requests run in threads)
    if last is not None and last[0] == sha:
        frames = last[1]
    else:
        with np.load(io.BytesIO(blobs.get(sha)), allow_pickle=False) as z:
            frames = np.asarray(z["frames"])
        _LAST_CLIP["clip"] = (sha, frames)
    if not 0 <= index < len(frames):
        return None
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(frames[index])).save(buf, format="PNG", compress_level=1)
    png = buf.getvalue()
    with _PNGS_LOCK:
        _PNGS[key] = png
        while len(_PNGS) > 32:
            _PNGS.popitem(last=False)
    return png


@bp.route("/exams/<int:exam_id>/echo/clip/<int:capture_id>/frame/<int:index>.png")
def frame_png(exam_id: int, capture_id: int, index: int):
    _echo_exam(exam_id)
    cap = clinical.get_capture(conn(), capture_id)
    if cap.exam_id != exam_id or cap.kind != "clip":
        abort(404)
    try:
        png = _frame_png(cap.blob_sha256, index, services().blobs)
    except (OSError, ValueError, KeyError) as exc:
        raise UserError(f"clip {capture_id} cannot be read ({exc}); capture the view again") from None
    if png is None:
        abort(404)
    resp = Response(png, mimetype="image/png")
    resp.headers["Cache-Control"] = "private, max-age=3600"
    return resp


@bp.route("/exams/<int:exam_id>/echo/clip/<int:capture_id>/loop.webp")
def clip_loop(exam_id: int, capture_id: int):
    """The saved clip as a looping animated WebP (device.usecases.loop_preview), loaded only when a player opens."""
    from device.usecases.loop_preview import clip_loop as loop
    _echo_exam(exam_id)
    data = loop(conn(), services().blobs, exam_id, capture_id)
    if data is None:
        abort(404)
    resp = Response(data, mimetype="image/webp")
    resp.headers["Cache-Control"] = "private, max-age=3600"
    return resp
