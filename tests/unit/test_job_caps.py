"""Issue 13: memory and time caps on analysis jobs. The worker runs each job in a child process under the [jobs]
caps of the config; a job that sleeps past its time limit or allocates past its memory limit is failed with a
one-line reason naming the limit, and the worker goes on with the next job (the same process, its memory flat)."""

from __future__ import annotations

import resource
import time

import numpy as np
import pytest

from device import jobs
from device.config import load_settings
from device.jobs import sandbox, worker
from device.jobs.registry import HANDLERS
from device.store import Store


def _sleeper(payload, progress):
    progress(0.1, "sleeping")
    time.sleep(float(payload["s"]))
    return {"slept": payload["s"]}


def _allocator(payload, progress):
    blocks = [np.ones(int(payload["mb"]) * 2 ** 20 // 8) for _ in range(int(payload["n"]))]
    return {"mb": sum(b.nbytes for b in blocks) // 2 ** 20}


def _writer(payload, progress):
    progress(0.5, "half")
    progress.store.conn.execute("UPDATE jobs SET message = 'child wrote' WHERE id = ?", (progress.job_id,))
    return {"ok": True, "x": np.float32(1.5)}


class _StopWhenIdle:
    """run_worker's stop flag: stops the loop the first time the queue is empty."""

    stopped = False

    def wait(self, _s: float) -> None:
        self.stopped = True


@pytest.fixture()
def world(tmp_path, monkeypatch):
    cfg = tmp_path / "site.toml"
    cfg.write_text(f'[paths]\ndata_dir = "{tmp_path / "var"}"\n\n[jobs]\ntime_limit_s = 1.5\nmemory_limit_mb = 300\n'
                   '[jobs.time_limit_s_by_kind]\n"t.slow_ok" = 20\n"t.alloc" = 30\n"t.write" = 30\n')
    settings = load_settings(cfg)
    store = Store.open(settings.data_dir)
    for k, h in (("t.sleep", _sleeper), ("t.slow_ok", _sleeper), ("t.alloc", _allocator), ("t.write", _writer)):
        monkeypatch.setitem(HANDLERS, k, h)
    yield settings, store
    store.close()


def test_jobs_over_their_caps_fail_and_the_worker_goes_on(world):
    settings, store = world
    c = store.conn
    ids = [jobs.enqueue(c, "t.sleep", {"s": 30}), jobs.enqueue(c, "t.alloc", {"mb": 100, "n": 20}),
           jobs.enqueue(c, "t.alloc", {"mb": 50, "n": 2}), jobs.enqueue(c, "t.slow_ok", {"s": 1.8}),
           jobs.enqueue(c, "t.write", {})]
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.monotonic()
    assert worker.run_worker(settings, stop=_StopWhenIdle()) == 0      # the worker role's own loop
    took = time.monotonic() - t0
    by = {i: jobs.get_job(c, i) for i in ids}
    slow, big, small, slow_ok, wrote = (by[i] for i in ids)
    assert slow.state == "failed" and "time limit (1.5 s)" in slow.error and slow.result == {"step": "time limit"}
    assert big.state == "failed" and "memory" in big.error and "300 MB" in big.error
    assert "\n" not in slow.error + big.error
    assert (small.state, small.result) == ("done", {"mb": 100})
    assert (slow_ok.state, slow_ok.result) == ("done", {"slept": 1.8})     # its kind has a longer limit
    assert wrote.state == "done" and wrote.result == {"ok": True, "x": 1.5} and wrote.message == "child wrote"
    assert took < 25, took                      # the sleeper was stopped at 1.5 s, not after 30 s
    # the 2 GB allocation happened in the child: this process did not grow by it
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0 < 200 * 1024


def test_caps_come_from_the_config(world, tmp_path):
    settings, _ = world
    assert sandbox.JobLimits.for_kind(settings, "t.sleep") == sandbox.JobLimits(1.5, 300)
    assert sandbox.JobLimits.for_kind(settings, "t.slow_ok").time_s == 20
    off = settings.model_copy(update={"jobs": settings.jobs.model_copy(update={"isolate": False})})
    assert sandbox.JobLimits.for_kind(off, "t.sleep") is None
    cfg = tmp_path / "plain.toml"
    cfg.write_text(f'[paths]\ndata_dir = "{tmp_path / "v2"}"\n')
    d = load_settings(cfg)
    assert sandbox.JobLimits.for_kind(d, "ecg.read") == sandbox.JobLimits(600.0, 3072)
    assert sandbox.JobLimits.for_kind(d, "echo.learn_views").time_s == 3600
