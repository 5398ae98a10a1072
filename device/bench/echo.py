"""Live echo loop: frames per second and capture-to-result latency (p50/p99) with view + quality + guidance on every
frame, for each model variant (int8 / fp32 ONNX Runtime, LiteRT). Frames are simulator screens rendered beforehand
and replayed at 30 fps through the real loop (threads, drop-oldest queue, fan finding, gate, clip buffer)."""

from __future__ import annotations

import time

import numpy as np

from device.drivers.base import SourceFrame

GOAL_FPS = 30.0
GOAL_P99_MS = 50.0
GOAL_MODEL_P99_MS = 10.0  # the view model alone, one frame (issue 12)


class _Replay:
    """Pre-rendered frames replayed at `fps`, stamped at emission like a capture card."""

    name = "replay"

    def __init__(self, frames: list[np.ndarray], fps: float, seconds: float):
        self.frames, self.fps, self.n = frames, fps, int(seconds * fps)
        self._stop = False

    def stop(self) -> None:
        self._stop = True

    def __iter__(self):
        period = 1.0 / self.fps
        t_next = time.perf_counter()
        for i in range(self.n):
            if self._stop:
                return
            d = t_next - time.perf_counter()
            if d > 0:
                time.sleep(d)
            t_next += period
            yield SourceFrame(time.monotonic_ns(), self.frames[i % len(self.frames)], i, "replay", fps=self.fps)


def _frames(n: int = 60) -> list[np.ndarray]:
    from device.sim.echo_probe import SimulatedProbe

    p = SimulatedProbe(seed=3)
    return [p.next()[0] for _ in range(n)]


def run_variant(variant: str, frames: list[np.ndarray], seconds: float = 8.0) -> dict[str, float]:
    from device.echo.classify import ViewClassifier
    from device.inference import load_model
    from device.pipeline.live_echo import LiveEcho

    m = load_model("echo_view", variant=variant, cache=False, threads=1)
    clf = ViewClassifier.from_loaded(m)
    loop = LiveEcho(_Replay(frames, GOAL_FPS, seconds), clf, protocol=["A4C", "PLAX"])
    t0 = time.perf_counter()
    loop.start()
    loop.join(seconds + 10)
    el = time.perf_counter() - t0
    st = loop.stats()
    lat = np.array(loop.latencies_ms)
    # capacity: the same per-frame work back to back, unpaced
    cap = LiveEcho(iter(()), clf, protocol=["A4C"])
    n, t1 = 0, time.perf_counter()
    while time.perf_counter() - t1 < 3.0:
        cap.process(SourceFrame(time.monotonic_ns(), frames[n % len(frames)], n, "bench"))
        n += 1
    return {"tag": m.tag, "fps": st["processed"] / el, "p50": float(np.percentile(lat, 50)),
            "p99": float(np.percentile(lat, 99)), "dropped": st["dropped"],
            "capacity_fps": n / (time.perf_counter() - t1)}


def model_latency(variant: str, frames: list[np.ndarray], threads: int = 2, n: int = 300,
                  name: str = "echo_view") -> dict[str, float]:
    """The view model alone on one frame at a time (fan crop + runner + head), as the cart's default config runs
    it (`[inference] threads = 2`): p50/p99 in ms over `n` frames after warm-up."""
    from device.echo.classify import ViewClassifier
    from device.echo.prep import model_input
    from device.echo.screen import find_sector
    from device.inference import load_model

    m = load_model(name, variant=variant, cache=False, threads=threads)
    clf = ViewClassifier.from_loaded(m)
    sector = find_sector(frames[0])
    xs = [model_input(f, sector, clf.size) for f in frames]
    for x in xs[:10]:
        clf.decode_outputs(m.run({clf.input_name: x}))
    lat, lat_all = [], []
    for i in range(n):
        t0 = time.perf_counter()
        clf.decode_outputs(m.run({clf.input_name: xs[i % len(xs)]}))
        lat.append((time.perf_counter() - t0) * 1000.0)
    for i in range(n // 2):   # what the cart does per frame: crop + model + head + the quality model if any
        t0 = time.perf_counter()
        clf(frames[i % len(frames)], sector)
        lat_all.append((time.perf_counter() - t0) * 1000.0)
    return {"tag": clf.tag, "p50": float(np.percentile(lat, 50)), "p99": float(np.percentile(lat, 99)),
            "all_p50": float(np.percentile(lat_all, 50)), "all_p99": float(np.percentile(lat_all, 99))}


def bench() -> list[dict]:
    frames = _frames()
    rows = []
    msec = "Echo view model alone (one fan crop per call: v2 backbone + numpy view head; 2 threads)"
    for name, variants in (("echo_view", ("int8", "fp32", "tflite")), ("echo_view_small", ("int8", "fp32"))):
        for variant in variants:
            try:
                r = model_latency(variant, frames, name=name)
            except Exception as exc:  # noqa: BLE001 - a missing variant or model is a row, not a crash
                rows.append({"section": msec, "item": f"{name} {variant}", "metric": "not measured",
                             "value": str(exc)[:80], "unit": "", "goal": ""})
                continue
            rows += [{"section": msec, "item": r["tag"], "metric": "model per-frame p50", "value": r["p50"],
                      "unit": "ms", "goal": ""},
                     {"section": msec, "item": r["tag"], "metric": "model per-frame p99", "value": r["p99"],
                      "unit": "ms", "goal": f"<= {GOAL_MODEL_P99_MS:.0f}" if name == "echo_view" else ""},
                     {"section": msec, "item": r["tag"], "metric": "frame to view p50 (crop + model(s) + head)",
                      "value": r["all_p50"], "unit": "ms", "goal": ""},
                     {"section": msec, "item": r["tag"], "metric": "frame to view p99 (crop + model(s) + head)",
                      "value": r["all_p99"], "unit": "ms", "goal": ""}]
    sec = "Live echo loop (view + quality + guidance every frame, 640x480 at 30 fps)"
    for variant in ("int8", "fp32", "tflite"):
        r = run_variant(variant, frames)
        item = r["tag"]
        rows += [
            {"section": sec, "item": item, "metric": "sustained fps (paced 30 fps source)", "value": r["fps"],
             "unit": "fps", "goal": f">= {GOAL_FPS:.0f}"},
            {"section": sec, "item": item, "metric": "capture-to-result p50", "value": r["p50"], "unit": "ms",
             "goal": ""},
            {"section": sec, "item": item, "metric": "capture-to-result p99", "value": r["p99"], "unit": "ms",
             "goal": f"<= {GOAL_P99_MS:.0f}"},
            {"section": sec, "item": item, "metric": "frames dropped (drop-oldest queue)", "value": r["dropped"],
             "unit": "frames", "goal": "0"},
            {"section": sec, "item": item, "metric": "capacity (unpaced, one thread)", "value": r["capacity_fps"],
             "unit": "fps", "goal": ""},
        ]
    return rows
