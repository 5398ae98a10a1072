"""Pieces of the live loop's runner that other threads touch: the exam protocol behind one lock, and the bounded
drop-oldest queue between the capture thread and the worker."""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

from device.domain.live import LiveProtocolItem
from device.echo.protocol import ExamProtocol


class SharedProtocol:
    """The exam protocol, edited from other threads (the UI, the core's exam follower) and read by the worker;
    every read and change holds one lock. None = no protocol (any standard view counts)."""

    def __init__(self, views: list[str] | None = None):
        self._p = ExamProtocol(views) if views else None
        self._lock = threading.Lock()

    @property
    def current(self) -> ExamProtocol | None:
        with self._lock:
            return self._p

    @property
    def target(self) -> str | None:
        with self._lock:
            return self._p.target if self._p else None

    def replace(self, protocol: ExamProtocol | None) -> None:
        with self._lock:
            self._p = protocol

    def set_views(self, views: list[str]) -> None:
        """Replace the ordered view list (InputError lists valid views); captured views stay captured."""
        with self._lock:
            if self._p is None:
                self._p = ExamProtocol(views)
            else:
                self._p.set_views(views)

    def select(self, view: str) -> None:
        """Make `view` the current target (re-acquire it even if captured)."""
        with self._lock:
            if self._p is None:
                self._p = ExamProtocol([view])
            self._p.select(view)

    def skip(self) -> str | None:
        """Move the current target to the end of the list; returns the new target."""
        with self._lock:
            return self._p.skip() if self._p else None

    def restart(self) -> None:
        """Forget what was captured (a new patient); keeps the view list."""
        with self._lock:
            if self._p is not None:
                self._p = ExamProtocol(self._p.views)

    def items(self) -> tuple[LiveProtocolItem, ...]:
        with self._lock:
            items = self._p.items() if self._p else []
        return tuple(LiveProtocolItem(i.view, i.captured, i.quality) for i in items)

    def mark_captured(self, view: str, quality: float) -> tuple[bool, bool, str | None]:
        """Record a kept loop: (the protocol advanced, it is done, the next target)."""
        with self._lock:
            if self._p is None:
                return False, False, None
            advanced = self._p.mark_captured(view, quality)
            return advanced, self._p.done, self._p.target


class DropOldestQueue:
    """A bounded FIFO; putting into a full queue discards the oldest item (live video must not lag)."""

    def __init__(self, maxlen: int):
        self.items: deque[Any] = deque()
        self.maxlen = maxlen
        self.dropped = 0
        self.cv = threading.Condition()
        self.closed = False

    def put(self, item: Any) -> None:
        with self.cv:
            if len(self.items) >= self.maxlen:
                self.items.popleft()
                self.dropped += 1
            self.items.append(item)
            self.cv.notify()

    def get(self, timeout: float) -> Any | None:
        with self.cv:
            if not self.items and not self.closed:
                self.cv.wait(timeout)
            return self.items.popleft() if self.items else None

    def close(self) -> None:
        with self.cv:
            self.closed = True
            self.cv.notify_all()
