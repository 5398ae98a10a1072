"""Outbox worker against a fake PACS: backoff while down, no duplicates, refused objects kept for a person."""

from __future__ import annotations

import random
import threading

from device.sync.errors import PacsAuthError, PacsRejected, PacsUnavailable
from device.sync.memory_outbox import MemoryOutbox
from device.sync.state import exam_sync_state
from device.sync.worker import Backoff, SyncWorker

STUDY = "2.25.1"


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


class FakePacs:
    """Holds instances by SOP UID; counts every STOW; can be down, refuse, or 'lose' an acknowledgement."""

    name = "fake"

    def __init__(self):
        self.held: dict[str, bytes] = {}
        self.sends: list[str] = []
        self.queries = 0
        self.down = False
        self.refuse: set[str] = set()
        self.auth_fail = False

    def send(self, data, study_uid, sop_uid):
        if self.down:
            raise PacsUnavailable("connection refused")
        if self.auth_fail:
            raise PacsAuthError("HTTP 401")
        if sop_uid in self.refuse:
            raise PacsRejected("HTTP 409")
        self.sends.append(sop_uid)
        self.held[sop_uid] = data

    def holds(self, study_uid, sop_uid):
        self.queries += 1
        if self.down:
            raise PacsUnavailable("connection refused")
        return sop_uid in self.held


def _setup(n=6):
    clock = Clock()
    box = MemoryOutbox(clock)
    for i in range(n):
        box.enqueue(STUDY, f"2.25.1.{i}", f"obj{i}".encode())
    pacs = FakePacs()
    w = SyncWorker(box, pacs, backoff=Backoff(initial_s=5, max_s=60, jitter=0.0), clock=clock,
                   rng=random.Random(0))
    return clock, box, pacs, w


def test_all_sent_once():
    clock, box, pacs, w = _setup()
    out = w.drain()
    assert [o.result for o in out] == ["sent"] * 6
    assert sorted(pacs.sends) == sorted(box.states()) and pacs.queries == 0
    assert set(box.states().values()) == {"sent"}
    assert w.step() is None


def test_pacs_down_backoff_then_recovery_without_duplicates():
    clock, box, pacs, w = _setup()
    assert [o.result for o in w.drain(max_items=2)] == ["sent", "sent"]
    pacs.down = True
    delays = []
    for _ in range(5):
        o = w.step()
        assert o is not None and o.result == "retry"
        delays.append(o.retry_at - clock.t)
        assert w.step() is None  # paused: it does not hammer a dead PACS
        clock.t = o.retry_at
    assert delays == [5, 10, 20, 40, 60]  # exponential, capped
    assert exam_sync_state((r.state, r.retry_at, r.last_error) for r in box.rows.values()).state == "waiting"
    pacs.down = False
    clock.t += 1000
    out = w.drain()
    assert {o.result for o in out} <= {"sent", "already_held"}
    assert set(box.states().values()) == {"sent"}
    assert sorted(pacs.sends) == sorted(box.states())  # each object STOWed exactly once
    assert len(pacs.sends) == len(set(pacs.sends)) == 6


def test_lost_acknowledgement_is_not_resent():
    """The PACS stored the object but the worker died before mark_sent: on restart it is found, not resent."""
    clock, box, pacs, w = _setup(1)
    item = box.claim_next()
    pacs.send(item.data, item.study_uid, item.sop_uid)  # sent, then the process dies
    box.release_claims()  # what the store does at start-up
    o = w.step()
    assert o.result == "already_held" and pacs.sends == ["2.25.1.0"] and pacs.queries == 1


def test_refused_object_is_kept_and_others_continue():
    clock, box, pacs, w = _setup(3)
    pacs.refuse = {"2.25.1.1"}
    out = w.drain()
    assert [o.result for o in out] == ["sent", "rejected", "sent"]
    r = box.rows[2]
    assert r.state == "failed" and r.retry_at is None and "409" in r.last_error and r.data == b"obj1"
    st = exam_sync_state((r.state, r.retry_at, r.last_error) for r in box.rows.values())
    assert (st.state, st.sent, st.failed) == ("failed", 2, 1)


def test_auth_failure_retries_with_backoff():
    clock, box, pacs, w = _setup(1)
    pacs.auth_fail = True
    o = w.step()
    assert o.result == "retry" and "401" in o.error and box.rows[1].retry_at == clock.t + 5


