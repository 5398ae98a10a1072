"""The outbox worker: sends each queued DICOM object to the PACS once, retrying with backoff while it is down.

Written against two small protocols so the store can back it with SQLite:

- :class:`Outbox` ``claim_next()`` / ``mark_sent(id)`` / ``mark_failed(id, error, retry_at)``.
- :class:`Target` ``send(data, study_uid, sop_uid)`` / ``holds(study_uid, sop_uid)`` (DICOMweb or C-STORE).

No duplicates: UIDs are stable (``device.reports.dicom.ids``), and an item that was claimed before (it failed, or
the process died between sending and ``mark_sent``) is first looked up on the PACS; if the PACS holds it, it is
marked sent without sending again.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from device.sync.errors import PacsAuthError, PacsRejected, SyncError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OutboxItem:
    """One object to send. ``attempts``: how many times it was claimed before this claim (0 the first time)."""

    id: int | str
    study_uid: str
    sop_uid: str
    data: bytes
    attempts: int = 0


class Outbox(Protocol):
    def claim_next(self) -> OutboxItem | None:
        """The next item due (not sent, ``retry_at`` passed or unset), marked as claimed; None when none is due.

        The store must count each claim, so an item claimed by a process that died comes back with attempts > 0.
        """

    def mark_sent(self, item_id: int | str) -> None:
        """The PACS holds the item; never offer it again."""

    def mark_failed(self, item_id: int | str, error: str, retry_at: float | None) -> None:
        """Sending failed. ``retry_at`` (epoch seconds) is when to offer it again; None: not automatically
        (the PACS refused this object; a person must look)."""


class Target(Protocol):
    name: str

    def send(self, data: bytes, study_uid: str, sop_uid: str) -> None: ...

    def holds(self, study_uid: str, sop_uid: str) -> bool: ...


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff: ``initial_s * factor**(n-1)`` capped at ``max_s``, with ±``jitter`` fraction."""

    initial_s: float = 5.0
    max_s: float = 600.0
    factor: float = 2.0
    jitter: float = 0.1

    def delay_s(self, failures: int, rng: random.Random | None = None) -> float:
        base = min(self.max_s, self.initial_s * self.factor ** max(0, failures - 1))
        if self.jitter and rng is not None:
            base *= 1 + rng.uniform(-self.jitter, self.jitter)
        return max(0.0, min(self.max_s, base))


@dataclass(frozen=True)
class Outcome:
    """What happened to one item: ``sent``, ``already_held``, ``retry`` (retry_at set) or ``rejected``."""

    item_id: int | str
    sop_uid: str
    result: str
    error: str = ""
    retry_at: float | None = None


@dataclass
class SyncWorker:
    """Drains an outbox into a target. ``step()`` handles at most one item; ``run()`` loops until stopped.

    While the PACS is unreachable the worker pauses (``paused_until``) with exponential backoff instead of trying
    every queued item; one success resets the backoff.
    """

    outbox: Outbox
    target: Target
    backoff: Backoff = field(default_factory=Backoff)
    clock: Callable[[], float] = time.time
    rng: random.Random = field(default_factory=random.Random)
    paused_until: float = 0.0
    consecutive_failures: int = 0

    def step(self) -> Outcome | None:
        """Claim and handle one item; None when nothing is due or the worker is pausing after failures."""
        if self.clock() < self.paused_until:
            return None
        item = self.outbox.claim_next()
        if item is None:
            return None
        try:
            if item.attempts > 0 and self._holds(item):
                self.outbox.mark_sent(item.id)
                return self._ok(item, "already_held")
            self.target.send(item.data, item.study_uid, item.sop_uid)
        except PacsRejected as exc:
            self.outbox.mark_failed(item.id, str(exc), None)
            log.warning("outbox item %s refused by %s: %s", item.id, self.target.name, exc)
            return Outcome(item.id, item.sop_uid, "rejected", str(exc), None)
        except Exception as exc:  # unreachable, 5xx, auth, or an unexpected fault: keep the item, retry later
            if not isinstance(exc, SyncError):
                log.exception("outbox item %s: unexpected error from %s", item.id, self.target.name)
                exc = SyncError(f"unexpected error while sending ({type(exc).__name__}: {exc}); will retry")
            self.consecutive_failures += 1
            delay = self.backoff.delay_s(max(self.consecutive_failures, item.attempts + 1), self.rng)
            retry_at = self.clock() + delay
            self.paused_until = retry_at
            self.outbox.mark_failed(item.id, str(exc), retry_at)
            level = logging.ERROR if isinstance(exc, PacsAuthError) else logging.INFO
            log.log(level, "outbox item %s not sent (%s); retry in %.0f s", item.id, exc, delay)
            return Outcome(item.id, item.sop_uid, "retry", str(exc), retry_at)
        self.outbox.mark_sent(item.id)
        return self._ok(item, "sent")

    def _holds(self, item: OutboxItem) -> bool:
        try:
            return self.target.holds(item.study_uid, item.sop_uid)
        except PacsRejected as exc:  # the PACS cannot answer this query; a resend under the same UID is harmless
            log.warning("%s cannot say whether it holds %s (%s); sending it", self.target.name, item.sop_uid, exc)
            return False

    def _ok(self, item: OutboxItem, result: str) -> Outcome:
        self.consecutive_failures = 0
        self.paused_until = 0.0
        return Outcome(item.id, item.sop_uid, result)

    def drain(self, max_items: int = 10_000) -> list[Outcome]:
        """Handle items until none is due (or the worker pauses); returns what happened."""
        out: list[Outcome] = []
        while len(out) < max_items:
            o = self.step()
            if o is None:
                break
            out.append(o)
            if o.result == "retry":
                break
        return out

    def run(self, stop: threading.Event, idle_s: float = 2.0,
            on_outcome: Callable[[Outcome], None] | None = None) -> None:
        """Loop until ``stop`` is set: handle due items, sleep ``idle_s`` (or until the pause ends) otherwise."""
        while not stop.is_set():
            try:
                o = self.step()
            except Exception:  # the outbox itself failed (e.g. database busy): wait and try again
                log.exception("sync worker: outbox error; retrying in %.1f s", idle_s)
                stop.wait(idle_s)
                continue
            if o is not None:
                if on_outcome:
                    on_outcome(o)
                if o.result != "retry":
                    continue
            wait = idle_s
            if self.paused_until:
                wait = min(max(0.05, self.paused_until - self.clock()), max(idle_s, 0.05) * 30)
            stop.wait(wait)
