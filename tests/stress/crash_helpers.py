"""Tools for the crash and power-loss tests (tests/stress/test_crash.py).

- :func:`snapshot` reads, from a separate read-only connection, every record the store has committed; taken right
  before a kill, it is the outside evidence of what the killed service had committed.
- :func:`check_store` runs after a kill: ``PRAGMA integrity_check``, ``foreign_key_check``, every record of the
  snapshot still there (immutable ones byte-for-byte equal, signed reports unchanged, outbox rows never going back
  from ``sent``), every blob row's file hashing to its name, and no non-temp file under ``blobs/`` whose content does
  not match its name (a half-written file may only exist as a ``*.part`` temp file).
- :class:`Web`: a logged-in HTTP client of a running web UI (CSRF token handled).
- :class:`CountingProxy`: an HTTP proxy in front of Orthanc that counts, per DICOM payload (sha256), the STOW
  requests the PACS acknowledged, so "sent exactly once" is measured, not assumed.
- :func:`kill_group`, :func:`truncate_tail`, :func:`last_written`.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

# table -> (key column, columns that may never change once committed, or None = the whole row)
IMMUTABLE = {
    "patients": ("id", ("id", "patient_id")),
    "exams": ("id", ("id", "patient_ref", "kind", "accession", "study_uid")),
    "blobs": ("sha256", None),
    "captures": ("id", None),
    "findings": ("id", ("id", "exam_id", "capture_id", "kind", "label", "score", "model_name", "model_version",
                       "detail")),
    "measurements": ("id", None),
    "alerts": ("id", ("id", "exam_id", "level", "code", "message", "detail")),
    "reports": ("id", ("id", "exam_id", "version")),
    "audit_log": ("id", None),
    "outbox": ("id", ("id", "exam_id", "target", "object_kind", "sop_instance_uid", "blob_sha256")),
    "users": ("id", ("id", "username", "role")),
}


def _connect_ro(db: Path) -> sqlite3.Connection:
    c = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    c.row_factory = sqlite3.Row
    return c


def snapshot(db: Path) -> dict[str, dict]:
    """Every committed row of the checked tables: {table: {key: row dict}} (one read transaction)."""
    out: dict[str, dict] = {}
    if not Path(db).exists():
        return {t: {} for t in IMMUTABLE}
    c = _connect_ro(db)
    try:
        c.execute("BEGIN")
        for table, (key, _) in IMMUTABLE.items():
            out[table] = {r[key]: dict(r) for r in c.execute(f"SELECT * FROM {table}")}
        c.execute("COMMIT")
    finally:
        c.close()
    return out


@dataclass
class StoreCheck:
    records_checked: int = 0
    blobs_checked: int = 0
    temp_files: int = 0
    problems: list[str] = field(default_factory=list)


def check_store(data_dir: Path, before: dict[str, dict] | None = None) -> StoreCheck:
    """The store after a kill (see the module docstring). Returns what was checked and every problem found."""
    data_dir = Path(data_dir)
    res = StoreCheck()
    db = data_dir / "cardiocart.sqlite3"
    c = _connect_ro(db)  # read-only: it leaves the WAL for the restarted service to recover, as after a real crash
    try:
        ic = c.execute("PRAGMA integrity_check").fetchall()
        if [r[0] for r in ic] != ["ok"]:
            res.problems.append(f"integrity_check: {[r[0] for r in ic][:5]}")
        fk = c.execute("PRAGMA foreign_key_check").fetchall()
        if fk:
            res.problems.append(f"foreign_key_check: {[tuple(r) for r in fk][:5]}")
        now = {table: {r[key]: dict(r) for r in c.execute(f"SELECT * FROM {table}")}
               for table, (key, _) in IMMUTABLE.items()}
        blob_rows = {r["sha256"]: r["size_bytes"] for r in c.execute("SELECT sha256, size_bytes FROM blobs")}
    finally:
        c.close()
    for table, rows in (before or {}).items():
        cols = IMMUTABLE[table][1]
        for k, old in rows.items():
            res.records_checked += 1
            new = now[table].get(k)
            if new is None:
                res.problems.append(f"{table} {k}: committed before the kill, missing after")
                continue
            keys = cols or old.keys()
            if any(old[col] != new[col] for col in keys):
                res.problems.append(f"{table} {k}: changed after the kill")
            if table == "reports" and old["status"] == "signed" and old != new:
                res.problems.append(f"signed report {k} changed after the kill")
            if table == "outbox" and old["state"] == "sent" and new["state"] != "sent":
                res.problems.append(f"outbox {k} went back from sent to {new['state']}")
    blobs = data_dir / "blobs"
    for sha, size in blob_rows.items():
        res.blobs_checked += 1
        p = blobs / sha[:2] / sha
        try:
            data = p.read_bytes()
        except OSError:
            res.problems.append(f"blob {sha[:12]}: row without a file")
            continue
        if len(data) != size or hashlib.sha256(data).hexdigest() != sha:
            res.problems.append(f"blob {sha[:12]}: file does not match its row")
    if blobs.exists():
        for p in blobs.rglob("*"):
            if not p.is_file():
                continue
            if p.name.endswith(".part"):
                res.temp_files += 1
            elif hashlib.sha256(p.read_bytes()).hexdigest() != p.name:
                res.problems.append(f"blob file {p.name[:12]}: content does not match its name (half-written?)")
    return res


def rows(db: Path, sql: str, *args) -> list[dict]:
    c = _connect_ro(db)
    try:
        return [dict(r) for r in c.execute(sql, args)]
    finally:
        c.close()


def kill_group(proc) -> None:
    """SIGKILL a process started with ``start_new_session=True`` and everything it started."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(30)


