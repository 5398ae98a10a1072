"""The sync state of one exam, summarised from its outbox rows, for the UI's exam list (pure)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class ExamSyncState:
    """``state``: ``none`` (nothing queued), ``sent``, ``sending``, ``waiting`` (PACS down, retry scheduled) or
    ``failed`` (the PACS refused an object; a person must look). ``next_retry_at`` in epoch seconds."""

    state: str
    total: int
    sent: int
    waiting: int
    failed: int
    next_retry_at: float | None
    last_error: str


def exam_sync_state(rows: Iterable[tuple[str, float | None, str]]) -> ExamSyncState:
    """``rows``: (outbox state, retry_at, last_error) per object of the exam. States: pending, claimed/sending,
    sent, failed (with retry_at: waiting for the PACS), rejected (or failed without retry_at: refused)."""
    rows = list(rows)
    sent = sum(1 for s, _, _ in rows if s == "sent")
    refused = [(s, r, e) for s, r, e in rows if s == "rejected" or (s == "failed" and r is None)]
    waiting = [(s, r, e) for s, r, e in rows if s == "failed" and r is not None]
    retries = [r for _, r, _ in waiting if r is not None]
    errs = [e for _, _, e in refused + waiting if e]
    if not rows:
        state = "none"
    elif refused:
        state = "failed"
    elif sent == len(rows):
        state = "sent"
    elif waiting:
        state = "waiting"
    else:
        state = "sending"
    return ExamSyncState(state=state, total=len(rows), sent=sent, waiting=len(waiting), failed=len(refused),
                         next_retry_at=min(retries) if retries else None, last_error=errs[-1] if errs else "")
