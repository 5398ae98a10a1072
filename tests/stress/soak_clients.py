"""Browser-like clients and process sampling for the soak test (tests/stress/test_soak.py).

A `BrowserClient` is one person at a browser on 127.0.0.1, using a ``requests`` session the way Chromium uses the
cart: it reads the login form's CSRF token and signs in with a PIN, opens the live page and holds the page's two
streams -- the SSE event stream ``/api/events`` and the MJPEG picture ``/live/stream.mjpg`` -- for a while, then walks
the exam list, the exam page, the echo measurements page, the report page, saves the report draft (POST with the
page's CSRF token, then follows the redirect), the ECG page and the PACS-sync list of reports, and signs out. It
loops until its deadline. Static files and same-origin pictures (the ED/ES frames of the measurements page) are
fetched once per client, as a browser cache would.

Every request is timed and counted by page kind; an error is any 5xx answer or any connection error / timeout, and
an *unexpected* answer is any other status than the page's normal one (e.g. a 400 CSRF refusal or a 302 to the login
page in the middle of a session). `proc_sample` reads RSS, threads and open file descriptors from /proc.
"""

from __future__ import annotations

import os
import random
import re
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import requests

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
STATIC_RE = re.compile(r'(?:src|href)="(/static/[^"?]+)')
IMG_RE = re.compile(r'<img[^>]+src="(/[^"]+\.png)"')  # same-origin pictures (ED/ES frames); the MJPEG is a stream


@dataclass
class ClientStats:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))   # kind -> ms
    errors: list[str] = field(default_factory=list)        # 5xx and connection errors / timeouts
    unexpected: list[str] = field(default_factory=list)    # any other status than the page's normal one
    sse_events: dict[str, int] = field(default_factory=lambda: defaultdict(int))           # event kind -> count
    sse_streams: int = 0
    mjpeg_frames: int = 0
    mjpeg_bad: int = 0          # parts that were not a whole JPEG
    mjpeg_streams: int = 0
    loops: int = 0
    logins: int = 0
    drafts_saved: int = 0

    @property
    def requests(self) -> int:
        return sum(len(v) for v in self.latencies.values()) + len(self.errors)


