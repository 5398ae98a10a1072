"""Start a real cart (``python -m device run``) on a free port with a temporary data directory, for tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from device.paths import REPO_ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cart:
    def __init__(self, tmp: Path, extra_toml: str = "", role: str = "run"):
        self.tmp = Path(tmp)
        self.port = free_port()
        self.data = self.tmp / "var"
        self.config = self.tmp / "cart.toml"
        self.config.write_text(f'[paths]\ndata_dir = "{self.data}"\n[web]\nport = {self.port}\n' + extra_toml)
        self.role = role
        self.proc: subprocess.Popen | None = None
        self.url = f"http://127.0.0.1:{self.port}"

    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "device", "--config", str(self.config), *args], cwd=REPO_ROOT,
                              capture_output=True, text=True, input=stdin, timeout=120)

    def add_user(self, name: str, role: str, pin: str) -> None:
        res = self.cli("users", "add", name, "--role", role, stdin=pin + "\n")
        assert res.returncode == 0, res.stderr

    def start(self, wait_s: float = 60.0) -> "Cart":
        self.log = open(self.tmp / f"{self.role}.log", "w")
        self.proc = subprocess.Popen([sys.executable, "-m", "device", "--config", str(self.config), self.role],
                                     cwd=REPO_ROOT, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        if self.role in ("run", "webui"):
            deadline = time.monotonic() + wait_s
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"cart exited: {(self.tmp / f'{self.role}.log').read_text()[-2000:]}")
                try:
                    if requests.get(self.url + "/api/health", timeout=1).status_code == 200:
                        return self
                except requests.RequestException:
                    pass
                time.sleep(0.3)
            raise RuntimeError("cart did not answer /api/health in time")
        return self

    def start_worker(self) -> subprocess.Popen:
        """The job worker role (``python -m device worker``) beside a ``webui`` cart (``run`` starts its own)."""
        log = open(self.tmp / "worker.log", "a")
        return subprocess.Popen([sys.executable, "-m", "device", "--config", str(self.config), "worker"],
                                cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})

    @staticmethod
    def stop_worker(proc: subprocess.Popen) -> None:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)

    def live_state(self) -> dict:
        import json
        try:
            return json.loads((self.data / "run" / "live.json").read_text())
        except (OSError, ValueError):
            return {}

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        if getattr(self, "log", None):
            self.log.close()
