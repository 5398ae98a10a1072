"""Paper ECG in the UI: upload or photograph a printout, follow its reading, confirm the traces, correct it; live
serial ECG. Request and response only: the photo is stored and an ``ecg.read`` job queued (device.usecases); the
worker role reads it and the page follows the job's progress by SSE, then shows the reading or the failed step."""

from __future__ import annotations

import json
import logging

from flask import Blueprint, Response, abort, g, jsonify, redirect, render_template, request, url_for

from device.errors import InputError
from device.jobs import find_job, jobs_of_exam
from device.store import clinical
from device.usecases import ecg_beats, ecg_camera, ecg_readings
from device.usecases import ecg_reading as uc
from webui.security import roles_required
from webui.views.common import audit_log, conn, flash_key, pop_flash, services, settings

log = logging.getLogger(__name__)
bp = Blueprint("ecg", __name__)
EDIT_ROLES = ("sonographer", "physician")
NAV = [("ecg.live_page", "ecg_live_nav", None)]
EXAM_ACTIONS = [("ecg.page", "ecg_open", None, ("ecg",)), ("ecg.camera_page", "ecg_camera", EDIT_ROLES, ("ecg",))]
JOB_KINDS = ("ecg.read", "ecg.correct", "ecg.serial_save")
FLASH = {"ecg.read": "ecg_read_ok", "ecg.correct": "ecg_corrected", "ecg.serial_save": "ecg_live_saved"}
STEP_KEYS = {"no paper found": "ecg_step_paper", "no grid": "ecg_step_grid", "too blurred": "ecg_step_blur",
             "no traces": "ecg_step_traces", "load": "ecg_step_load", "too small": "ecg_step_small",
             "layout": "ecg_step_layout"}


def _user() -> tuple[int | None, str]:
    u = g.get("user")
    return (u.id, u.username) if u else (None, "anonymous")


def camera_candidates():
    return ecg_camera.camera_candidates(settings().capture)


def _failed(step: str | None, error: str | None, photo_id) -> str:
    """The translated 'could not be read' message (step that failed, what to do)."""
    from webui.app import current_language
    from webui.i18n import translate

    lang = current_language()
    step_text = translate(lang, STEP_KEYS.get(step or "", "ecg_step_unknown"))
    internal = not error or error.startswith("internal error")
    detail = translate(lang, "ecg_reader_crashed") if internal else error
    if step and detail.startswith(f"{step}:"):  # the step is already named
        detail = detail[len(step) + 1:].strip()
        detail = detail[:1].upper() + detail[1:]
    detail = detail if detail.endswith(".") else detail + "."
    return translate(lang, "ecg_read_failed", step=step_text, detail=detail, capture=photo_id)


def _render(exam: clinical.Exam, error: str | None = None, code: int = 200, flash=None, key: int | None = None):
    """The page showing reading ``key`` (a photo or signal capture id), else the one the report uses."""
    c = conn()
    caps = clinical.list_captures(c, exam.id)
    read_ids = {cp.meta.get("photo_capture_id") for cp in caps if cp.kind == "signal"}
    photos = [(p, p.id in read_ids) for p in caps if p.kind == "photo"]
    rows, choice = ecg_readings.reading_rows(c, exam.id)
    shown = ecg_readings.find_reading(c, exam.id, key) or (choice.reading if choice else None)
    cur = uc.reading_view(c, services().blobs, shown.current) if shown else None
    beat = ecg_beats.beat_view(c, services().blobs, shown.current) if shown else None
    jobs = [j for j in jobs_of_exam(c, exam.id, active_only=True) if j.kind in JOB_KINDS]
    return render_template("ecg.html", exam=exam, photos=photos, cur=cur, error=error, jobs=jobs,
                           readings=rows, choice=choice, shown=shown, beat=beat,
                           flash=flash or pop_flash(), can_edit=g.user.role in EDIT_ROLES), code


def _queued(exam: clinical.Exam, job_id: int, photo_id: int):
    """The answer to a POST that queued a job: JSON for the page's script, else the page that follows the job."""
    page = url_for("ecg.page", exam_id=exam.id, job=job_id)
    if request.accept_mimetypes.best == "application/json":
        return jsonify({"ok": True, "job_id": job_id, "photo_capture_id": photo_id, "redirect": page,
                        "status": url_for("jobs.status", job_id=job_id),
                        "events": url_for("jobs.events", job_id=job_id)}), 202
    return redirect(page)


