"""The durable job queue on a real store: enqueue with dedupe, atomic claim, progress, result and error, recovery of
jobs a killed worker left running (re-queued, failed after MAX_ATTEMPTS), unknown kinds, and the registry table."""

from __future__ import annotations

import threading

import pytest

from device import jobs
from device.errors import InputError, UserError
from device.jobs import worker
from device.store import Store


@pytest.fixture()
def store(tmp_path):
    s = Store.open(tmp_path / "var")
    yield s
    s.close()


def test_enqueue_dedupe_claim_finish(store, monkeypatch):
    c = store.conn
    a = jobs.enqueue(c, "t.add", {"x": 1}, dedupe_key="k1")
    assert jobs.enqueue(c, "t.add", {"x": 99}, dedupe_key="k1") == a         # still queued: same job
    b = jobs.enqueue(c, "t.add", {"x": 2})
    assert b != a
    seen = []

    def add(payload, progress):
        progress(0.5, "half")
        seen.append(jobs.get_job(c, progress.job_id).progress)
        return {"y": payload["x"] + 1}

    monkeypatch.setitem(__import__("device.jobs.registry", fromlist=["HANDLERS"]).HANDLERS, "t.add", add)
    done = worker.run_until_idle(store)
    assert [j.id for j in done] == [a, b] and seen == [0.5, 0.5]
    ja = jobs.get_job(c, a)
    assert (ja.state, ja.progress, ja.result, ja.error, ja.attempts) == ("done", 1.0, {"y": 2}, None, 1)
    assert jobs.get_job(c, b).result == {"y": 3}
    # a finished job frees its key
    assert jobs.enqueue(c, "t.add", {"x": 5}, dedupe_key="k1") not in (a, b)
    with pytest.raises(UserError):
        jobs.get_job(c, 10**6)


def test_errors_are_one_line_and_keep_the_step(store, monkeypatch):
    from device.jobs.registry import HANDLERS

    def bad_input(payload, progress):
        raise InputError("no grid: the printout has no grid; photograph it again", step="no grid")

    def bug(payload, progress):
        raise ZeroDivisionError("boom")

    monkeypatch.setitem(HANDLERS, "t.bad", bad_input)
    monkeypatch.setitem(HANDLERS, "t.bug", bug)
    ids = [jobs.enqueue(store.conn, k, {}) for k in ("t.bad", "t.bug", "t.nope")]
    worker.run_until_idle(store)
    j1, j2, j3 = (jobs.get_job(store.conn, i) for i in ids)
    assert j1.state == "failed" and j1.error.startswith("no grid:") and j1.result == {"step": "no grid"}
    assert j2.state == "failed" and "ZeroDivisionError" in j2.error and "Traceback" not in j2.error
    assert j3.state == "failed" and "no handler for job kind 't.nope'" in j3.error and "ecg.read" in j3.error


def test_claim_is_atomic_across_connections(tmp_path, store):
    from device.store.db import connect
    ids = [jobs.enqueue(store.conn, "t.x", {"i": i}) for i in range(40)]
    got: list[int] = []
    lock = threading.Lock()

    def take():
        c = connect(store.db_path)
        while (j := worker.claim(c)) is not None:
            with lock:
                got.append(j.id)
        c.close()

    ts = [threading.Thread(target=take) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert sorted(got) == ids                                   # each job claimed exactly once


def test_recover_requeues_running_and_fails_after_max_attempts(store):
    c = store.conn
    a = jobs.enqueue(c, "t.x", {})
    b = jobs.enqueue(c, "t.x", {})
    assert worker.claim(c).id == a
    c.execute("UPDATE jobs SET state = 'running', attempts = ? WHERE id = ?", (worker.MAX_ATTEMPTS, b))
    assert worker.recover(c) == (1, 1)
    ja, jb = jobs.get_job(c, a), jobs.get_job(c, b)
    assert ja.state == "queued" and ja.message.startswith("resumed")
    assert jb.state == "failed" and f"{worker.MAX_ATTEMPTS} times" in jb.error
    assert not worker.finish(c, b, {"late": True})              # a finished job is not finished again


def test_registry_entries_are_functions_and_recovery_hooks_run(store):
    from device.jobs.registry import HANDLERS, RECOVERY
    assert {"ecg.read", "ecg.correct", "echo.measure_clip"} <= set(HANDLERS)
    assert all(callable(h) for h in HANDLERS.values())
    assert worker.run_recovery_hooks(store, None) == 0 and RECOVERY


def test_prune_forgets_only_old_finished_jobs(store):
    c = store.conn
    old, recent, waiting = (jobs.enqueue(c, "t.x", {}) for _ in range(3))
    for j in (old, recent):
        assert worker.claim(c).id == j
        worker.finish(c, j, {})
    c.execute("UPDATE jobs SET finished_at = '2020-01-01T00:00:00.000Z' WHERE id = ?", (old,))
    assert worker.prune(c) == 1
    assert jobs.find_job(c, old) is None
    assert jobs.get_job(c, recent).state == "done" and jobs.get_job(c, waiting).state == "queued"
