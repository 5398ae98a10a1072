"""The exam protocol: an ordered, editable list of views; it advances as each view's best loop is saved. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from device.domain.live import STANDARD_VIEWS  # the view vocabulary is the domain's
from device.errors import InputError

__all__ = ["STANDARD_VIEWS", "ExamProtocol", "ProtocolItem"]


@dataclass(frozen=True)
class ProtocolItem:
    view: str
    captured: bool
    quality: float | None


class ExamProtocol:
    """Views to acquire in order. `target` is the current view (None when all are done)."""

    def __init__(self, views: list[str] | tuple[str, ...]):
        self.views: list[str] = []
        self.captured: dict[str, float] = {}
        self._selected: str | None = None
        self.set_views(views)

    def set_views(self, views: list[str] | tuple[str, ...]) -> None:
        """Replace the list (keeps what was captured). InputError names unknown views and the valid ones."""
        bad = [v for v in views if v not in STANDARD_VIEWS]
        if bad:
            raise InputError(f"unknown view(s) {', '.join(bad)} in the protocol; valid: {', '.join(STANDARD_VIEWS)}")
        seen: list[str] = []
        for v in views:
            if v not in seen:
                seen.append(v)
        self.views = seen
        if self._selected not in self.views:
            self._selected = None

    @property
    def target(self) -> str | None:
        if self._selected is not None and self._selected not in self.captured:
            return self._selected
        return next((v for v in self.views if v not in self.captured), None)

    @property
    def done(self) -> bool:
        return self.target is None

    def select(self, view: str) -> None:
        """Make `view` the target now (the sonographer taps it in the checklist); re-acquires a captured view."""
        if view not in self.views:
            raise InputError(f"view {view} is not in this protocol; add it first (protocol: {', '.join(self.views)})")
        self.captured.pop(view, None)
        self._selected = view

    def skip(self) -> str | None:
        """Move the current target to the end of the list; returns the new target."""
        t = self.target
        if t is not None:
            self.views.remove(t)
            self.views.append(t)
            self._selected = None
        return self.target

    def mark_captured(self, view: str, quality: float) -> bool:
        """Record a saved loop of `view`; keeps the better quality. True when this advanced the protocol."""
        was = self.target
        best = self.captured.get(view)
        if best is None or quality > best:
            self.captured[view] = float(quality)
        if self._selected == view:
            self._selected = None
        return was == view and self.target != was

    def items(self) -> list[ProtocolItem]:
        return [ProtocolItem(v, v in self.captured, self.captured.get(v)) for v in self.views]
