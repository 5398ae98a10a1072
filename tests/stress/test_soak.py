"""Soak under load: the real cart (``python -m device run``: core + webui + sync) with the simulated probe and an
echo exam in progress, ten browser-like clients on 127.0.0.1 for a bounded time (short in ``make test``, full under
``make stress``).

What is measured, and where it comes from:
- live-loop fps and dropped frames: the core's own counters in ``run/metrics.json`` (``live``: frames processed and
  dropped by the drop-oldest queue), read every 0.5 s; fps over non-overlapping windows of >= 5 s, before the load
  (baseline) and under it;
- capture-to-result latency: the core's per-frame figure in ``run/live.json`` (sampled per phase) and the core's own
  p50/p99 over its last 5000 frames in ``run/metrics.json``;
- UI latency per page kind, request and error counts, SSE events and MJPEG frames: from the clients
  (tests/stress/soak_clients.py);
- RSS, threads and open file descriptors of every cart process: from /proc.

The simulated probe draws each screen in Python (~40-60 ms a frame on a 2-core x86 box), so it cannot deliver 30
fps here; a real capture card does not have that cost. The test therefore measures the simulator's drawing rate first
and configures ``[capture] fps`` at 45 % of it (capped at 30; the core also analyses, encodes and stores): the probe
then runs at its full configured rate when the cart is idle, and any shortfall under load is the load's doing.
The box may be shared (CI, other jobs): a 5 s window in which the box had less than IDLE_MIN_CORES of CPU idle (from
/proc/stat) is recorded but not judged: there the live loop may have been short of CPU for reasons outside the cart.
Where the box had CPU to spare, a shortfall is the cart's own doing (its UI, locks, the GIL).
"""

from __future__ import annotations

import json
import os
import statistics
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from device.inference import list_models
from tests.cart import Cart
from tests.stress.figures import stress_mode
from tests.stress.soak_clients import BrowserClient, box_busy_s, cpu_s_of, process_tree, sample_tree

pytestmark = [pytest.mark.slow]

N_CLIENTS = 10
PIN = "482913"
ROLES = ["sonographer", "physician"]
WINDOW_S = 5.0
IDLE_MIN_CORES = 0.25     # a window in which the box had less idle CPU than this (all programs) is not judged
N_CPUS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
SECTION = "soak"


def sim_capacity_fps(n: int = 12) -> float:
    """Frames per second the simulated probe draws on this machine (median over `n` frames, seed of the cart)."""
    from device.sim.echo_probe import SimulatedProbe

    p = SimulatedProbe(seed=7)
    p.next()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        p.next()
        times.append(time.perf_counter() - t0)
    return 1.0 / statistics.median(times)


def prepare_store(cart: Cart) -> tuple[list[tuple[str, str]], int, int]:
    """Users (five sonographers, five physicians), an open echo exam and an ECG exam, made before the cart starts so
    that the core follows the echo exam from its first frame."""
    from device.config import load_settings
    from device.store import clinical, users
    from device.store.db import Tx, connect, migrate

    settings = load_settings(cart.config)
    migrate(settings.db_path)
    c = connect(settings.db_path)
    accounts = []
    with Tx(c):
        for i in range(N_CLIENTS):
            name = f"user{i}"
            users.create_user(c, name, f"Soak User {i}", ROLES[i % 2], PIN)
            accounts.append((name, ROLES[i % 2]))
        creator = users.list_users(c)[0].id
        p = clinical.upsert_patient(c, "SOAK0001", "Soak Patient", "F", "1960-01-01")
        echo = clinical.create_exam(c, p, "echo", creator, settings.echo.protocol)
        ecg = clinical.create_exam(c, p, "ecg", creator, [])
    c.close()
    return accounts, echo.id, ecg.id


