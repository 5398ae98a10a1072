"""Quality smoothing over time. Timestamps are inputs (ns); nothing here reads a clock."""

from __future__ import annotations


class QualitySmoother:
    """Exponential smoothing with a time constant `tau_s`, robust to uneven frame intervals.

    ``update(t_ns, q)`` returns the smoothed quality (0..1). A gap longer than `reset_gap_s` restarts the average.
    """

    def __init__(self, tau_s: float = 0.4, reset_gap_s: float = 1.0):
        self.tau_s = tau_s
        self.reset_gap_s = reset_gap_s
        self.value: float | None = None
        self.t_ns: int | None = None

    def update(self, t_ns: int, q: float) -> float:
        q = min(1.0, max(0.0, float(q)))
        if self.value is None or self.t_ns is None or (t_ns - self.t_ns) / 1e9 > self.reset_gap_s:
            self.value = q
        else:
            import math

            dt = max(0.0, (t_ns - self.t_ns) / 1e9)
            a = 1.0 - math.exp(-dt / self.tau_s) if self.tau_s > 0 else 1.0
            self.value = self.value + a * (q - self.value)
        self.t_ns = t_ns
        return self.value

    def reset(self) -> None:
        self.value = None
        self.t_ns = None
