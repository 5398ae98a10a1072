"""Process plumbing shared by the roles: single-instance locks, run-directory state files, stop signals."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any

from device.errors import UserError
from device.fsutil import atomic_write_bytes


class InstanceLock:
    """An flock on ``run/<role>.lock``: a second instance of a role stops with a clear message."""

    def __init__(self, run_dir: Path, role: str):
        self.path = Path(run_dir) / f"{role}.lock"
        self.role = role
        self.fd: int | None = None

    def __enter__(self) -> "InstanceLock":
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o640)
        except OSError as exc:
            raise UserError(f"cannot write to {self.path.parent} ({exc.strerror}); make the data directory writable "
                            "by the cart's user or set [paths] data_dir") from exc
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            other = os.pread(self.fd, 32, 0).decode(errors="replace").strip()
            os.close(self.fd)
            self.fd = None
            raise UserError(f"another CardioCart {self.role} is already running (pid {other or '?'}); "
                            f"stop it first (systemctl stop cardiocart-{self.role}) or use another data_dir") from exc
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, str(os.getpid()).encode(), 0)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.fd is not None:
            os.close(self.fd)


def check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise UserError(f"port {port} on {host} is already in use (another CardioCart, or another program); "
                                "stop it, or set [web] port in the site config") from exc
            raise UserError(f"cannot listen on {host}:{port} ({exc.strerror}); check [web] host and port") from exc


def write_state(path: Path, state: dict[str, Any]) -> None:
    """Run-time state for other processes (replaced whole, not fsynced: it is rewritten often and may be lost)."""
    atomic_write_bytes(path, json.dumps(state, default=float, ensure_ascii=False).encode("utf-8"), durable=False)


class StopFlag:
    """Set by SIGTERM/SIGINT so loops end cleanly (systemd stop, Ctrl-C)."""

    def __init__(self) -> None:
        self.event = threading.Event()

    def install(self) -> "StopFlag":
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, lambda *_: self.event.set())
            signal.signal(signal.SIGINT, lambda *_: self.event.set())
        return self

    def wait(self, seconds: float) -> bool:
        return self.event.wait(seconds)

    @property
    def stopped(self) -> bool:
        return self.event.is_set()


def heartbeat(run_dir: Path, role: str, extra: dict[str, Any] | None = None) -> None:
    write_state(Path(run_dir) / f"{role}.heartbeat.json", {"role": role, "pid": os.getpid(), "wall_time": time.time(),
                                                          **(extra or {})})