def _store_and_queue(exam: clinical.Exam, data: bytes, source: str, filename: str, label: str = ""):
    c = conn()
    photo = uc.store_photo(c, services().blobs, exam, data, source, filename, _user(), label)
    return _queued(exam, uc.enqueue_read(c, exam, photo, _user()), photo.id)


@bp.route("/exams/<int:exam_id>/ecg")
def page(exam_id: int):
    exam = uc.ecg_exam(conn(), exam_id)
    audit_log("view", "exam", exam_id, {"page": "ecg", "patient_id": exam.patient.patient_id})
    key = request.args.get("reading", None, type=int)
    job = find_job(conn(), request.args.get("job", 0, type=int))
    if job is None or job.exam_id != exam.id or not job.finished:
        return _render(exam, key=key)
    if job.state == "failed":
        photo = job.payload.get("photo_capture_id") or "?"
        return _render(exam, _failed((job.result or {}).get("step"), job.error, photo), 422, key=key)
    return _render(exam, flash=(FLASH.get(job.kind, "ecg_read_ok"), {"version": job.result.get("version", 1),
                                                                      "seconds": job.result.get("seconds")}),
                   key=key or job.result.get("signal_capture_id"))


@bp.route("/exams/<int:exam_id>/ecg/upload", methods=["POST"])
@roles_required(*EDIT_ROLES)
def upload(exam_id: int):
    exam = uc.ecg_exam(conn(), exam_id)
    uc.check_editable(conn(), exam)
    files = [f for f in request.files.getlist("photo") if f.filename]
    if not files:
        raise InputError("no file was sent; choose the photo or scan of the ECG printout")
    return _store_and_queue(exam, files[0].read(), request.form.get("source", "upload"), files[0].filename or "",
                            request.form.get("label", ""))


@bp.route("/exams/<int:exam_id>/ecg/photo/<int:capture_id>/read", methods=["POST"])
@roles_required(*EDIT_ROLES)
def reread(exam_id: int, capture_id: int):
    exam = uc.ecg_exam(conn(), exam_id)
    photo = clinical.get_capture(conn(), capture_id)
    if photo.exam_id != exam.id or photo.kind != "photo":
        abort(404)
    return _queued(exam, uc.enqueue_read(conn(), exam, photo, _user()), photo.id)


@bp.route("/exams/<int:exam_id>/ecg/blob/<sha>")
def blob(exam_id: int, sha: str):
    """A photo or a reading's preview images of this exam (nothing else is served)."""
    media = uc.exam_blob(conn(), exam_id, sha)
    if media is None:
        abort(404)
    resp = Response(services().blobs.get(sha), mimetype=media)
    resp.headers["Cache-Control"] = "private, max-age=3600"
    return resp


@bp.route("/exams/<int:exam_id>/ecg/reading/<int:capture_id>/correct", methods=["GET", "POST"])
@roles_required(*EDIT_ROLES)
def correct(exam_id: int, capture_id: int):
    c = conn()
    exam = uc.ecg_exam(c, exam_id)
    cap = clinical.get_capture(c, capture_id)
    if cap.exam_id != exam.id or cap.kind != "signal" or not cap.meta.get("photo_capture_id"):
        abort(404)
    if request.method == "POST":
        try:
            speed, gain = float(request.form.get("speed", "")), float(request.form.get("gain", ""))
        except ValueError:
            speed = gain = 0.0
        try:
            boxes = json.loads(request.form.get("boxes") or "null")
        except ValueError:
            raise InputError("the lead boxes could not be read; reload the correction page") from None
        job_id = uc.enqueue_correction(c, exam, cap, speed, gain, boxes, _user())
        return _queued(exam, job_id, int(cap.meta["photo_capture_id"]))
    audit_log("view", "ecg_reading", cap.id, {"exam_id": exam.id, "page": "correct"})
    latest = uc.latest_signal(c, exam.id)
    return render_template("ecg_correct.html", exam=exam, cur=uc.reading_view(c, services().blobs, cap), error=None,
                           is_latest=latest is not None and latest.id == cap.id)