class BrowserClient(threading.Thread):
    def __init__(self, base_url: str, user: str, pin: str, echo_exam: int, ecg_exam: int, deadline: float,
                 live_hold_s: float, think_s: tuple[float, float], seed: int, can_edit: bool = True):
        super().__init__(name=f"soak-client-{user}", daemon=True)
        self.url, self.user, self.pin = base_url, user, pin
        self.echo_exam, self.ecg_exam = echo_exam, ecg_exam
        self.deadline, self.live_hold_s, self.think_s = deadline, live_hold_s, think_s
        self.rng = random.Random(seed)
        self.can_edit = can_edit
        self.stats = ClientStats()
        self.session = requests.Session()
        self.static_seen: set[str] = set()
        self._lock = threading.Lock()

    # -- one timed request ---------------------------------------------------------------------------------------
    def _request(self, kind: str, method: str, path: str, expect: tuple[int, ...] = (200,), **kw) -> requests.Response | None:
        t0 = time.perf_counter()
        try:
            r = self.session.request(method, self.url + path, allow_redirects=False, timeout=30, **kw)
            r.content  # noqa: B018 - read the whole body, as the browser does before it renders
        except requests.RequestException as exc:
            with self._lock:
                self.stats.errors.append(f"{kind} {method} {path}: {type(exc).__name__}: {exc}")
            return None
        ms = (time.perf_counter() - t0) * 1000
        with self._lock:
            if r.status_code >= 500:
                self.stats.errors.append(f"{kind} {method} {path}: HTTP {r.status_code}")
                return None
            self.stats.latencies[kind].append(ms)
            if r.status_code not in expect:
                self.stats.unexpected.append(f"{kind} {method} {path}: HTTP {r.status_code} "
                                             f"{r.headers.get('Location', '')}")
        return r

    def _page(self, kind: str, path: str) -> str:
        r = self._request(kind, "GET", path)
        if r is None or r.status_code != 200:
            return ""
        assets = [("static", a) for a in STATIC_RE.findall(r.text)] + [("image", a) for a in IMG_RE.findall(r.text)]
        for asset_kind, asset in assets:
            asset = asset.replace("&amp;", "&")
            if asset not in self.static_seen:   # a browser fetches each file once, then uses its cache
                self.static_seen.add(asset)
                self._request(asset_kind, "GET", asset)
        return r.text

    def _think(self) -> None:
        time.sleep(self.rng.uniform(*self.think_s))

    def _csrf(self, html: str) -> str:
        m = CSRF_RE.search(html)
        return m.group(1) if m else ""

    # -- the person's routine ----------------------------------------------------------------------------------------
    def login(self) -> bool:
        html = self._page("login", "/login")
        r = self._request("login_post", "POST", "/login", expect=(302,),
                          data={"username": self.user, "pin": self.pin, "csrf_token": self._csrf(html)})
        if r is None or r.status_code != 302:
            return False
        self.stats.logins += 1
        self._page("exam_list", r.headers.get("Location", "/") or "/")
        return True

    def logout(self) -> None:
        html = self._page("exam_list", "/")
        self._request("logout_post", "POST", "/logout", expect=(302,), data={"csrf_token": self._csrf(html)})

    def live_page(self) -> None:
        if not self._page("live", "/live"):
            return
        hold_until = min(self.deadline, time.monotonic() + self.live_hold_s)
        streams = [threading.Thread(target=self._sse, args=(hold_until,), daemon=True),
                   threading.Thread(target=self._mjpeg, args=(hold_until,), daemon=True)]
        for t in streams:
            t.start()
        for t in streams:
            t.join(self.live_hold_s + 40)

    def _stream_session(self) -> requests.Session:
        s = requests.Session()
        s.cookies.update(self.session.cookies)   # the same browser: same session cookie
        return s

    def _sse(self, until: float) -> None:
        s = self._stream_session()
        try:
            with s.get(self.url + "/api/events", stream=True, timeout=(10, 10),
                       headers={"Accept": "text/event-stream"}) as r:
                if r.status_code != 200:
                    self._record_stream_status("sse", r.status_code)
                    return
                with self._lock:
                    self.stats.sse_streams += 1
                for line in r.iter_lines(chunk_size=None):
                    if line.startswith(b"event: "):
                        kind = line[7:].decode("utf-8", "replace")
                        with self._lock:
                            self.stats.sse_events[kind] += 1
                    if time.monotonic() >= until:
                        break
        except requests.RequestException as exc:
            with self._lock:
                self.stats.errors.append(f"sse: {type(exc).__name__}: {exc}")
        finally:
            s.close()

    def _mjpeg(self, until: float) -> None:
        s = self._stream_session()
        try:
            with s.get(self.url + "/live/stream.mjpg", stream=True, timeout=(10, 10)) as r:
                if r.status_code != 200:
                    self._record_stream_status("mjpeg", r.status_code)
                    return
                with self._lock:
                    self.stats.mjpeg_streams += 1
                buf = b""
                for chunk in r.iter_content(chunk_size=None):
                    buf += chunk
                    buf = self._parse_parts(buf)
                    if time.monotonic() >= until:
                        break
        except requests.RequestException as exc:
            with self._lock:
                self.stats.errors.append(f"mjpeg: {type(exc).__name__}: {exc}")
        finally:
            s.close()

    def _parse_parts(self, buf: bytes) -> bytes:
        """Count whole JPEG parts of a multipart/x-mixed-replace body; return the unparsed rest."""
        while True:
            head_end = buf.find(b"\r\n\r\n")
            if not buf.startswith(b"--frame\r\n") or head_end < 0:
                if buf and not b"--frame\r\n".startswith(buf[:9]):
                    with self._lock:
                        self.stats.mjpeg_bad += 1
                    i = buf.find(b"--frame\r\n", 1)
                    buf = buf[i:] if i >= 0 else b""
                    continue
                return buf
            m = re.search(rb"Content-Length: (\d+)", buf[:head_end])
            if m is None:
                with self._lock:
                    self.stats.mjpeg_bad += 1
                buf = buf[head_end + 4:]
                continue
            n = int(m.group(1))
            body_start = head_end + 4
            if len(buf) < body_start + n + 2:
                return buf
            body = buf[body_start:body_start + n]
            with self._lock:
                if body[:2] == b"\xff\xd8" and body[-2:] == b"\xff\xd9":
                    self.stats.mjpeg_frames += 1
                else:
                    self.stats.mjpeg_bad += 1
            buf = buf[body_start + n + 2:]

    def _record_stream_status(self, kind: str, status: int) -> None:
        with self._lock:
            (self.stats.errors if status >= 500 else self.stats.unexpected).append(f"{kind}: HTTP {status}")

    def save_draft(self, html: str) -> None:
        token = self._csrf(html)
        text = f"Soak draft by {self.user}, loop {self.stats.loops}, {time.strftime('%H:%M:%S')}."
        r = self._request("report_save", "POST", f"/exams/{self.echo_exam}/report/text", expect=(302,),
                          data={"free_text": text, "csrf_token": token})
        if r is not None and r.status_code == 302:
            self.stats.drafts_saved += 1
            self._page("report", r.headers.get("Location", f"/exams/{self.echo_exam}/report"))

    def run(self) -> None:
        while time.monotonic() < self.deadline:
            if not self.login():
                time.sleep(0.5)
                continue
            steps = [
                lambda: self.live_page(),
                lambda: self._page("exam_list", "/"),
                lambda: self._page("exam", f"/exams/{self.echo_exam}"),
                lambda: self._page("echo_report", f"/exams/{self.echo_exam}/echo"),
                lambda: self._report_and_save(),
                lambda: self._page("ecg", f"/exams/{self.ecg_exam}/ecg"),
                lambda: self._page("reports_list", "/sync"),
            ]
            for step in steps:
                if time.monotonic() >= self.deadline:
                    break
                step()
                self._think()
            self.logout()
            self.stats.loops += 1
        self.session.close()

    def _report_and_save(self) -> None:
        html = self._page("report", f"/exams/{self.echo_exam}/report")
        if html and self.can_edit:
            self._think()
            self.save_draft(html)


