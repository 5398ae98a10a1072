"""Idle rate of the live loop (issue 18 part 6): with no open echo exam and nobody watching the live picture (the
web UI touches ``run/live.watch`` while it shows it), a source that can lower its rate (``stride``, e.g. the
simulated probe) draws and the loop analyses every IDLE_STRIDE-th frame only. Full rate again within ~1 s of an
exam opening or someone opening the live page."""

from __future__ import annotations

import time
from pathlib import Path

from device.domain.live import LIVE_WATCH_FILE

IDLE_STRIDE = 10          # 30 fps -> 3 fps while idle
WATCH_FRESH_S = 10.0      # the web UI touches the watch file every 2 s while serving the live picture


def watched(run_dir: Path, now: float | None = None) -> bool:
    try:
        mtime = (Path(run_dir) / LIVE_WATCH_FILE).stat().st_mtime
    except OSError:
        return False
    return (time.time() if now is None else now) - mtime < WATCH_FRESH_S


def set_idle_rate(source, exam_open: bool, run_dir: Path) -> int:
    """Set the source's stride for the current activity; returns it (1 when the source has no stride)."""
    if not hasattr(source, "stride"):
        return 1
    stride = 1 if exam_open or watched(run_dir) else IDLE_STRIDE
    if exam_open and not getattr(source, "exam_open", False) and hasattr(source, "restart"):
        source.restart()   # a source that can start over (the simulated probe) does so when an exam opens
    source.exam_open = exam_open
    source.stride = stride
    return stride
