"""Keep the last seconds of frames and pick the best loop of a view by quality. Timestamps are inputs."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BestClip:
    """The best loop of one view.

    frames: (T, H, W, 3) uint8 RGB; t_mono_ns: (T,) int64 capture times; view: label; quality_mean / quality_min:
    over the loop (0..1); fps: measured frame rate of the loop; mm_per_px: pixel size when the source knew it;
    sector_bbox: imaging area in the frames when found; model: tag of the model that named the view.
    """

    frames: np.ndarray
    t_mono_ns: np.ndarray
    view: str
    quality_mean: float
    quality_min: float
    fps: float
    mm_per_px: float | None
    sector_bbox: tuple[int, int, int, int] | None
    model: str

    @property
    def duration_s(self) -> float:
        return float(self.t_mono_ns[-1] - self.t_mono_ns[0]) / 1e9 if len(self.t_mono_ns) > 1 else 0.0


def best_window(t_ns: np.ndarray, quality: np.ndarray, ok: np.ndarray, clip_s: float,
                min_s: float = 1.0) -> tuple[int, int, float] | None:
    """The run of frames with the highest mean quality lasting ~clip_s (shorter, down to min_s, if need be).

    t_ns (N,) increasing; quality (N,) 0..1; ok (N,) bool: frames allowed in the loop (right view, signal present).
    Returns (start, stop) indices (stop exclusive) and the mean quality, or None when no run lasts min_s.
    """
    n = len(t_ns)
    if n == 0:
        return None
    t = (np.asarray(t_ns, dtype=np.int64) - int(t_ns[0])) / 1e9
    q = np.where(ok, quality, 0.0).astype(np.float64)
    cq = np.concatenate([[0.0], np.cumsum(q)])
    bad = np.concatenate([[0], np.cumsum(~np.asarray(ok, bool))])
    for length in (clip_s, max(min_s, clip_s * 0.66), min_s):
        best = None
        j = 0
        for i in range(n):
            j = max(j, i)
            while j < n and t[j] - t[i] < length - 1e-9:
                j += 1
            if j >= n:
                break
            stop = j + 1 if t[j] - t[i] <= length + 1e-9 else j
            if stop - i < 2 or bad[stop] - bad[i] > 0:
                continue
            m = (cq[stop] - cq[i]) / (stop - i)
            if best is None or m > best[2]:
                best = (i, stop, float(m))
        if best is not None:
            return best
    return None


class ClipBuffer:
    """The last `max_s` seconds of frames (bounded also by `max_bytes`), with their view and quality."""

    def __init__(self, max_s: float = 6.0, max_bytes: int = 256 * 2 ** 20):
        self.max_s = max_s
        self.max_bytes = max_bytes
        self.items: deque[tuple[int, np.ndarray, str, float]] = deque()
        self._bytes = 0

    def add(self, t_ns: int, frame: np.ndarray, view: str, quality: float) -> None:
        self.items.append((t_ns, frame, view, float(quality)))
        self._bytes += frame.nbytes
        while self.items and ((t_ns - self.items[0][0]) / 1e9 > self.max_s or self._bytes > self.max_bytes):
            self._bytes -= self.items.popleft()[1].nbytes

    def clear(self) -> None:
        self.items.clear()
        self._bytes = 0

    def best(self, view: str, clip_s: float, min_quality: float = 0.0, since_ns: int | None = None,
             mm_per_px: float | None = None, sector_bbox: tuple[int, int, int, int] | None = None,
             model: str = "", min_s: float = 1.0) -> BestClip | None:
        """The best loop of `view` in the buffer (frames after since_ns only), or None when none lasts min_s."""
        items = [it for it in self.items if since_ns is None or it[0] >= since_ns]
        if len(items) < 2:
            return None
        t = np.array([it[0] for it in items], np.int64)
        q = np.array([it[3] for it in items], np.float64)
        ok = np.array([it[2] == view and it[3] >= min_quality for it in items])
        win = best_window(t, q, ok, clip_s, min_s)
        if win is None:
            return None
        i, j, _ = win
        frames = np.stack([items[k][1] for k in range(i, j)])
        tt = t[i:j]
        fps = (len(tt) - 1) / ((tt[-1] - tt[0]) / 1e9) if tt[-1] > tt[0] else 0.0
        return BestClip(frames, tt, view, float(q[i:j].mean()), float(q[i:j].min()), float(fps), mm_per_px,
                        sector_bbox, model)
