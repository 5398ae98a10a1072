"""The live page: the probe's stream (MJPEG from the core's run directory) and an event stream (SSE)."""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path

from flask import Blueprint, Response, current_app, redirect, render_template, request, stream_with_context, url_for

from device.domain.live import (LIVE_FRAME_FILE, LIVE_STATE_FILE, LIVE_WATCH_FILE, STANDARD_VIEWS, LiveState,
                                LiveStateError, decode_live_state, live_state_to_dict)
from device.errors import UserError
from device.store import clinical
from device.store.db import Tx, connect
from webui.i18n import catalogue
from webui.security import roles_required
from webui.views.common import audit_log, conn, flash_key, pop_flash, services

bp = Blueprint("live", __name__)
STREAM_MAX_S = 300.0   # a stream ends after this long; the browser reconnects (frees server threads)
SSE_MAX_S = 60.0
STREAM_KEEPALIVE_S = 1.0   # the picture is re-sent at least this often: writing is how the server notices a viewer
                           # has gone (no signal, a stopped core), so a left page frees its thread within seconds
STREAM_NO_PICTURE_S = 5.0  # with no picture at all for this long the stream ends; the page retries


NO_STATE = LiveState("no_signal")  # no core has written a state (or not one this version reads)


def read_live_state(run_dir: Path) -> LiveState | None:
    """The core's latest state (device.domain.live codec), or None when missing, torn or of another version."""
    try:
        return decode_live_state((run_dir / LIVE_STATE_FILE).read_bytes())
    except (OSError, LiveStateError):
        return None


def live_state_json(run_dir: Path, now_s: float | None = None) -> dict:
    """What ``/api/live/state`` and the event stream send: the state and whether the core is running."""
    s = read_live_state(run_dir)
    alive = s is not None and s.is_fresh(time.time() if now_s is None else now_s)
    return {**live_state_to_dict(s or NO_STATE), "core_alive": alive}


LIVE_STRING_KEYS = ("status_standard", "status_holding", "status_searching", "status_not_echo", "status_uncertain",
                    "status_no_signal", "core_down")


@bp.route("/live")
def page():
    from webui.app import current_language

    exam = clinical.active_exam(conn(), "echo")
    audit_log("view", "live", exam.id if exam else "")
    cat = catalogue(current_language())
    return render_template("live.html", exam=exam, views=STANDARD_VIEWS, flash=pop_flash(),
                           strings={k: cat.get(k, k) for k in LIVE_STRING_KEYS})


def parse_protocol(text: str) -> list[str]:
    """'PLAX, a4c ,A2C' -> ['PLAX', 'A4C', 'A2C']; unknown or repeated views are refused with the valid list."""
    by_upper = {v.upper(): v for v in STANDARD_VIEWS}
    views = []
    for raw in text.replace(";", ",").split(","):
        name = raw.strip()
        if not name:
            continue
        v = by_upper.get(name.upper())
        if v is None:
            raise UserError(f"'{name}' is not a view the cart recognises; valid: {', '.join(STANDARD_VIEWS)}")
        if v in views:
            raise UserError(f"{v} is listed twice; list each view once")
        views.append(v)
    if not views:
        raise UserError("the protocol needs at least one view")
    return views


@bp.route("/exams/<int:exam_id>/protocol", methods=["POST"])
@roles_required("sonographer", "physician")
def protocol(exam_id: int):
    views = parse_protocol(request.form.get("protocol", ""))
    c = conn()
    with Tx(c):
        clinical.get_exam(c, exam_id)
        clinical.set_exam_protocol(c, exam_id, views)
        audit_log("edit", "exam", exam_id, {"protocol": views})
    flash_key("protocol_saved")
    return redirect(url_for("live.page"))


@bp.route("/live/stream.mjpg")
def stream():
    run_dir = services().run_dir
    max_s = current_app.config.get("STREAM_MAX_S", STREAM_MAX_S)

    def gen():
        t_start = time.monotonic()
        t_end = t_start + max_s
        last_mtime, last_sent = 0.0, 0.0
        while time.monotonic() < t_end:
            mark_watched(run_dir)
            path = run_dir / LIVE_FRAME_FILE
            try:
                mtime = path.stat().st_mtime
                if mtime != last_mtime or time.monotonic() - last_sent >= STREAM_KEEPALIVE_S:
                    data = path.read_bytes()
                    last_mtime, last_sent = mtime, time.monotonic()
                    yield b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: " + str(len(data)).encode() + \
                        b"\r\n\r\n" + data + b"\r\n"
            except OSError:
                if time.monotonic() - (last_sent or t_start) >= STREAM_NO_PICTURE_S:
                    return
            time.sleep(0.04)

    return Response(stream_with_context(gen()), mimetype="multipart/x-mixed-replace; boundary=frame")


def mark_watched(run_dir: Path) -> None:
    """Tell the core someone watches the live picture (it draws and analyses every frame only then, or during an
    exam): touch the watch file at most every 2 s."""
    now = time.monotonic()
    if now - _WATCHED[0] < 2.0:
        return
    _WATCHED[0] = now
    with contextlib.suppress(OSError):   # a read-only run dir: the core stays at its idle rate
        (run_dir / LIVE_WATCH_FILE).touch()


_WATCHED = [0.0]


@bp.route("/live/frame.jpg")
def frame():
    mark_watched(services().run_dir)
    try:
        data = (services().run_dir / LIVE_FRAME_FILE).read_bytes()
    except OSError:
        return Response(status=204)
    return Response(data, mimetype="image/jpeg")


@bp.route("/api/live/state")
def state():
    mark_watched(services().run_dir)
    return live_state_json(services().run_dir)


@bp.route("/api/events")
def events():
    """Server-Sent Events: 'state' (view, quality, guidance, protocol) a few times a second and every stored event."""
    svc = services()
    try:
        after = int(request.headers.get("Last-Event-ID") or request.args.get("after") or -1)
    except ValueError:
        after = -1
    if after >= 2**63:  # not an id SQLite can hold: start from the newest event, as for a missing one
        after = -1
    max_s = current_app.config.get("SSE_MAX_S", SSE_MAX_S)

    def gen():
        c = connect(svc.db_path)
        try:
            last = after if after >= 0 else clinical.last_event_id(c)
            yield "retry: 1000\n\n"
            t_end = time.monotonic() + max_s
            last_state_t = 0.0
            while time.monotonic() < t_end:
                for ev in clinical.events_after(c, last):
                    last = ev["id"]
                    yield f"id: {ev['id']}\nevent: {ev['kind']}\ndata: {json.dumps(ev, ensure_ascii=False)}\n\n"
                now = time.monotonic()
                if now - last_state_t >= 0.2:
                    s = live_state_json(svc.run_dir)
                    yield f"event: state\ndata: {json.dumps(s, ensure_ascii=False)}\n\n"
                    last_state_t = now
                time.sleep(0.1)
        finally:
            c.close()

    return Response(stream_with_context(gen()), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