class Sampler(threading.Thread):
    """Reads the core's metrics.json and live.json every 0.5 s and the cart's processes every 2 s, by phase."""

    def __init__(self, cart: Cart):
        super().__init__(name="soak-sampler", daemon=True)
        self.cart = cart
        self.phase = "warmup"
        # phase, wall_time, processed, dropped, CPU s of the whole box, CPU s of the cart and of this test process
        self.metrics: list[tuple[str, float, int, int, float, float]] = []
        self.latency: list[tuple[str, float]] = []               # phase, capture-to-result ms of one frame
        self.procs: list[tuple[str, float, dict]] = []
        self.last_metrics: dict = {}
        self._halt = threading.Event()

    def read_metrics(self) -> dict:
        try:
            return json.loads((self.cart.data / "run" / "metrics.json").read_text())
        except (OSError, ValueError):
            return {}

    def run(self) -> None:
        last_wall, last_frame, last_proc = None, None, 0.0
        pids = list(process_tree(self.cart.proc.pid))
        while not self._halt.wait(0.5):
            m = self.read_metrics()
            live = m.get("live") or {}
            if m.get("wall_time") != last_wall and "processed" in live:
                last_wall = m["wall_time"]
                self.last_metrics = m
                t = os.times()
                ours = cpu_s_of(pids) + t.user + t.system
                self.metrics.append((self.phase, float(m["wall_time"]), int(live["processed"]), int(live["dropped"]),
                                     box_busy_s(), ours))
            s = self.cart.live_state()
            if s.get("frame_index") != last_frame and s.get("latency_ms") is not None:
                last_frame = s.get("frame_index")
                self.latency.append((self.phase, float(s["latency_ms"])))
            if time.monotonic() - last_proc >= 2.0:
                last_proc = time.monotonic()
                tree = sample_tree(self.cart.proc.pid)
                pids = [v["pid"] for v in tree.values()]
                self.procs.append((self.phase, time.monotonic(), tree))

    def stop(self) -> None:
        self._halt.set()
        self.join(5)

    def fps_windows(self, phase: str) -> tuple[list[tuple[float, float, float]], int, int]:
        """(fps, CPU cores other programs used, CPU cores the whole box used) over consecutive non-overlapping
        windows of >= WINDOW_S in `phase`; frames processed and dropped in the phase."""
        pts = [x[1:] for x in self.metrics if x[0] == phase]
        if len(pts) < 2:
            return [], 0, 0
        out, start = [], pts[0]
        for pt in pts[1:]:
            dt = pt[0] - start[0]
            if dt >= WINDOW_S:
                busy = (pt[3] - start[3]) / dt
                foreign = max(0.0, busy - (pt[4] - start[4]) / dt)
                out.append(((pt[1] - start[1]) / dt, foreign, busy))
                start = pt
        return out, pts[-1][1] - pts[0][1], pts[-1][2] - pts[0][2]


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=float), q)) if values else float("nan")


