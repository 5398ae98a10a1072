"""The live page: the probe's stream (MJPEG from the core's run directory) and an event stream (SSE)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from flask import Blueprint, Response, current_app, render_template, request, stream_with_context

from device.store import clinical
from device.store.db import connect
from webui.views.common import audit_log, conn, services

bp = Blueprint("live", __name__)
STREAM_MAX_S = 300.0   # a stream ends after this long; the browser reconnects (frees server threads)
SSE_MAX_S = 60.0


def read_live_state(run_dir: Path) -> dict:
    try:
        return json.loads((run_dir / "live.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def core_alive(state: dict, now: float | None = None) -> bool:
    return bool(state) and ((now or time.time()) - float(state.get("wall_time", 0))) < 3.0


@bp.route("/live")
def page():
    exam = clinical.active_exam(conn(), "echo")
    audit_log("view", "live", exam.id if exam else "")
    return render_template("live.html", exam=exam)


@bp.route("/live/stream.mjpg")
def stream():
    run_dir = services().run_dir
    max_s = current_app.config.get("STREAM_MAX_S", STREAM_MAX_S)

    def gen():
        t_end = time.monotonic() + max_s
        last_mtime = 0.0
        while time.monotonic() < t_end:
            path = run_dir / "live.jpg"
            try:
                mtime = path.stat().st_mtime
                if mtime != last_mtime:
                    data = path.read_bytes()
                    last_mtime = mtime
                    yield b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: " + str(len(data)).encode() + \
                        b"\r\n\r\n" + data + b"\r\n"
            except OSError:
                pass
            time.sleep(0.04)

    return Response(stream_with_context(gen()), mimetype="multipart/x-mixed-replace; boundary=frame")


@bp.route("/live/frame.jpg")
def frame():
    try:
        data = (services().run_dir / "live.jpg").read_bytes()
    except OSError:
        return Response(status=204)
    return Response(data, mimetype="image/jpeg")


@bp.route("/api/live/state")
def state():
    s = read_live_state(services().run_dir)
    s["core_alive"] = core_alive(s)
    return s


@bp.route("/api/events")
def events():
    """Server-Sent Events: 'state' (view, quality, guidance, protocol) a few times a second and every stored event."""
    svc = services()
    try:
        after = int(request.headers.get("Last-Event-ID") or request.args.get("after") or -1)
    except ValueError:
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
                    s = read_live_state(svc.run_dir)
                    s["core_alive"] = core_alive(s)
                    yield f"event: state\ndata: {json.dumps(s, ensure_ascii=False)}\n\n"
                    last_state_t = now
                time.sleep(0.1)
        finally:
            c.close()

    return Response(stream_with_context(gen()), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