def last_written(root: Path, exclude: tuple[str, ...] = ()) -> Path | None:
    """The most recently modified file under ``root`` (names in ``exclude`` skipped)."""
    best, best_t = None, -1.0
    for p in Path(root).rglob("*"):
        try:
            if p.is_file() and p.name not in exclude:
                t = p.stat().st_mtime_ns
                if t > best_t:
                    best, best_t = p, t
        except OSError:
            continue
    return best


def truncate_tail(path: Path, low: int, rng) -> tuple[int, int]:
    """Cut ``path`` at a random offset in [low, size] (the part written after the last durable point).
    Returns (old size, new size)."""
    size = path.stat().st_size
    low = max(0, min(low, size))
    cut = rng.randint(low, size)
    os.truncate(path, cut)
    return size, cut


class Web:
    """A logged-in client of a running web UI; ``post`` adds the CSRF token."""

    def __init__(self, url: str):
        self.url = url
        self.s = requests.Session()
        self.token = ""

    def _token(self, html: str) -> None:
        m = re.search(r'name="csrf-token" content="([^"]+)"', html)
        if m:
            self.token = m.group(1)

    def get(self, path: str, **kw) -> requests.Response:
        r = self.s.get(self.url + path, timeout=kw.pop("timeout", 30), **kw)
        if "text/html" in r.headers.get("Content-Type", ""):
            self._token(r.text)
        return r

    def login(self, username: str, pin: str) -> "Web":
        self.get("/login")
        r = self.s.post(self.url + "/login", data={"username": username, "pin": pin, "csrf_token": self.token},
                        allow_redirects=False, timeout=30)
        assert r.status_code == 302, (r.status_code, r.text[:300])
        self.get("/")
        return self

    def post(self, path: str, data: dict | None = None, **kw) -> requests.Response:
        if not self.token:
            self.get("/")
        data = dict(data or {})
        data.setdefault("csrf_token", self.token)
        return self.s.post(self.url + path, data=data, timeout=kw.pop("timeout", 60), allow_redirects=False, **kw)


def in_thread(fn, *args, **kw) -> threading.Thread:
    """Run ``fn`` on a daemon thread (an HTTP request the test will cut by killing the server); errors ignored."""
    def run():
        try:
            fn(*args, **kw)
        except Exception:  # the server died under the request: expected
            pass
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def stow_parts(body: bytes, content_type: str) -> list[bytes]:
    """The DICOM payloads of a multipart/related STOW body."""
    m = re.search(r"boundary=\"?([^\";]+)\"?", content_type)
    if not m:
        return []
    sep = b"--" + m.group(1).encode()
    parts = []
    for chunk in body.split(sep)[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, payload = chunk.partition(b"\r\n\r\n")
        parts.append(payload[:-2] if payload.endswith(b"\r\n") else payload)
    return parts


class CountingProxy:
    """HTTP proxy to ``upstream`` that counts, per payload sha256, the STOW parts the upstream acknowledged (2xx),
    and can delay each request (a slow PACS link widens the window in which a kill lands mid-send)."""

    def __init__(self, upstream: str, delay_s: float = 0.0):
        self.upstream = upstream.rstrip("/")
        self.delay_s = delay_s
        self.stored: dict[str, int] = {}
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _forward(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                if proxy.delay_s:
                    time.sleep(proxy.delay_s)
                hdrs = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length",
                                                                                  "connection")}
                try:
                    r = requests.request(self.command, proxy.upstream + self.path, data=body, headers=hdrs,
                                         timeout=30)
                except requests.RequestException:
                    self.send_response(502)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if self.command == "POST" and 200 <= r.status_code < 300:
                    with proxy.lock:
                        for part in stow_parts(body, self.headers.get("Content-Type", "")):
                            h = hashlib.sha256(part).hexdigest()
                            proxy.stored[h] = proxy.stored.get(h, 0) + 1
                self.send_response(r.status_code)
                for k, v in r.headers.items():
                    if k.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(r.content)))
                self.end_headers()
                self.wfile.write(r.content)

            do_GET = do_POST = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def wal_committed_end(wal: Path) -> int:
    """Byte offset just past the last commit frame of the WAL's current generation (frames are
    24-byte header + page; a commit frame has a non-zero 'database size' field; frames of the current generation
    carry the header's salts). Frames after it belong to a transaction that never committed."""
    import struct
    data = Path(wal).read_bytes()
    if len(data) < 32:
        return 0
    page_size = struct.unpack(">I", data[8:12])[0]
    salts = data[16:24]
    end, off = 32, 32
    while off + 24 + page_size <= len(data):
        header = data[off:off + 24]
        if header[8:16] != salts:
            break
        off += 24 + page_size
        if struct.unpack(">I", header[4:8])[0] != 0:
            end = off
    return end
