"""A real Orthanc PACS for tests: Debian's ``/usr/sbin/Orthanc`` with the DICOMweb plugin, run as a plain process
on 127.0.0.1 with a JSON config in a temp dir, its DICOM port disabled, on a free HTTP port.

Use the ``orthanc`` fixture (skips when Orthanc or the plugin is absent), or :class:`OrthancProcess` directly to
stop and restart it on the same storage::

    from tests.integration.orthanc import orthanc  # noqa: F401  (fixture)

    def test_x(orthanc):
        orthanc.dicomweb_url      # http://127.0.0.1:<port>/dicom-web
        orthanc.stop(); orthanc.start()
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

ORTHANC = Path("/usr/sbin/Orthanc")
PLUGIN_DIRS = (Path("/usr/share/orthanc/plugins"), Path("/usr/lib/orthanc"), Path("/usr/lib/x86_64-linux-gnu"),
               Path("/usr/lib/aarch64-linux-gnu"))


def find_dicomweb_plugin() -> Path | None:
    for d in PLUGIN_DIRS:
        if d.is_dir():
            for p in sorted(d.glob("libOrthancDicomWeb.so*")):
                return p
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OrthancProcess:
    """One Orthanc with its storage in ``workdir``; ``users`` ({name: password}) turns HTTP basic auth on."""

    def __init__(self, workdir: Path, users: dict[str, str] | None = None, port: int | None = None):
        self.workdir = Path(workdir)
        self.port = port or free_port()
        self.users = users or {}
        self.proc: subprocess.Popen | None = None
        plugin = find_dicomweb_plugin()
        if not ORTHANC.exists() or plugin is None:
            raise FileNotFoundError("Orthanc or its DICOMweb plugin is not installed (Debian orthanc, "
                                    "orthanc-dicomweb)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config = self.workdir / "orthanc.json"
        self.config.write_text(json.dumps({
            "Name": "cardiocart-test",
            "StorageDirectory": str(self.workdir / "db"),
            "IndexDirectory": str(self.workdir / "db"),
            "HttpPort": self.port,
            "DicomServerEnabled": False,   # Orthanc 1.10 cannot bind DICOM to 127.0.0.1 only
            "DicomPort": free_port(),
            "RemoteAccessAllowed": False,  # HTTP answers 127.0.0.1 only
            "AuthenticationEnabled": bool(self.users),
            "RegisteredUsers": self.users,
            "Plugins": [str(plugin)],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": True},
            "HttpThreadsCount": 4,
            "SaveJobs": False,
            "StorageCompression": False,
        }))
        self.log = self.workdir / "orthanc.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def dicomweb_url(self) -> str:
        return f"{self.url}/dicom-web"

    @property
    def auth(self) -> tuple[str, str] | None:
        return next(iter(self.users.items())) if self.users else None

    def start(self, timeout_s: float = 30.0) -> None:
        if self.proc is not None and self.proc.poll() is None:
            return
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([str(ORTHANC), str(self.config)], stdout=log, stderr=subprocess.STDOUT,
                                         cwd=self.workdir, env={**os.environ, "LANG": "C"})
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Orthanc exited at start (code {self.proc.returncode}); see {self.log}")
            try:
                if requests.get(f"{self.url}/system", auth=self.auth, timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"Orthanc did not answer within {timeout_s} s; see {self.log}")

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL after 10 s); the storage stays for a restart."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def kill(self) -> None:
        """Stop abruptly (SIGKILL), as a power cut of the PACS would."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None

    # --- what the PACS holds (Orthanc REST) ---
    def sop_instance_uids(self) -> list[str]:
        """SOP Instance UID of every stored instance (a list: a duplicate would appear twice)."""
        ids = requests.get(f"{self.url}/instances", auth=self.auth, timeout=10).json()
        return [requests.get(f"{self.url}/instances/{i}/tags?simplify", auth=self.auth, timeout=10).json()
                ["SOPInstanceUID"] for i in ids]

    def instance_file(self, sop_uid: str) -> bytes:
        hit = requests.post(f"{self.url}/tools/find", auth=self.auth, timeout=10,
                            json={"Level": "Instance", "Query": {"SOPInstanceUID": sop_uid}}).json()
        assert len(hit) == 1, f"{sop_uid}: {len(hit)} copies"
        return requests.get(f"{self.url}/instances/{hit[0]}/file", auth=self.auth, timeout=10).content


@pytest.fixture()
def orthanc(tmp_path):
    """A running Orthanc (no auth) for one test; stopped afterwards."""
    if not ORTHANC.exists() or find_dicomweb_plugin() is None:
        pytest.skip("needs Debian orthanc and orthanc-dicomweb")
    o = OrthancProcess(tmp_path / "orthanc")
    o.start()
    try:
        yield o
    finally:
        o.stop()
