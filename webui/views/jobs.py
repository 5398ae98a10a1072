"""Job progress for the pages: JSON at ``GET /api/jobs/<id>`` and Server-Sent Events at ``GET /api/jobs/<id>/events``
(an ``progress`` event whenever the job's state, progress or message changes, then one ``done`` event when it has
finished). Login-protected like every route; the jobs themselves run in the worker role, never here."""

from __future__ import annotations

import json
import time

from flask import Blueprint, Response, current_app, jsonify, stream_with_context

from device.jobs import find_job
from device.store.db import connect
from webui.views.common import conn, services

bp = Blueprint("jobs", __name__, url_prefix="/api/jobs")
SSE_MAX_S = 300.0
POLL_S = 0.2


@bp.route("/<int:job_id>")
def status(job_id: int):
    job = find_job(conn(), job_id)
    if job is None:
        return jsonify({"error": f"job {job_id} does not exist; reload the page"}), 404
    return jsonify(job.as_dict())


@bp.route("/<int:job_id>/events")
def events(job_id: int):
    if find_job(conn(), job_id) is None:
        return jsonify({"error": f"job {job_id} does not exist; reload the page"}), 404
    db_path = services().db_path
    max_s = current_app.config.get("SSE_MAX_S", SSE_MAX_S)

    def gen():
        c = connect(db_path)
        try:
            yield "retry: 1000\n\n"
            last = None
            t_end = time.monotonic() + max_s
            while time.monotonic() < t_end:
                job = find_job(c, job_id)
                if job is None:
                    break
                d = job.as_dict()
                key = (d["state"], d["progress"], d["message"])
                if key != last:
                    last = key
                    kind = "done" if job.finished else "progress"
                    yield f"event: {kind}\ndata: {json.dumps(d, ensure_ascii=False)}\n\n"
                if job.finished:
                    break
                time.sleep(POLL_S)
        finally:
            c.close()

    return Response(stream_with_context(gen()), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