@bp.route("/exams/<int:exam_id>/ecg/reading/<int:capture_id>/calipers", methods=["POST"])
@roles_required(*EDIT_ROLES)
def calipers(exam_id: int, capture_id: int):
    """Intervals from the person's calipers (ms relative to R on the median beat): a quick pure computation,
    stored as their edit and audited (device.usecases.ecg_calipers)."""
    from device.usecases.ecg_calipers import Calipers, save_calipers

    c = conn()
    exam = uc.ecg_exam(c, exam_id)
    uc.check_editable(c, exam)
    cap = clinical.get_capture(c, capture_id)
    if cap.exam_id != exam.id or cap.kind != "signal":
        abort(404)

    def ms(name: str, required: bool = True) -> float | None:
        raw = (request.form.get(name) or "").strip()
        if not raw and not required:
            return None
        try:
            return float(raw) / 1000.0
        except ValueError:
            raise InputError(f"caliper {name} is not a number of milliseconds; move the caliper again") from None

    cal = Calipers(ms("p_onset_ms", False), ms("qrs_onset_ms") or 0.0, ms("qrs_offset_ms") or 0.0,
                   ms("t_end_ms", False))
    iv = save_calipers(c, exam.id, cap.id, cal, request.form.get("formula", "bazett"), _user())
    out = {"qt_ms": None if iv.qt_ms is None else round(iv.qt_ms), "formula": iv.qtc_formula,
           "qtc_ms": None if iv.qtc_ms is None else round(iv.qtc_ms)}
    if request.accept_mimetypes.best == "application/json":
        return jsonify({"ok": True, **out, "pr_ms": iv.pr_ms, "qrs_ms": iv.qrs_ms})
    flash_key("ecg_calipers_saved", **out)
    return redirect(url_for("ecg.page", exam_id=exam.id, reading=cap.id))


@bp.route("/exams/<int:exam_id>/ecg/reading/<int:key>/report", methods=["POST"])
@roles_required(*EDIT_ROLES)
def use_reading(exam_id: int, key: int):
    """The report uses reading ``key`` (a photo's reading): stored with who chose it, audited."""
    r = ecg_readings.pick_for_report(conn(), exam_id, key, _user())
    flash_key("ecg_reading_picked", label=r.label)
    return redirect(url_for("ecg.page", exam_id=exam_id, reading=r.key))


@bp.route("/exams/<int:exam_id>/ecg/camera")
@roles_required(*EDIT_ROLES)
def camera_page(exam_id: int):
    exam = uc.ecg_exam(conn(), exam_id)
    audit_log("view", "exam", exam_id, {"page": "ecg_camera"})
    return render_template("ecg_camera.html", exam=exam, n_cameras=len(camera_candidates()))


@bp.route("/exams/<int:exam_id>/ecg/camera/capture", methods=["POST"])
@roles_required(*EDIT_ROLES)
def camera_capture(exam_id: int):
    exam = uc.ecg_exam(conn(), exam_id)
    uc.check_editable(conn(), exam)
    try:
        frame, which = ecg_camera.grab_photo(camera_candidates())
    except InputError as exc:
        if request.accept_mimetypes.best == "application/json":
            return jsonify({"ok": False, "error": str(exc)}), 409
        return _render(exam, str(exc), 409)
    from device.usecases.ecg_images import jpeg
    data, _ = jpeg(frame, quality=92)
    return _store_and_queue(exam, data, "cart_camera", which.replace("/", "_") + ".jpg", request.form.get("label", ""))


@bp.route("/ecg/live")
def live_page():
    audit_log("view", "ecg_live", "")
    exams = [e for e in clinical.list_exams(conn(), 50, "open") if e.kind == "ecg"]
    return render_template("ecg_live.html", port=settings().ecg_serial.port, exams=exams, flash=pop_flash(),
                           can_edit=g.user.role in EDIT_ROLES)


@bp.route("/api/ecg/live")
def live_api():
    return jsonify(ecg_camera.live_payload(services().run_dir, settings().ecg_serial.port))


@bp.route("/ecg/live/save", methods=["POST"])
@roles_required(*EDIT_ROLES)
def live_save():
    """Store the last seconds of the serial ECG in an open ECG exam, with its measurements and screens."""
    try:
        exam = uc.ecg_exam(conn(), int(request.form.get("exam_id", "0")))
    except ValueError:
        raise InputError("choose the ECG exam to save the recording to") from None
    uc.check_editable(conn(), exam)
    got = ecg_camera.serial_recording(services().run_dir)
    if got is None:
        raise InputError("there are fewer than 5 s of serial ECG to save; check the electrodes and the board, "
                         "then try again")
    x, fs, leads, st = got
    job_id = uc.enqueue_serial(conn(), services().blobs, exam, x, fs, leads, st, _user())
    return redirect(url_for("ecg.page", exam_id=exam.id, job=job_id))

