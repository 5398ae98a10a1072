"""Durable jobs: heavy work queued in the store's ``jobs`` table and run by the worker role (``python -m device
worker``, :mod:`device.jobs.worker`), never in a web request.

The web UI, the CLI and the core enqueue (:func:`enqueue`) and read (:func:`get_job`); the worker claims a queued job
atomically, runs its handler from the explicit table in :mod:`device.jobs.registry` and stores the result (a dict) or
the error (one line). A job left ``running`` by a killed worker is queued again at the worker's next start and runs
again; handlers make that safe by storing their clinical results keyed by the job id or by what they work on (a
capture), so every job takes effect exactly once.

A handler is ``handler(payload: dict, progress: Progress) -> dict``. The object passed as ``progress`` is a
:class:`JobRun`: calling it reports progress (0..1 and a short message); it also carries ``job_id``, ``exam_id``,
``store`` (the worker's :class:`device.store.Store`) and ``settings``.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from collections.abc import Callable
from typing import Any, Protocol

from device.errors import UserError

STATES = ("queued", "running", "done", "failed")
ACTIVE = ("queued", "running")


class Progress(Protocol):
    def __call__(self, fraction: float, message: str = "") -> None: ...


Handler = Callable[[dict, Progress], dict]


@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    state: str                     # 'queued' | 'running' | 'done' | 'failed'
    progress: float                # 0..1
    message: str
    result: dict | None
    error: str | None
    exam_id: int | None
    payload: dict
    attempts: int
    dedupe_key: str | None
    created_at: str
    finished_at: str | None

    @property
    def finished(self) -> bool:
        return self.state in ("done", "failed")

    def as_dict(self) -> dict[str, Any]:
        """What the page sees (GET /api/jobs/<id> and its SSE events): no payload."""
        return {"id": self.id, "kind": self.kind, "state": self.state, "progress": round(self.progress, 3),
                "message": self.message, "result": self.result, "error": self.error, "exam_id": self.exam_id,
                "attempts": self.attempts, "created_at": self.created_at, "finished_at": self.finished_at}


def _job(row: sqlite3.Row) -> Job:
    return Job(id=int(row["id"]), kind=row["kind"], state=row["state"], progress=float(row["progress"]),
               message=row["message"], result=json.loads(row["result"]) if row["result"] is not None else None,
               error=row["error"], exam_id=row["exam_id"], payload=json.loads(row["payload"] or "{}"),
               attempts=int(row["attempts"]), dedupe_key=row["dedupe_key"], created_at=row["created_at"],
               finished_at=row["finished_at"])


def enqueue(conn: sqlite3.Connection, kind: str, payload: dict, *, exam_id: int | None = None,
            dedupe_key: str | None = None) -> int:
    """Queue a job and return its id. With ``dedupe_key``: when a job with that key is still queued or running, its
    id is returned and nothing new is queued (a finished job frees the key). Works inside or outside a
    transaction (inside one, the job commits with the caller's rows)."""
    if not kind or not isinstance(payload, dict):
        raise ValueError("a job needs a kind and a dict payload")
    text = json.dumps(payload, ensure_ascii=False, sort_keys=True)
    if dedupe_key is not None:
        row = conn.execute("SELECT id FROM jobs WHERE dedupe_key = ? AND state IN ('queued', 'running')",
                           (dedupe_key,)).fetchone()
        if row is not None:
            return int(row[0])
    try:
        row = conn.execute("INSERT INTO jobs(kind, payload, exam_id, dedupe_key) VALUES (?, ?, ?, ?) RETURNING id",
                           (kind, text, exam_id, dedupe_key)).fetchone()
    except sqlite3.IntegrityError:      # the same key queued by another process between the SELECT and the INSERT
        row = conn.execute("SELECT id FROM jobs WHERE dedupe_key = ? AND state IN ('queued', 'running')",
                           (dedupe_key,)).fetchone()
        if row is None:
            raise
    return int(row[0])


def get_job(conn: sqlite3.Connection, job_id: int) -> Job:
    row = conn.execute("SELECT * FROM jobs WHERE id = ?", (int(job_id),)).fetchone()
    if row is None:
        raise UserError(f"job {job_id} does not exist; reload the page")
    return _job(row)


def find_job(conn: sqlite3.Connection, job_id: int) -> Job | None:
    row = conn.execute("SELECT * FROM jobs WHERE id = ?", (int(job_id),)).fetchone()
    return _job(row) if row is not None else None


def jobs_of_exam(conn: sqlite3.Connection, exam_id: int, *, kind: str | None = None,
                 active_only: bool = False) -> list[Job]:
    sql = "SELECT * FROM jobs WHERE exam_id = ?"
    args: list[Any] = [exam_id]
    if kind:
        sql += " AND kind = ?"
        args.append(kind)
    if active_only:
        sql += " AND state IN ('queued', 'running')"
    return [_job(r) for r in conn.execute(sql + " ORDER BY id", args)]


def register(kind: str, handler: Handler) -> None:
    """Add (or replace) a handler in the registry table (tests; production entries are listed in registry.py)."""
    from device.jobs.registry import HANDLERS
    HANDLERS[kind] = handler


@dataclass
class JobRun:
    """The ``progress`` argument of a handler: report progress, and the job's context."""

    conn: sqlite3.Connection
    job_id: int
    exam_id: int | None
    store: Any = None
    settings: Any = None
    min_interval_s: float = 0.2
    _last_t: float = 0.0
    _last_f: float = -1.0
    _last_m: str = ""

    def __call__(self, fraction: float, message: str = "") -> None:
        import time
        f = min(1.0, max(0.0, float(fraction)))
        now = time.monotonic()
        if message == self._last_m and now - self._last_t < self.min_interval_s and f - self._last_f < 0.25:
            return              # throttled (same step): the page polls a few times a second at most
        self._last_t, self._last_f, self._last_m = now, f, message
        try:
            self._write(f, message)
        except sqlite3.OperationalError as exc:  # progress is advisory: a busy or full disk must not fail the job
            import logging
            logging.getLogger(__name__).warning("progress of job %s not stored: %s", self.job_id, exc)

    def _write(self, f: float, message: str) -> None:
        self.conn.execute("UPDATE jobs SET progress = max(progress, ?), message = ?, "
                          "updated_at = strftime('%Y-%m-%dT%H:%M:%fZ') WHERE id = ? AND state = 'running'",
                          (f, str(message)[:300], self.job_id))
