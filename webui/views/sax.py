"""Short-axis MRI page of an echo (LV) exam (issue 16 point 3): upload a SAX series (DICOM files or a .zip of the
folder), follow its analysis job (``sax.analyse``, the worker role), see every slice and phase with its contours,
the 11 LVQuan indices per frame, the ED/ES frames, the stack's EDV/ESV/SV/EF by summation of discs, and edit the
contours (drag a point) or a value (typed); each edit is stored as the person's, audited, and goes into the report.

Request and response only: storing, queueing and editing are device.usecases.sax_study / sax_edit.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, g, jsonify, redirect, render_template, request, url_for

from device.errors import UserError
from device.jobs import jobs_of_exam
from device.reporting.sax_sections import phase_frame, sax_rows
from device.reporting.settings import ReportSettings
from device.store import reports
from device.usecases import sax_edit, sax_study as uc
from webui.app import current_language
from webui.security import roles_required
from webui.views.common import audit_log, conn, flash_key, pop_flash, services, settings

bp = Blueprint("sax", __name__)
EDIT_ROLES = ("sonographer", "physician")
EXAM_ACTIONS = [("sax.page", "sax_open", None, ("echo",))]


def _user() -> tuple[int | None, str]:
    return (g.user.id, g.user.username)


def _exam(exam_id: int):
    try:
        return uc.sax_exam(conn(), exam_id)
    except UserError:
        abort(404)


def _grid(doc: dict) -> list[dict]:
    """Slices (base -> apex as stored) with their frames in phase order, each marked ED / ES the way the report
    takes them (the stack's ED/ES phase when there are volumes, else the slice's own)."""
    slices: dict[int, dict] = {}
    v = doc.get("volumes")
    for f in doc.get("frames", []):
        f["mark"] = ("ED" if f["phase_index"] == v["ed_phase"] else "ES" if f["phase_index"] == v["es_phase"]
                     else "") if v else ("ED" if f["is_ed"] else "ES" if f["is_es"] else "")
        s = slices.setdefault(f["slice"], {"slice": f["slice"], "location_mm": f["location_mm"], "frames": []})
        s["frames"].append(f)
    return [slices[k] for k in sorted(slices)]


def _view_box(doc: dict, current: dict) -> str:
    """SVG viewBox of the shown frame: a square around its outlines (else those of its slice's other phases; 20 px
    margin, at least 96 px), so the heart fills the view on a whole-chest field of view; else the whole image."""
    pts = current.get("epi") or current.get("endo") or \
        [p for f in doc.get("frames", []) if f["slice"] == current["slice"] for p in (f.get("epi") or [])]
    h, w = int(current["shape"][0]), int(current["shape"][1])
    if not pts:
        return f"0 0 {w} {h}"
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    side = min(max(max(xs) - min(xs), max(ys) - min(ys)) + 40, w, h)
    side = max(side, min(96, w, h))
    cx, cy = (max(xs) + min(xs)) / 2, (max(ys) + min(ys)) / 2
    x0 = min(max(cx - side / 2, 0), w - side)
    y0 = min(max(cy - side / 2, 0), h - side)
    return f"{x0:.0f} {y0:.0f} {side:.0f} {side:.0f}"


def _page(exam_id: int, error: str | None = None, code: int = 200):
    c, blobs = conn(), services().blobs
    exam = _exam(exam_id)
    all_a = uc.analyses(c, blobs, exam_id)
    done = [a for a in all_a if a[1].get("status") == "done"]
    latest = done[-1] if done else None
    failed = all_a[-1] if all_a and all_a[-1][1].get("status") != "done" else None
    jobs = [j for j in jobs_of_exam(c, exam_id, active_only=True) if j.kind == uc.ANALYSE]
    ended = jobs_of_exam(c, exam_id, kind=uc.ANALYSE)
    if ended and ended[-1].state == "failed":   # stopped (time or memory limit, a crash): no document says why
        failed = (None, {"status": "failed", "message": ended[-1].error or ""})
    signed = (r := reports.latest(c, exam_id)) is not None and r.status == "signed"
    doc = latest[1] if latest else {}
    grid = _grid(doc)
    k = request.args.get("k", type=int)
    frames = doc.get("frames", [])
    if k is None or not 0 <= k < len(frames):
        rs = doc.get("reported_slice")
        ed = phase_frame(frames, doc.get("volumes"), rs, "ed")
        k = ed["k"] if ed else (0 if frames else None)
    current = frames[k] if k is not None and frames else None
    table = ReportSettings.from_settings(settings()).case_table
    rows = sax_rows(c, exam, table, current_language())
    audit_log("view", "sax_mri", exam_id, {"analysis": latest[0].id if latest else None})
    view_box = _view_box(doc, current) if current else ""
    return render_template("sax.html", exam=exam, tile=uc.GRID_TILE, pitch=uc.GRID_PITCH, view_box=view_box, latest=latest, doc=doc, failed=failed, jobs=jobs, grid=grid,
                           current=current, rows=rows, error=error, signed=signed,
                           can_edit=g.user.role in EDIT_ROLES and not signed, index_names=uc.INDEX_NAMES,
                           editable=lambda n: n.endswith(("edv_ml", "esv_ml")) or n[len(uc.PREFIX):][:3] in
                           ("ed_", "es_"), flash=pop_flash()), code


@bp.route("/exams/<int:exam_id>/sax")
def page(exam_id: int):
    return _page(exam_id)


@bp.route("/exams/<int:exam_id>/sax/upload", methods=["POST"])
@roles_required(*EDIT_ROLES)
def upload(exam_id: int):
    c = conn()
    files = [(f.filename, f.read()) for f in request.files.getlist("series") if f and f.filename]
    try:
        exam = uc.sax_exam(c, exam_id, open_for="a short-axis series")
        cap, job_id = uc.store_upload(c, services().blobs, exam, files, _user())
    except UserError as exc:
        return _page(exam_id, error=str(exc), code=400)
    return redirect(url_for("sax.page", exam_id=exam_id, job=job_id))


@bp.route("/exams/<int:exam_id>/sax/frame/<int:images_id>/<int:k>.png")
def frame_png(exam_id: int, images_id: int, k: int):
    _exam(exam_id)
    try:
        png = uc.frame_png(conn(), services().blobs, exam_id, images_id, k)
    except (UserError, OSError, ValueError, KeyError):
        png = None
    if png is None:
        abort(404)
    resp = Response(png, mimetype="image/png")
    resp.headers["Cache-Control"] = "private, max-age=3600"
    return resp


@bp.route("/exams/<int:exam_id>/sax/grid/<int:analysis_id>.png")
def grid_png(exam_id: int, analysis_id: int):
    """Every frame of an analysis in one picture (row = slice, column = phase) under the page's grid links."""
    _exam(exam_id)
    try:
        png = uc.grid_png(conn(), services().blobs, exam_id, analysis_id)
    except (UserError, OSError, ValueError, KeyError):
        png = None
    if png is None:
        abort(404)
    resp = Response(png, mimetype="image/png")
    resp.headers["Cache-Control"] = "private, max-age=3600"
    return resp