def wait_for(cond, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.skipif("echo_view" not in list_models(), reason="echo_view model not built (make models)")
def test_soak_live_loop_and_ten_clients(tmp_path, budget, figures):
    mode = stress_mode()
    load_s = budget(short=20.0, full=300.0)
    baseline_s = budget(short=10.0, full=30.0)
    warm_s = budget(short=6.0, full=120.0)        # memory is compared from this far into the load
    live_hold_s = budget(short=4.0, full=15.0)    # how long a client stays on the live page per visit
    fps_floor = budget(short=0.75, full=0.9)      # x configured fps, mean of the windows under load
    capacity = sim_capacity_fps()
    fps_cfg = max(5, min(30, int(0.45 * capacity)))

    cart = Cart(tmp_path, extra_toml=f"[capture]\nfps = {fps_cfg}\n[echo]\nhold_s = 0.5\n")
    accounts, echo_id, ecg_id = prepare_store(cart)
    cart.start()
    sampler = Sampler(cart)
    try:
        sampler.start()
        # warm-up: the core analyses frames and follows the open echo exam
        wait_for(lambda: (sampler.last_metrics.get("live") or {}).get("processed", 0) > 0
                 and cart.live_state().get("exam_id") == echo_id, 60, "the core to publish live-loop metrics")
        time.sleep(2.0)
        sampler.phase = "baseline"
        start_procs = sample_tree(cart.proc.pid)
        time.sleep(baseline_s)

        sampler.phase = "load"
        t_load = time.monotonic()
        deadline = t_load + load_s
        clients = [BrowserClient(cart.url, name, PIN, echo_id, ecg_id, deadline, live_hold_s, (0.2, 0.8), seed=i)
                   for i, (name, _role) in enumerate(accounts)]
        cpu0 = time.process_time()
        for cl in clients:
            cl.start()
        time.sleep(min(warm_s, load_s / 2))
        warm_procs = sample_tree(cart.proc.pid)
        t_warm = time.monotonic()
        for cl in clients:
            cl.join(load_s + 120)
        assert not any(cl.is_alive() for cl in clients), "a client did not finish (a request or stream hung)"
        end_procs = sample_tree(cart.proc.pid)
        t_end = time.monotonic()
        client_cpu_s = time.process_time() - cpu0
        sampler.phase = "after"
        time.sleep(3.0)   # streams the clients closed end on the server's next write
        settled_procs = sample_tree(cart.proc.pid)
        final_metrics = sampler.read_metrics()
        clips = _clips(cart, echo_id)
        report_text = _report_text(cart, echo_id)
    finally:
        try:
            sampler.stop()
        finally:
            cart.stop()

    # ---- what the clients saw
    stats = [cl.stats for cl in clients]
    lat_by_kind: dict[str, list[float]] = {}
    for s in stats:
        for k, v in s.latencies.items():
            lat_by_kind.setdefault(k, []).extend(v)
    all_lat = [x for v in lat_by_kind.values() for x in v]
    errors = [e for s in stats for e in s.errors]
    unexpected = [e for s in stats for e in s.unexpected]
    n_requests = sum(s.requests for s in stats) + sum(s.sse_streams + s.mjpeg_streams for s in stats)
    sse_per_client = [sum(s.sse_events.values()) for s in stats]
    mjpeg_per_client = [s.mjpeg_frames for s in stats]

    # ---- what the core measured
    base_w, base_n, base_d = sampler.fps_windows("baseline")
    load_w, load_n, load_d = sampler.fps_windows("load")
    judged = [f for f, _foreign, busy in load_w if busy <= N_CPUS - IDLE_MIN_CORES]   # the loop had CPU to use
    min_judged = budget(short=2, full=10)
    lat_base = [x for p, x in sampler.latency if p == "baseline"]
    lat_load = [x for p, x in sampler.latency if p == "load"]
    core_live = final_metrics.get("live") or {}

    # ---- memory, threads, fds
    mem_rows = []
    for role in sorted(start_procs):
        if role not in warm_procs or role not in end_procs:
            continue
        # after warm-up and end: medians of the sampler's 2 s readings over RSS_SPAN_S (a clip being compressed
        # or decoded shows as a passing spike of tens of MB in a single reading)
        a = start_procs[role]["rss_mb"]
        w = _rss_median(sampler.procs, role, t_warm, t_warm + RSS_SPAN_S) or warm_procs[role]["rss_mb"]
        e = _rss_median(sampler.procs, role, t_end - RSS_SPAN_S, t_end) or end_procs[role]["rss_mb"]
        mem_rows.append((role, a, w, e, e - w, (e - w) / max(1e-6, (t_end - t_warm - RSS_SPAN_S) / 60)))
    leak_rows = [(role, start_procs[role]["fds"], settled_procs[role]["fds"], start_procs[role]["threads"],
                  settled_procs[role]["threads"]) for role in sorted(start_procs) if role in settled_procs]
    total_growth = sum(r[4] for r in mem_rows)
    growth_min = (t_end - t_warm) / 60

    # ---- record
    load_note = (f"{mode} run: {N_CLIENTS} clients (5 sonographers, 5 physicians) for {load_s:.0f} s on 127.0.0.1, "
                 f"each looping login (PIN + CSRF) -> exam list -> live page holding the SSE and MJPEG streams "
                 f"{live_hold_s:.0f} s -> exam -> echo measurements -> report -> save draft -> ECG -> reports list "
                 "-> logout, 0.2-0.8 s between pages; simulated probe configured at 45 % of the rate it draws on "
                 "the box (rows above); an echo exam is open so clips are saved and measured")
    common = {"mode": mode, "load_s": round(load_s)}

    def row(metric, value, unit, bound=""):
        figures.row(SECTION, metric=metric, value=value, unit=unit, bound=bound, **common)

    row("simulated probe: drawing rate on this box / configured frame rate", f"{capacity:.1f} / {fps_cfg}", "fps")
    row("live fps before load (mean of 5 s windows)", _mean([w[0] for w in base_w]), "fps")
    row("live fps under load, all 5 s windows (mean / min)",
        f"{_mean([w[0] for w in load_w]):.2f} / {min([w[0] for w in load_w], default=float('nan')):.2f}", "fps")
    row("live fps under load, windows judged (mean / min)",
        f"{_mean(judged):.2f} / {min(judged, default=float('nan')):.2f} ({len(judged)} of {len(load_w)} windows)",
        "fps", f"mean >= {fps_floor} x {fps_cfg}, >= {min_judged} windows")
    row("CPU of the box under load: other programs / all (mean of windows)",
        f"{_mean([w[1] for w in load_w]):.2f} / {_mean([w[2] for w in load_w]):.2f}", "cores",
        f"windows with < {IDLE_MIN_CORES} of {N_CPUS} cores idle not judged")
    row("frames processed / dropped before load", f"{base_n} / {base_d}", "frames")
    row("frames processed / dropped under load", f"{load_n} / {load_d}", "frames", "dropped <= 2 %")
    row("capture-to-result p50 / p99 before load", f"{pct(lat_base, 50):.1f} / {pct(lat_base, 99):.1f}", "ms")
    row("capture-to-result p50 / p99 under load", f"{pct(lat_load, 50):.1f} / {pct(lat_load, 99):.1f}", "ms")
    row("capture-to-result p50 / p99 (core, last 5000 frames)",
        f"{core_live.get('latency_p50_ms') or float('nan'):.1f} / {core_live.get('latency_p99_ms') or float('nan'):.1f}",
        "ms")
    row("clips saved to the exam during the run", len(clips), "clips", ">= 1")
    row("UI requests (incl. stream opens) / errors (5xx, connection)", f"{n_requests} / {len(errors)}", "requests",
        "0 errors")
    row("unexpected answers (4xx, login redirects)", len(unexpected), "requests", "0")
    row("UI latency overall p50 / p99", f"{pct(all_lat, 50):.0f} / {pct(all_lat, 99):.0f}", "ms")
    for kind in sorted(lat_by_kind):
        v = lat_by_kind[kind]
        row(f"UI latency {kind} p50 / p99", f"{pct(v, 50):.0f} / {pct(v, 99):.0f} (n={len(v)})", "ms")
    row("SSE events per client (min / median)", f"{min(sse_per_client)} / {statistics.median(sse_per_client):.0f}",
        "events", ">= 1 each")
    row("MJPEG frames per client (min / median)",
        f"{min(mjpeg_per_client)} / {statistics.median(mjpeg_per_client):.0f}", "frames", ">= 1 each")
    load_wall = t_end - t_load
    cpu = {role: (end_procs[role]["cpu_s"] - start_procs[role]["cpu_s"]) / load_wall for role in end_procs
           if role in start_procs}
    row("CPU under load: core / webui / clients (cores)",
        f"{cpu.get('core', float('nan')):.2f} / {cpu.get('webui', float('nan')):.2f} / {client_cpu_s / load_wall:.2f}",
        "cores", f"{N_CPUS} cores on the box")
    row("logins / drafts saved", f"{sum(s.logins for s in stats)} / {sum(s.drafts_saved for s in stats)}", "")
    mem_bound = budget(short=MEM_BOUND_SHORT_MB, full=MEM_BOUND_FULL_MB_PER_MIN)
    for role, a, w, e, g, rate in mem_rows:
        row(f"RSS {role}: start / after warm-up / end", f"{a:.0f} / {w:.0f} / {e:.0f}", "MB")
        h1, h2 = _half_rates(sampler.procs, role, t_warm, t_end)
        row(f"RSS {role} growth after warm-up", f"{g:+.1f} MB ({rate:+.2f} MB/min; halves {h1:+.1f}, {h2:+.1f} MB/min)",
            "MB", (f"total <= {mem_bound} MB, web UI <= {MEM_BOUND_SHORT_WEBUI_MB} MB" if mode == "short"
                   else f"total <= {mem_bound} MB/min"))
    for role, f0, f1, t0, t1 in leak_rows:
        row(f"fds / threads {role}: before load -> after", f"{f0} -> {f1} / {t0} -> {t1}", "",
            f"+{FD_SLACK} fds, +{THREAD_SLACK} threads")
    figures.note(SECTION, load_note)

    # ---- assertions (each one fails when the product misbehaves under load)
    assert not errors, f"{len(errors)} errors under load, e.g. {errors[:5]}"
    assert not unexpected, f"{len(unexpected)} unexpected answers, e.g. {unexpected[:5]}"
    assert min(sse_per_client) > 0 and all(s.sse_events.get("state", 0) > 0 for s in stats), sse_per_client
    assert min(mjpeg_per_client) > 0, mjpeg_per_client
    assert not any(s.mjpeg_bad for s in stats), [s.mjpeg_bad for s in stats]
    assert sum(s.drafts_saved for s in stats) > 0 and report_text.startswith("Soak draft by user"), report_text
    assert load_d <= 0.02 * max(1, load_n), f"{load_d} frames dropped of {load_n}"
    assert clips, "no clip was saved to the open echo exam during the run"
    if mode == "short":
        webui_growth = next((r[4] for r in mem_rows if r[0] == "webui"), 0.0)
        assert webui_growth <= MEM_BOUND_SHORT_WEBUI_MB and total_growth <= mem_bound, mem_rows
    else:
        assert total_growth / growth_min <= mem_bound, mem_rows
    for role, f0, f1, t0, t1 in leak_rows:
        assert f1 - f0 <= FD_SLACK, f"{role}: open fds {f0} -> {f1} after the clients left"
        assert t1 - t0 <= THREAD_SLACK, f"{role}: threads {t0} -> {t1} after the clients left"
    busy = (f"the box had less than {IDLE_MIN_CORES} cores idle in {len(load_w) - len(judged)} of {len(load_w)} "
            f"windows ((fps, other programs, all) = {load_w}); the live loop's fps cannot be judged: rerun on a "
            "quieter machine")
    if len(judged) < min_judged and mode == "short":
        warnings.warn(busy, stacklevel=1)   # make test on a busy box: all else was checked; make stress judges it
        return
    assert len(judged) >= min_judged, busy
    assert _mean(judged) >= fps_floor * fps_cfg, \
        f"live loop starved under load: {judged} fps (configured {fps_cfg})"


# Bounds. Memory: after warm-up the cart holds a bounded clip buffer (core, by design up to ~5 s of frames), bounded
# queues and at most 32 web threads. The core's RSS rises in steps for its first few minutes (the LV model loads on the
# first measurable clip, the allocator keeps freed clip arrays in its arenas) and then stays flat: a core-only run on
# the test box went 389 MB at 30 s, 440 MB at 60 s, 460 MB at 210 s, 462 MB at 450 s; at a lower frame rate the
# steps come later. The full run compares from 2 min into the load (~2.7 min after start) and allows 12 MB/min for
# the whole cart over the last 3 min: start-up steps still fit, a leak of 100 kB a frame or 50 kB a request does not
# (the halves in the figures tell a plateau from a slope). The short run (20 s) is still inside start-up: it
# only catches gross growth (before the fix in webui_server the UI alone grew by 150-360 MB there).
MEM_BOUND_SHORT_MB = 250.0         # whole cart, over the short run's ~14 s after warm-up
MEM_BOUND_SHORT_WEBUI_MB = 100.0   # the web UI alone, same interval
MEM_BOUND_FULL_MB_PER_MIN = 12.0   # whole cart, over the full run's last 3 minutes
RSS_SPAN_S = 20.0                  # RSS "after warm-up" and "at the end" are medians over this long
FD_SLACK = 6                       # a leaked SSE stream keeps a database connection (3 fds: db, -wal, -shm)
THREAD_SLACK = 3


def _rss_median(procs: list[tuple[str, float, dict]], role: str, t0: float, t1: float) -> float | None:
    xs = [tree[role]["rss_mb"] for _p, t, tree in procs if t0 <= t <= t1 and role in tree]
    return float(np.median(xs)) if xs else None


def _half_rates(procs: list[tuple[str, float, dict]], role: str, t0: float, t1: float) -> tuple[float, float]:
    """RSS growth (MB/min) of `role` in the first and the second half of [t0, t1] (a plateau shows as a smaller
    second half, a leak as two similar ones), from the sampler's 2 s readings."""
    pts = [(t, tree[role]["rss_mb"]) for _p, t, tree in procs if t0 <= t <= t1 and role in tree]
    if len(pts) < 4:
        return float("nan"), float("nan")
    mid = (pts[0][0] + pts[-1][0]) / 2
    a = [x for x in pts if x[0] <= mid]
    b = [x for x in pts if x[0] >= mid]
    rate = [(h[-1][1] - h[0][1]) / max(1e-6, (h[-1][0] - h[0][0]) / 60) if len(h) > 1 else float("nan")
            for h in (a, b)]
    return rate[0], rate[1]


def _mean(xs: list[float]) -> float:
    return float(np.mean(xs)) if xs else float("nan")


def _clips(cart: Cart, exam_id: int) -> list:
    from device.store import clinical
    from device.store.db import connect

    c = connect(cart.data / "cardiocart.sqlite3")
    try:
        return [x for x in clinical.list_captures(c, exam_id) if x.kind == "clip"]
    finally:
        c.close()


def _report_text(cart: Cart, exam_id: int) -> str:
    from device.reporting import from_store as fs
    from device.store.blobs import BlobStore
    from device.store.db import connect
    from device.config import load_settings

    settings = load_settings(cart.config)
    c = connect(settings.db_path)
    try:
        hist = fs.history(c, BlobStore(settings.blob_dir), exam_id)
        return hist[-1][1].free_text if hist else ""
    finally:
        c.close()


def test_core_publishes_live_loop_counters(figures):
    """Regression: the core's metrics (run/metrics.json, /api/metrics) had only model latencies; the live loop's
    frames processed, frames dropped by the drop-oldest queue, fps and capture-to-result p50/p99 were nowhere to be
    seen. ``live_metrics`` publishes them, as strict JSON (no NaN before the first frame)."""
    from device.drivers.sim_probe import SimProbeSource
    from device.pipeline.live_echo import LiveEcho
    from device.services.core import live_metrics
    from tests.integration.test_echo_live import Oracle

    oracle = Oracle(delay_s=0.03)
    src = SimProbeSource(width=160, height=120, realtime=True, fps=60, max_frames=60, seed=1)
    loop = LiveEcho(oracle.watch(src), oracle, queue_size=2)
    before = live_metrics(loop)
    assert before["processed"] == 0 and before["latency_p99_ms"] is None
    json.dumps(before, allow_nan=False)
    loop.start()
    loop.join(10)
    after = live_metrics(loop)
    json.dumps(after, allow_nan=False)
    assert after["processed"] + after["dropped"] == 60 and after["dropped"] > 0
    assert 0 < after["latency_p50_ms"] <= after["latency_p99_ms"]
    figures.note(SECTION, "Found: the core published only model latencies; the live loop's frames processed and "
                 "dropped, fps and capture-to-result p50/p99 were nowhere (the soak could not measure dropped "
                 "frames). Fixed: `live` in run/metrics.json and /api/metrics (device/services/core.py "
                 "live_metrics); regression test test_soak.py::test_core_publishes_live_loop_counters.")


@pytest.mark.parametrize("save_clips_async", [True, False])
def test_saving_a_clip_does_not_stall_the_live_loop(save_clips_async, budget, figures):
    """Regression: the live loop compressed and stored each best clip on its worker thread (np.savez_compressed of a
    3 s loop: ~0.8 s at 13 fps, ~2 s at 30 fps on the test box), so the picture froze and the drop-oldest queue threw
    frames away at the very moment a view was captured (the soak saw 6 of 76 frames dropped with no load at all).
    With ``save_clips_async`` (what the core uses) the clip is kept on its own thread: no frame is dropped, the clip is
    stored, the protocol advances and its events still come from the worker thread. The synchronous variant is kept
    for tests and shows the stall this guards against."""
    from device.drivers.sim_probe import SimProbeSource
    from device.echo.gate import GateParams
    from device.pipeline.live_echo import LiveEcho
    from device.sim.echo_probe import Segment
    from tests.integration.test_echo_live import Oracle

    if not save_clips_async and not budget(short=False, full=True):
        pytest.skip("the synchronous variant (showing the stall) runs under make stress")
    fps, save_s = 20, 1.0
    script = (Segment("A4C", approach_s=1.5, hold_s=5.0, leave_s=1.0),)
    src = SimProbeSource(width=160, height=120, realtime=True, fps=fps, max_frames=5 * fps, script=script, seed=5)
    oracle = Oracle()
    kept, event_threads = [], []

    def slow_keep(clip):
        time.sleep(save_s)      # what compressing + storing a real loop costs
        kept.append((clip.view, threading.current_thread().name))
        return True

    def on_event(e):
        event_threads.append((e.kind, threading.current_thread().name))

    loop = LiveEcho(oracle.watch(src), oracle, protocol=["A4C", "PLAX"], clip_s=1.0, queue_size=4,
                    params=GateParams(quality_threshold=0.6, hold_s=0.5), on_clip=slow_keep, on_event=on_event,
                    sync_sector=True, save_clips_async=save_clips_async)
    loop.start()
    loop.join(20)
    loop.stop()
    st = loop.stats()
    assert [v for v, _ in kept] == ["A4C"], kept
    assert loop.target == "PLAX"
    assert ("clip_saved", "echo-infer") in event_threads
    figures.row(SECTION, metric=f"frames dropped while a clip is kept for {save_s:.0f} s "
                f"({'own thread' if save_clips_async else 'worker thread, before the fix'})",
                value=f"{st['dropped']} of {st['processed'] + st['dropped']}", unit="frames",
                bound="0" if save_clips_async else "", mode=stress_mode(), load_s=0)
    if save_clips_async:
        assert kept[0][1] == "echo-clip"
        assert st["dropped"] == 0 and st["processed"] == 5 * fps, st
        assert st["latency_p99_ms"] < 500, st
        figures.note(SECTION, "Found: the live loop compressed and stored each best clip on its worker thread "
                     "(np.savez_compressed of a 3 s loop), so the picture froze and frames were dropped at the moment "
                     "a view was captured, even on an idle cart. Fixed: LiveEcho(save_clips_async=True) keeps clips "
                     "on their own thread, and the core stores them through a second connection "
                     "(device/pipeline/live_echo.py, device/services/core.py ClipSink); regression test "
                     "test_soak.py::test_saving_a_clip_does_not_stall_the_live_loop.")
    else:
        assert st["dropped"] >= save_s * fps - 4 - 2, st   # the queue holds 4 frames; the rest of the stall is lost


def test_report_page_assembles_the_draft_outside_the_write_lock(tmp_path, monkeypatch, figures):
    """Regression: opening a report refreshed its draft inside one BEGIN IMMEDIATE transaction, including the slow
    part (every measured clip decoded and its ED/ES frames drawn as PNG key images). With ten clients the soak got
    HTTP 500 'database is locked' on the report page and on logins, and every other writer -- the core's clips and
    events, each page's audit row -- waited behind it. The draft is now assembled before the transaction and only
    stored inside it (and the drawn key images are cached)."""
    from device.config import load_settings
    from device.reporting import from_store as fs
    from device.store import Store, clinical, users
    from device.store.db import Tx
    from tests.integration.conftest import UiClient
    from webui import create_app

    cfg = tmp_path / "cart.toml"
    cfg.write_text(f'[paths]\ndata_dir = "{tmp_path / "var"}"\n')
    settings = load_settings(cfg)
    app = create_app(settings)
    s = Store.open(settings.data_dir)
    with Tx(s.conn) as c:
        users.create_user(c, "doc", "Doc", "physician", PIN)
        exam = clinical.create_exam(c, clinical.upsert_patient(c, "LOCK0001"), "echo", None)
    s.close()
    in_tx = []
    real = fs.assemble

    def spy(conn, *a, **kw):
        in_tx.append(conn.in_transaction)
        return real(conn, *a, **kw)

    monkeypatch.setattr(fs, "assemble", spy)
    ui = UiClient(app.test_client())
    ui.get("/login")
    assert ui.post("/login", {"username": "doc", "pin": PIN}).status_code == 302
    for _ in range(2):   # the first view creates the draft, the second refreshes it
        assert ui.get(f"/exams/{exam.id}/report").status_code == 200
    assert in_tx and not any(in_tx), in_tx
    figures.note(SECTION, "Found under load: the report page refreshed its draft inside one write transaction, "
                 "including decoding every measured clip into key images; with ten clients it answered HTTP 500 "
                 "'database is locked' (and so did sign-ins), and the core's clip and event writes waited behind it. "
                 "Fixed: the draft is assembled before the transaction (device/reporting/from_store.py draft_source, "
                 "webui/views/reports.py) and drawn LV key images are cached (device/reporting/echo_sections.py); "
                 "regression test test_soak.py::test_report_page_assembles_the_draft_outside_the_write_lock, and the "
                 "soak's zero-5xx check.")


SCRYPT_CHURN = """
import hashlib, sys, threading
from device.services.webui_server import return_large_buffers_to_the_os
if sys.argv[1] == "1":
    assert return_large_buffers_to_the_os()
def rss():
    return int(next(x for x in open("/proc/self/status") if x.startswith("VmRSS")).split()[1]) / 1024
r0 = rss()
def login():   # what a sign-in costs the UI: the PIN's scrypt hash, 16 MB of work area
    for _ in range(4):
        hashlib.scrypt(b"482913", salt=b"s" * 16, n=2 ** 14, r=8, p=1, dklen=32)
ts = [threading.Thread(target=login) for _ in range(8)]
[t.start() for t in ts]
[t.join() for t in ts]
print(rss() - r0)
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_ui_gives_large_buffers_back_after_logins(figures):
    """Regression: the UI process grew from ~110 MB to ~600 MB under ten users and stayed there (freed 16 MB scrypt
    work areas and decoded clips kept in glibc's per-thread arenas once its dynamic mmap threshold had risen). The
    webui role now fixes the threshold at 1 MB; eight threads signing in four times each then leave little behind."""
    import subprocess
    import sys

    from device.paths import REPO_ROOT

    grown = {v: float(subprocess.run([sys.executable, "-c", SCRYPT_CHURN, v], cwd=REPO_ROOT, capture_output=True,
                                     text=True, timeout=120, check=True).stdout) for v in ("0", "1")}
    figures.row(SECTION, metric="RSS left after 32 sign-ins on 8 threads: allocator default / as the UI sets it",
                value=f"{grown['0']:.0f} / {grown['1']:.0f}", unit="MB", bound="< 24 as set", mode=stress_mode(),
                load_s=0)
    assert grown["1"] < 24, f"RSS grew {grown['1']:.0f} MB after 32 sign-ins"
    figures.note(SECTION, "Found under load: the UI process grew several-fold and stayed there; freed large buffers "
                 "(each sign-in's 16 MB scrypt work area, clips decoded for pages) were kept in glibc's per-thread "
                 "arenas of the 32 request threads. Fixed: the webui role fixes the mmap threshold at 1 MB "
                 "(device/services/webui_server.py return_large_buffers_to_the_os); regression test "
                 "test_soak.py::test_ui_gives_large_buffers_back_after_logins and the soak's memory bound.")


@pytest.mark.parametrize("picture", ["none", "frozen"])
def test_left_live_pages_do_not_use_up_the_web_threads(tmp_path, picture, figures):
    """Regression: the MJPEG stream wrote only when the core published a new picture. With no picture (core not
    running) or a frozen one (no signal, a stopped core) the server never learnt that a viewer had left, so each
    visit to the live page held one of the UI's 32 threads for STREAM_MAX_S (5 min): after 32 visits the whole UI,
    /api/health included, stopped answering. The stream now re-sends the picture every second (a write finds the
    closed connection) and ends after 5 s without any picture."""
    import socket

    import requests

    cart = Cart(tmp_path, role="webui")
    prepare_store(cart)
    cart.start()
    try:
        if picture == "frozen":
            import cv2
            ok, jpg = cv2.imencode(".jpg", np.zeros((48, 64, 3), np.uint8))
            (cart.data / "run").mkdir(parents=True, exist_ok=True)
            (cart.data / "run" / "live.jpg").write_bytes(jpg.tobytes())
        cl = BrowserClient(cart.url, "user0", PIN, 1, 2, time.monotonic() + 60, 1, (0, 0), seed=0)
        assert cl.login()
        cookie = "; ".join(f"{k}={v}" for k, v in cl.session.cookies.items())
        for _ in range(40):   # a page opened and left; 40 > the UI's 32 threads
            with socket.create_connection(("127.0.0.1", cart.port)) as s:
                s.sendall(f"GET /live/stream.mjpg HTTP/1.1\r\nHost: cart\r\nCookie: {cookie}\r\n\r\n".encode())
                time.sleep(0.02)
        t0 = time.monotonic()
        r = requests.get(cart.url + "/api/health", timeout=30)
        waited = time.monotonic() - t0
    finally:
        cart.stop()
    figures.row(SECTION, metric=f"UI answer after 40 left live pages ({picture} picture)", value=round(waited, 2),
                unit="s", bound="< 10", mode=stress_mode(), load_s=0)
    assert r.status_code == 200 and waited < 10, f"/api/health took {waited:.1f} s after 40 left live pages"
    figures.note(SECTION, "Found: the MJPEG stream wrote only when a new picture came, so with no signal or no core "
                 "a left live page kept one of the UI's 32 threads for 5 min, and 32 visits stopped the whole UI "
                 "(/api/health included). Fixed: the picture is re-sent every second and the stream ends after 5 s "
                 "without one (webui/views/live.py); regression test "
                 "test_soak.py::test_left_live_pages_do_not_use_up_the_web_threads.")
