"""An in-memory Outbox with the exact semantics the worker expects (reference for the SQLite one; used in tests).

States of an item: ``pending`` (due when ``retry_at`` is None or passed), ``claimed``, ``sent``, ``failed``
(``retry_at`` None: refused, needs a person). A claim counts in ``attempts``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from device.sync.worker import OutboxItem


@dataclass
class _Row:
    id: int
    study_uid: str
    sop_uid: str
    data: bytes
    state: str = "pending"
    attempts: int = 0
    retry_at: float | None = None
    last_error: str = ""


class MemoryOutbox:
    def __init__(self, clock: Callable[[], float] = time.time):
        self.clock = clock
        self.rows: dict[int, _Row] = {}
        self._lock = threading.Lock()

    def enqueue(self, study_uid: str, sop_uid: str, data: bytes) -> int:
        """Queue an object; the same SOP Instance UID queued twice keeps one row (idempotent enqueue)."""
        with self._lock:
            for r in self.rows.values():
                if r.sop_uid == sop_uid and r.state != "sent":
                    r.data = data
                    return r.id
            rid = len(self.rows) + 1
            self.rows[rid] = _Row(rid, study_uid, sop_uid, data)
            return rid

    def claim_next(self) -> OutboxItem | None:
        with self._lock:
            now = self.clock()
            for r in sorted(self.rows.values(), key=lambda r: (r.retry_at or 0.0, r.id)):
                due = r.state == "pending" or (r.state == "failed" and r.retry_at is not None and r.retry_at <= now)
                if due:
                    item = OutboxItem(r.id, r.study_uid, r.sop_uid, r.data, r.attempts)
                    r.state, r.attempts = "claimed", r.attempts + 1
                    return item
            return None

    def mark_sent(self, item_id: int | str) -> None:
        with self._lock:
            r = self.rows[int(item_id)]
            r.state, r.retry_at, r.last_error = "sent", None, ""

    def mark_failed(self, item_id: int | str, error: str, retry_at: float | None) -> None:
        with self._lock:
            r = self.rows[int(item_id)]
            r.state, r.retry_at, r.last_error = "failed", retry_at, error

    def release_claims(self) -> None:
        """What a store does at start-up: items left ``claimed`` by a dead process become pending again."""
        with self._lock:
            for r in self.rows.values():
                if r.state == "claimed":
                    r.state = "pending"

    def states(self) -> dict[str, str]:
        with self._lock:
            return {r.sop_uid: r.state for r in self.rows.values()}