@bp.route("/exams/<int:exam_id>/sax/value", methods=["POST"])
@roles_required(*EDIT_ROLES)
def edit_value(exam_id: int):
    """A typed value (EDV, ESV or an ED/ES index of the reported slice) stored as the person's edit."""
    _exam(exam_id)
    name = request.form.get("name", "")
    try:
        out = sax_edit.edit_value(conn(), exam_id, name, request.form.get("value", ""), g.user.id)
    except UserError as exc:
        flash_key("sax_edit_failed", reason=str(exc))
        return redirect(url_for("sax.page", exam_id=exam_id) + "#sax-values")
    audit_log("edit", "sax_mri", exam_id, {"event": "value", **out})
    flash_key("sax_edited", name=name)
    return redirect(url_for("sax.page", exam_id=exam_id) + "#sax-values")


@bp.route("/exams/<int:exam_id>/sax/contour", methods=["POST"])
@roles_required(*EDIT_ROLES)
def edit_contour(exam_id: int):
    """JSON {analysis_id, k, endo: [[x, y]...], epi: [[x, y]...]}: the frame redrawn, its values recomputed."""
    _exam(exam_id)
    try:
        body = request.get_json(silent=True)
    except RecursionError:
        body = None
    if not isinstance(body, dict):
        return jsonify({"error": "the edit must be JSON {analysis_id, k, endo, epi}; reload the page"}), 400
    try:
        out = sax_edit.edit_contours(conn(), services().blobs, exam_id, int(body.get("analysis_id")),
                                     int(body.get("k")), body.get("endo"), body.get("epi"), g.user.id)
    except (TypeError, ValueError, OverflowError):
        return jsonify({"error": "analysis_id and k must be numbers; reload the page"}), 400
    except UserError as exc:
        return jsonify({"error": str(exc)}), 409
    audit_log("edit", "sax_mri", exam_id, {"event": "contour", "analysis_id": out["analysis_id"],
                                           "previous": body.get("analysis_id"), "frame": out["frame"],
                                           "changed": out["changed"]})
    return jsonify({"ok": True, **out})
