"""Perfusion exam page: upload a study or make a demo one, follow its analysis, show the result. Request and
response only: the study is stored and a ``perfusion.analyse`` job queued (device.usecases.perfusion_study); the
worker role analyses it and the page polls the job (``/exams/<id>/perfusion/jobs/<job>``), then shows the bullseye
beside the short-axis slices, the 17 segments, LAD/LCX/RCA risk, extent, severity and reversibility, with the
models, their versions and the disclaimer (or the stored reason the analysis failed)."""

from __future__ import annotations

import base64

from flask import Blueprint, abort, current_app, g, jsonify, redirect, render_template, request, url_for

from device.errors import UserError
from device.jobs import find_job
from device.reporting import perfusion_sections as rs
from device.store import clinical
from device.usecases import perfusion_regions as spectf
from device.usecases import perfusion_study as uc
from device.usecases.perfusion_volumes import ORIENTATIONS
from webui.security import roles_required
from webui.views.common import audit_log, conn, pop_flash, services

bp = Blueprint("perfusion", __name__)
EDIT_ROLES = ("sonographer", "physician")
EXAM_ACTIONS = [("perfusion.page", "perf_open", None, ("perfusion",))]


def _user() -> tuple[int | None, str]:
    return (g.user.id, g.user.username)


def _job_state(exam_id: int, job_id: str) -> dict | None:
    """The page's view of an analysis job: state queued | running | done | error, message, analysis id."""
    try:
        job = find_job(conn(), int(job_id))
    except (ValueError, OverflowError):
        return None
    if job is None or job.exam_id != exam_id or job.kind not in (uc.ANALYSE, uc.DEMO, spectf.REGIONS):
        return None
    res = job.result or {}
    state = {"failed": "error"}.get(job.state, job.state)
    if job.state == "done" and res.get("status") == "failed":
        state = "error"
    return {"id": job.id, "exam_id": exam_id, "state": state, "message": res.get("message") or job.error or "",
            "analysis_id": res.get("analysis_id"), "kind": job.kind}


def _queued(exam_id: int, caps_or_stress, rest_id=None):
    stress_id = caps_or_stress[0].id if isinstance(caps_or_stress, list) else caps_or_stress
    if isinstance(caps_or_stress, list):
        rest_id = uc.rest_of(caps_or_stress)
    job_id = uc.enqueue_analysis(conn(), exam_id, stress_id, rest_id, _user())
    return redirect(url_for("perfusion.page", exam_id=exam_id, job=job_id))


def _data_uri(blobs, c, cap_id) -> str | None:
    try:
        cap = clinical.get_capture(c, int(cap_id))
        return "data:image/png;base64," + base64.b64encode(blobs.get(cap.blob_sha256)).decode("ascii")
    except (OSError, UserError, ValueError, TypeError):
        return None


def _page(exam_id: int, error: str | None = None, code: int = 200):
    c, blobs = conn(), services().blobs
    exam = uc.perfusion_exam(c, exam_id)
    # the job's state is read BEFORE the store: a job is marked done only after its rows are committed
    snap = _job_state(exam_id, request.args.get("job", ""))
    all_a = rs.analyses(c, blobs, exam_id)
    done = [a for a in all_a if a[1].get("status") == "done"]
    latest = done[-1] if done else None
    failed = all_a[-1] if all_a and all_a[-1][1].get("status") != "done" else None
    images = {k: _data_uri(blobs, c, v) for k, v in ((latest[1].get("images") or {}).items() if latest else [])}
    volumes = [cap for cap in clinical.list_captures(c, exam_id) if cap.kind == "volume"]
    status = {a[1].get("stress_capture"): a[1].get("status") for a in all_a}
    regions = spectf.results(c, blobs, exam_id)
    audit_log("view", "perfusion", exam_id, {"analysis": latest[0].id if latest else None})
    return render_template("perfusion.html", exam=exam, latest=latest, failed=failed, images=images, volumes=volumes,
                           status=status, job=snap, error=error,
                           can_edit=g.user.role in EDIT_ROLES,
                           has_report="reports.report_page" in current_app.view_functions, orientations=ORIENTATIONS,
                           severities=list(uc.SEVERITY), spectf=regions[-1] if regions else None,
                           flash=pop_flash()), code


@bp.route("/exams/<int:exam_id>/perfusion")
def page(exam_id: int):
    return _page(exam_id)


def _files(field: str) -> list[tuple[str, bytes]]:
    return [(f.filename, f.read()) for f in request.files.getlist(field) if f and f.filename]


@bp.route("/exams/<int:exam_id>/perfusion/upload", methods=["POST"])
@roles_required(*EDIT_ROLES)
def upload(exam_id: int):
    c = conn()
    try:
        exam = uc.perfusion_exam(c, exam_id, open_for="a new study")
        caps = uc.store_upload(c, services().blobs, exam, _files("stress"), _files("rest"),
                               request.form.get("voxel_mm", ""), request.form.get("orientation", "auto"), _user())
    except UserError as exc:
        return _page(exam_id, error=str(exc), code=400)
    return _queued(exam_id, caps)


@bp.route("/exams/<int:exam_id>/perfusion/demo", methods=["POST"])
@roles_required(*EDIT_ROLES)
def demo(exam_id: int):
    """A simulated stress/rest study with the chosen defect, made, stored and analysed by a job."""
    c, f = conn(), request.form
    try:
        exam = uc.perfusion_exam(c, exam_id, open_for="a demo study")
        job_id = uc.enqueue_demo(c, exam, f.get("territory", "LAD"), f.get("severity", "moderate"),
                                 f.get("defect_type", "ischaemia"), f.get("orientation", "short_axis"), _user())
    except UserError as exc:
        return _page(exam_id, error=str(exc), code=400)
    return redirect(url_for("perfusion.page", exam_id=exam_id, job=job_id))


@bp.route("/exams/<int:exam_id>/perfusion/analyse", methods=["POST"])
@roles_required(*EDIT_ROLES)
def reanalyse(exam_id: int):
    """Analyse a stored stress volume again (with the rest volume stored with it, if any)."""
    c = conn()
    try:
        uc.perfusion_exam(c, exam_id)
        stress, rest = uc.stress_and_rest(c, exam_id, int(request.form.get("stress_capture", "0") or 0))
        audit_log("edit", "capture", stress.id, {"exam_id": exam_id, "event": "analyse again"})
    except (UserError, ValueError) as exc:
        return _page(exam_id, error=str(exc) if isinstance(exc, UserError) else "choose a study", code=400)
    return _queued(exam_id, stress.id, rest)


@bp.route("/exams/<int:exam_id>/perfusion/regions", methods=["POST"])
@roles_required(*EDIT_ROLES)
def regions(exam_id: int):
    """SPECTF regional counts (one row of 44, a file or typed) stored and classified by a job."""
    c = conn()
    try:
        exam = uc.perfusion_exam(c, exam_id, open_for="regional counts")
        _cap, job_id = spectf.store_counts(c, services().blobs, exam, _files("counts"), request.form.get("text", ""),
                                           _user())
    except UserError as exc:
        return _page(exam_id, error=str(exc), code=400)
    return redirect(url_for("perfusion.page", exam_id=exam_id, job=job_id) + "#perf-spectf")


@bp.route("/exams/<int:exam_id>/perfusion/jobs/<job_id>")
def job_state(exam_id: int, job_id: str):
    snap = _job_state(exam_id, job_id)
    if snap is None:
        abort(404)
    return jsonify(snap)
