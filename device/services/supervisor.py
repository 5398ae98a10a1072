"""``python -m device run``: start core, webui, sync and the job worker as child processes, restart any that dies,
stop all on exit.

On a provisioned box systemd runs each role as its own unit instead; this is the embedded-defaults way (``make run``).
"""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from dataclasses import dataclass, field

from device.config import Settings
from device.services.runtime import InstanceLock, StopFlag, check_port_free
from device.store.db import connect, migrate

log = logging.getLogger(__name__)
ROLES = ("core", "webui", "sync", "worker")
STABLE_S = 60.0  # a child that ran this long before it died was not crash-looping: its restart backoff starts over


@dataclass
class Child:
    role: str
    proc: subprocess.Popen | None = None
    restarts: int = 0
    next_start: float = 0.0
    started_at: float = field(default=0.0)


def restart_delay(ch: Child, now: float) -> float:
    """Seconds to wait before restarting a child that exited at ``now``: 2, 4, 8, 16, then 30 s while it keeps dying
    soon after each start (a crash loop); back to 2 s when it had been running for STABLE_S."""
    if now - ch.started_at >= STABLE_S:
        ch.restarts = 0
    ch.restarts += 1
    return min(30.0, 2.0 ** min(ch.restarts, 5))


def _start(role: str, config: str | None) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "device"] + (["--config", config] if config else []) + [role]
    return subprocess.Popen(cmd)


def run_all(settings: Settings, config: str | None) -> int:
    stop = StopFlag().install()
    with InstanceLock(settings.run_dir, "supervisor"):
        migrate(settings.db_path)
        check_port_free(settings.web.host, settings.web.port)
        url = f"http://{settings.web.host}:{settings.web.port}"
        conn = connect(settings.db_path)
        n_users = conn.execute("SELECT count(*) FROM users").fetchone()[0]
        conn.close()
        print(f"CardioCart is starting: open {url}", flush=True)
        if n_users == 0:
            print(f"No users yet: open {url} on this box to create the administrator "
                  "(or run: python -m device users add NAME --role admin)", flush=True)
        children = {r: Child(r) for r in ROLES}
        try:
            while not stop.stopped:
                now = time.monotonic()
                for ch in children.values():
                    if ch.proc is not None and ch.proc.poll() is not None:
                        code = ch.proc.returncode
                        ch.proc = None
                        if code == 2 and now - ch.started_at < 5:  # a configuration/usage error: do not loop
                            log.error("%s exited at start-up with a configuration error; fix it and run again", ch.role)
                            return 2
                        ch.next_start = now + restart_delay(ch, now)
                        log.warning("%s exited with %s; restarting in %.0f s", ch.role, code, ch.next_start - now)
                    if ch.proc is None and now >= ch.next_start:
                        ch.proc = _start(ch.role, config)
                        ch.started_at = now
                stop.wait(0.5)
        finally:
            for ch in children.values():
                if ch.proc is not None and ch.proc.poll() is None:
                    ch.proc.terminate()
            deadline = time.monotonic() + 10
            for ch in children.values():
                if ch.proc is not None:
                    try:
                        ch.proc.wait(max(0.1, deadline - time.monotonic()))
                    except subprocess.TimeoutExpired:
                        ch.proc.kill()
    return 0