# -- /proc sampling --------------------------------------------------------------------------------------------------

def process_tree(root_pid: int) -> dict[int, str]:
    """pid -> role ('supervisor' for the root, else the last word of the command line: core, webui, sync)."""
    children: dict[int, list[int]] = defaultdict(list)
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children[ppid].append(int(d.name))
    out: dict[int, str] = {}
    todo = [root_pid]
    while todo:
        pid = todo.pop()
        try:
            argv = (Path("/proc") / str(pid) / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        words = [a.decode(errors="replace") for a in argv if a]
        out[pid] = "supervisor" if pid == root_pid else (words[-1] if words else "?")
        todo += children.get(pid, [])
    return out


def proc_sample(pid: int) -> dict[str, float] | None:
    """RSS (MB), threads and open file descriptors of one process, from /proc; None when it has gone."""
    try:
        status = (Path("/proc") / str(pid) / "status").read_text()
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    try:
        stat = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
        cpu_s = (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")    # utime + stime
    except (OSError, ValueError, IndexError):
        cpu_s = float("nan")
    return {"rss_mb": int(fields["VmRSS"].split()[0]) / 1024, "threads": int(fields["Threads"]), "fds": fds,
            "cpu_s": cpu_s}


def sample_tree(root_pid: int) -> dict[str, dict[str, float]]:
    """role -> sample for every process of the cart."""
    out = {}
    for pid, role in process_tree(root_pid).items():
        s = proc_sample(pid)
        if s is not None:
            out[role] = {**s, "pid": pid}
    return out


def box_busy_s() -> float:
    """CPU seconds the whole machine has spent busy (all cores), from /proc/stat."""
    f = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in f[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def cpu_s_of(pids) -> float:
    """CPU seconds (user + system) used so far by the given processes (those still running)."""
    total = 0.0
    for pid in pids:
        s = proc_sample(pid)
        if s is not None and s["cpu_s"] == s["cpu_s"]:
            total += s["cpu_s"]
    return total
