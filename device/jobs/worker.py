"""The job worker: claims queued jobs one at a time, runs their handler, stores the result or the error.

``python -m device worker`` (:func:`run_worker`) holds the role's instance lock, so one worker owns the queue of a
data directory; at start it puts every job left ``running`` by a killed worker back to ``queued`` (a job that stopped
the worker :data:`MAX_ATTEMPTS` times is failed instead, so a job that crashes the process cannot loop forever) and
asks the registry's recovery hooks for work that was saved but never queued. Each job runs in a child process under
the [jobs] time and memory caps (device.jobs.sandbox): a job over one is failed with the reason and the worker goes
on. :func:`run_until_idle` runs the queue in the calling process (tests and the CLI; ``capped=True`` as the worker).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from typing import Any

from device.errors import UserError
from device.jobs import Job, JobRun, _job
from device.jobs.sandbox import JobLimits, died_message, memory_message, run_capped, time_message

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 3
KEEP_DAYS = 30          # finished jobs are kept this long (the pages link to them while an exam is worked on)
POLL_S = 0.25


def claim(conn: sqlite3.Connection, kinds: tuple[str, ...] | None = None) -> Job | None:
    """Atomically take the oldest queued job (of ``kinds``): one UPDATE ... RETURNING, so two workers never get the
    same job."""
    sel = json.dumps(list(kinds)) if kinds else None
    row = conn.execute(
        "UPDATE jobs SET state = 'running', attempts = attempts + 1, message = '', "
        "started_at = strftime('%Y-%m-%dT%H:%M:%fZ'), updated_at = strftime('%Y-%m-%dT%H:%M:%fZ') "
        "WHERE id = (SELECT id FROM jobs WHERE state = 'queued' AND (? IS NULL OR kind IN "
        "(SELECT value FROM json_each(?))) ORDER BY id LIMIT 1) AND state = 'queued' RETURNING *",
        (sel, sel)).fetchone()
    return _job(row) if row is not None else None


def finish(conn: sqlite3.Connection, job_id: int, result: dict) -> bool:
    cur = conn.execute(
        "UPDATE jobs SET state = 'done', progress = 1, result = ?, error = NULL, "
        "finished_at = strftime('%Y-%m-%dT%H:%M:%fZ'), updated_at = strftime('%Y-%m-%dT%H:%M:%fZ') "
        "WHERE id = ? AND state = 'running'",
        (json.dumps(result, ensure_ascii=False, default=_json_default), job_id))
    return cur.rowcount == 1


def fail(conn: sqlite3.Connection, job_id: int, error: str, step: str | None = None) -> bool:
    """Store the one-line error; ``step`` (the processing step that failed, e.g. "no grid") goes to the result."""
    res = json.dumps({"step": step}) if step else None
    cur = conn.execute(
        "UPDATE jobs SET state = 'failed', error = ?, result = ?, "
        "finished_at = strftime('%Y-%m-%dT%H:%M:%fZ'), updated_at = strftime('%Y-%m-%dT%H:%M:%fZ') "
        "WHERE id = ? AND state = 'running'", (error[:1000], res, job_id))
    return cur.rowcount == 1


def _json_default(o: Any) -> Any:
    if hasattr(o, "item"):
        return o.item()
    if hasattr(o, "tolist"):
        return o.tolist()
    raise TypeError(f"{type(o).__name__} is not JSON-serialisable")


def recover(conn: sqlite3.Connection) -> tuple[int, int]:
    """Jobs a killed worker left 'running': queued again (progress back to 0: the job starts over), or failed after
    MAX_ATTEMPTS. Only the lock holder (the one worker of this data directory) may call this. Returns (requeued,
    failed)."""
    failed = conn.execute(
        "UPDATE jobs SET state = 'failed', finished_at = strftime('%Y-%m-%dT%H:%M:%fZ'), "
        "updated_at = strftime('%Y-%m-%dT%H:%M:%fZ'), error = 'the worker stopped during this job ' || attempts || "
        "' times; the input may be too large or damaged: check it and start the job again' "
        "WHERE state = 'running' AND attempts >= ?", (MAX_ATTEMPTS,)).rowcount
    requeued = conn.execute(
        "UPDATE jobs SET state = 'queued', progress = 0, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ'), "
        "message = 'resumed after the worker stopped' WHERE state = 'running'").rowcount
    return requeued, failed


def prune(conn: sqlite3.Connection, keep_days: int = KEEP_DAYS) -> int:
    """Forget finished jobs older than ``keep_days`` (their results are in the clinical tables and the audit log)."""
    return conn.execute("DELETE FROM jobs WHERE state IN ('done', 'failed') AND finished_at < "
                        "strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?)", (f"-{int(keep_days)} days",)).rowcount


def execute(conn: sqlite3.Connection, job: Job, *, store: Any = None, settings: Any = None,
            limits: JobLimits | None = None) -> Job:
    """Run one claimed job's handler and store its result or error (a one-line message, never a traceback).
    With ``limits`` (and a store) the handler runs in a child process under those caps (device.jobs.sandbox)."""
    from device.jobs.registry import HANDLERS

    handler = HANDLERS.get(job.kind)
    run = JobRun(conn, job.id, job.exam_id, store=store, settings=settings)
    if handler is None:
        fail(conn, job.id, f"no handler for job kind '{job.kind}' (known: {', '.join(sorted(HANDLERS))}); update "
                           "the cart software")
        return _reload(conn, job.id)
    t0 = time.monotonic()
    if limits is not None and store is not None:
        _store_outcome(conn, job, run_capped(handler, job, db_path=store.db_path, settings=settings, limits=limits),
                       limits)
        log.info("job %s (%s) finished in %.2f s (capped)", job.id, job.kind, time.monotonic() - t0)
        return _reload(conn, job.id)
    try:
        result = handler(dict(job.payload), run)
    except UserError as exc:         # includes InputError: the input or the state is the problem, say what to do
        fail(conn, job.id, str(exc), getattr(exc, "step", None))
    except Exception as exc:  # noqa: BLE001 - a bug in one job must not stop the worker; logged with traceback
        log.exception("job %s (%s) failed", job.id, job.kind)
        fail(conn, job.id, f"internal error in {job.kind} ({type(exc).__name__}); the job was logged, report it")
    else:
        finish(conn, job.id, result if isinstance(result, dict) else {"value": result})
    log.info("job %s (%s) finished in %.2f s", job.id, job.kind, time.monotonic() - t0)
    return _reload(conn, job.id)


def _store_outcome(conn: sqlite3.Connection, job: Job, out: tuple, limits: JobLimits) -> None:
    """Store what a capped child reported (device.jobs.sandbox.run_capped)."""
    if out[0] == "done":
        finish(conn, job.id, out[1])
    elif out[0] == "user":
        fail(conn, job.id, out[1], out[2])
    elif out[0] == "bug":
        fail(conn, job.id, f"internal error in {job.kind} ({out[1]}); the job was logged, report it")
    elif out[0] == "timeout":
        log.warning("job %s (%s) stopped at its time limit of %g s", job.id, job.kind, limits.time_s)
        fail(conn, job.id, time_message(job.kind, limits.time_s), "time limit")
    elif out[0] == "memory":
        log.warning("job %s (%s) stopped at its memory limit of %d MB", job.id, job.kind, limits.memory_mb)
        fail(conn, job.id, memory_message(job.kind, limits.memory_mb), "memory limit")
    else:
        log.warning("job %s (%s): its process ended with %s", job.id, job.kind, out[1])
        fail(conn, job.id, died_message(job.kind, out[1], limits.memory_mb), "stopped")


def _reload(conn: sqlite3.Connection, job_id: int) -> Job:
    return _job(conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone())


def run_until_idle(store, settings=None, *, kinds: tuple[str, ...] | None = None, max_jobs: int = 1000,
                   capped: bool = False) -> list[Job]:
    """Run queued jobs until none is left (tests, CLI): in this process, or with ``capped`` each in a child under the
    [jobs] caps of ``settings``, as the worker role does. Returns the finished jobs."""
    done = []
    for _ in range(max_jobs):
        job = claim(store.conn, kinds)
        if job is None:
            break
        limits = JobLimits.for_kind(settings, job.kind) if capped else None
        done.append(execute(store.conn, job, store=store, settings=settings, limits=limits))
    return done


def run_recovery_hooks(store, settings) -> int:
    """Queue work saved but never queued (e.g. a clip saved just before the core was killed). Returns jobs queued."""
    from device.jobs.registry import RECOVERY
    n = 0
    for hook in RECOVERY:
        try:
            n += int(hook(store.conn) or 0)
        except sqlite3.Error as exc:
            log.warning("recovery hook %s failed: %s", getattr(hook, "__name__", hook), exc)
    return n


def run_worker(settings, stop=None) -> int:
    """The worker role: recover, then claim and run jobs until stopped."""
    from device.fsutil import remove_stale_parts
    from device.services.runtime import InstanceLock, StopFlag, heartbeat
    from device.store import Store

    stop = stop or StopFlag().install()
    with InstanceLock(settings.run_dir, "worker"):
        store = Store.open(settings.data_dir)
        try:
            remove_stale_parts(settings.data_dir)
            requeued, failed = recover(store.conn)
            if requeued or failed:
                log.info("resumed %d job(s) a stopped worker left running (%d failed after %d attempts)",
                         requeued, failed, MAX_ATTEMPTS)
            pruned = prune(store.conn)
            if pruned:
                log.info("forgot %d finished job(s) older than %d days", pruned, KEEP_DAYS)
            queued = run_recovery_hooks(store, settings)
            if queued:
                log.info("queued %d job(s) for work saved but never queued", queued)
            last_beat = 0.0
            while not stop.stopped:
                now = time.monotonic()
                if now - last_beat > 2.0:
                    try:
                        heartbeat(settings.run_dir, "worker")
                    except OSError as exc:
                        log.warning("cannot write run state: %s", exc)
                    last_beat = now
                try:
                    job = claim(store.conn)
                    if job is None:
                        stop.wait(POLL_S)
                        continue
                    execute(store.conn, job, store=store, settings=settings,
                            limits=JobLimits.for_kind(settings, job.kind))
                except sqlite3.OperationalError as exc:  # locked too long or disk full: the job stays and is retried
                    log.error("job queue unavailable (%s); retrying in 5 s", exc)
                    stop.wait(5.0)
                    recover(store.conn)
        finally:
            store.close()
    return 0
