"""``make bench`` rows for the idle cart (issue 18): CPU of the core role with the simulated probe at the default
frame rate, as % of one core = process CPU seconds (user + system, all threads) over a wall-clock window. Measured
twice: idle (no open exam, nobody watching the live picture: the core lowers the probe's rate) and watched (the
web UI's watch file kept fresh, every frame drawn and analysed). CPU seconds, not fps: the number holds on a busy
machine too (a loaded machine draws fewer frames when watched, so that row is a lower bound there)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from device.domain.live import LIVE_WATCH_FILE
from device.paths import REPO_ROOT

SECTION = "Idle cart"
WARMUP_S = 20.0
WINDOW_S = 20.0


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")   # utime + stime


def _window(pid: int, seconds: float, touch: Path | None) -> float:
    a, t0 = _cpu_s(pid), time.monotonic()
    while time.monotonic() - t0 < seconds:
        if touch is not None:
            touch.touch()
        time.sleep(1.0)
    return 100.0 * (_cpu_s(pid) - a) / (time.monotonic() - t0)


def bench() -> list[dict]:
    if not Path("/proc/self/stat").exists():
        return [{"section": SECTION, "item": "core role, simulated probe", "metric": "CPU", "value": "not measured",
                 "unit": "", "goal": "needs /proc (Linux)"}]
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "cc.toml"
        cfg.write_text(f'[paths]\ndata_dir = "{Path(tmp) / "var"}"\n')
        proc = subprocess.Popen([sys.executable, "-m", "device", "--config", str(cfg), "core"], cwd=REPO_ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(WARMUP_S)
            if proc.poll() is not None:
                raise RuntimeError(f"the core role exited with code {proc.returncode} during warm-up")
            idle = _window(proc.pid, WINDOW_S, None)
            watch = Path(tmp) / "var" / "run" / LIVE_WATCH_FILE
            watch.touch()
            time.sleep(3.0)
            watched = _window(proc.pid, WINDOW_S, watch)
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
    load = os.getloadavg()[0]
    what = f"core role, simulated probe 30 fps, {WINDOW_S:.0f} s window, load {load:.1f} on {os.cpu_count()} cores"
    return [{"section": SECTION, "item": f"{what}: idle (no exam, nobody watching)", "metric": "CPU",
             "value": idle, "unit": "% of one core", "goal": "<= 60"},
            {"section": SECTION, "item": f"{what}: live picture watched", "metric": "CPU",
             "value": watched, "unit": "% of one core", "goal": ""}]