def test_query_failure_while_down_is_a_retry_not_a_send():
    clock, box, pacs, w = _setup(1)
    pacs.down = True
    w.step()
    clock.t += 100
    o = w.step()  # attempts > 0: asks the PACS first, which is still down
    assert o.result == "retry" and pacs.sends == [] and pacs.queries == 1


def test_run_loop_stops():
    clock, box, pacs, w = _setup(3)
    stop = threading.Event()
    seen = []

    def on(o):
        seen.append(o)
        if len(seen) == 3:
            stop.set()
    t = threading.Thread(target=w.run, args=(stop, 0.01, on))
    t.start()
    t.join(5)
    assert not t.is_alive() and len(seen) == 3


def test_backoff_jitter_bounds():
    b = Backoff(initial_s=10, max_s=100, jitter=0.2)
    rng = random.Random(1)
    for n in range(1, 10):
        d = b.delay_s(n, rng)
        assert 0 < d <= 100
        assert d >= min(100, 10 * 2 ** (n - 1)) * 0.8 - 1e-9


def test_sync_state_summary():
    assert exam_sync_state([]).state == "none"
    assert exam_sync_state([("sent", None, ""), ("pending", None, "")]).state == "sending"
    s = exam_sync_state([("sent", None, ""), ("failed", 50.0, "down"), ("failed", 40.0, "down")])
    assert (s.state, s.next_retry_at, s.waiting, s.last_error) == ("waiting", 40.0, 2, "down")
    r = exam_sync_state([("sent", None, ""), ("rejected", 0.0, "HTTP 409"), ("sending", 0.0, "")])
    assert (r.state, r.failed, r.last_error) == ("failed", 1, "HTTP 409")


def test_target_registry(tmp_path):
    import pytest

    from device.errors import ConfigError
    from device.sync.cstore import CStoreTarget
    from device.sync.dicomweb import DicomWebClient
    from device.sync.targets import target_from_settings, worker_from_settings

    class S:
        target = "dicomweb"
        dicomweb_url = "https://pacs.example/dicom-web"
        auth = "none"
        username = ""
        secret_file = ""
        ca_bundle = ""
        verify_tls = True
        cstore_host = "pacs.example"
        cstore_port = 104
        cstore_ae_title = "PACS"
        calling_ae_title = "CARDIOCART"
        retry_initial_s = 3
        retry_max_s = 90
    assert isinstance(target_from_settings(S), DicomWebClient)
    w = worker_from_settings(MemoryOutbox(), S)
    assert w.backoff.initial_s == 3 and w.backoff.max_s == 90
    S.target = "cstore"
    assert isinstance(target_from_settings(S), CStoreTarget)
    S.target = "none"
    assert target_from_settings(S) is None and worker_from_settings(MemoryOutbox(), S) is None
    S.target = "ftp"
    with pytest.raises(ConfigError, match="dicomweb"):
        target_from_settings(S)


def test_unexpected_error_keeps_item_for_retry():
    clock, box, pacs, w = _setup(1)

    def boom(*a):
        raise ValueError("bad header")
    pacs.send = boom
    o = w.step()
    assert o.result == "retry" and "ValueError" in o.error
    assert box.rows[1].state == "failed" and box.rows[1].retry_at is not None


def test_run_survives_outbox_errors():
    clock, box, pacs, w = _setup(1)
    calls = {"n": 0}
    real = box.claim_next

    def flaky():
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("database is locked")
        return real()
    box.claim_next = flaky
    stop = threading.Event()
    t = threading.Thread(target=w.run, args=(stop, 0.01, lambda o: stop.set()))
    t.start()
    t.join(5)
    stop.set()
    assert box.states() == {"2.25.1.0": "sent"}


def test_pacs_that_cannot_answer_the_query_still_gets_the_object():
    clock, box, pacs, w = _setup(1)
    pacs.down = True
    w.step()
    pacs.down = False
    clock.t += 100

    def no_qido(study_uid, sop_uid):
        raise PacsRejected("QIDO not supported (HTTP 400)")
    pacs.holds = no_qido
    o = w.step()
    assert o.result == "sent" and pacs.sends == ["2.25.1.0"]
