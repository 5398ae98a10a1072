"""SIGKILL the core while it writes: the database stays consistent and every committed row and blob is intact."""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from device.paths import REPO_ROOT
from tests.cart import Cart

pytestmark = pytest.mark.slow

WRITER = r"""
import sys, time, numpy as np
from device.config import load_settings
from device.domain.live import ClipRecord
from device.services.live_sink import StoreSink
from device.store import Store, clinical
from device.store.db import Tx
s = load_settings(sys.argv[1])
store = Store.open(s.data_dir)
sink = StoreSink(store, s.run_dir)
rng = np.random.default_rng(int(sys.argv[2]))
i = 0
while True:  # clips and events as fast as the disk takes them, until killed
    frames = rng.integers(0, 255, size=(12, 96, 128), dtype=np.uint8)
    q = float(rng.random())
    sink.keep_clip(ClipRecord(frames=frames, fps=30.0, view="A4C", quality_mean=q, quality_min=q, duration_s=0.37,
                              model_name="echo_view", model_version="test", model_tag="echo_view test",
                              extra={"i": i}))
    sink.on_event("standard_view", {"i": i, "text": "x"})
    i += 1
"""


def _snapshot(db):
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    caps = conn.execute("SELECT id, blob_sha256 FROM captures").fetchall()
    evs = conn.execute("SELECT count(*) FROM events").fetchone()[0]
    conn.close()
    return caps, evs


def _check(cart, before_caps, before_events):
    conn = sqlite3.connect(cart.data / "cardiocart.sqlite3")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    caps = dict(conn.execute("SELECT id, blob_sha256 FROM captures").fetchall())
    # every row committed before the kill is still there
    for cid, sha in before_caps:
        assert caps.get(cid) == sha
    assert conn.execute("SELECT count(*) FROM events").fetchone()[0] >= before_events
    # every blob row has a complete file whose content matches its name
    for (sha,) in conn.execute("SELECT sha256 FROM blobs"):
        data = (cart.data / "blobs" / sha[:2] / sha).read_bytes()
        assert hashlib.sha256(data).hexdigest() == sha
    # no half-written file was left under a final name
    for p in (cart.data / "blobs").rglob("*"):
        if p.is_file() and not p.name.endswith(".part"):
            assert hashlib.sha256(p.read_bytes()).hexdigest() == p.name
    conn.close()
    return len(caps)


def test_sigkill_while_writing_clips_loses_nothing_committed(tmp_path):
    cart = Cart(tmp_path)
    assert cart.cli("migrate").returncode == 0
    from device.store import Store, clinical
    from device.store.db import Tx
    st = Store.open(cart.data)
    with Tx(st.conn):
        p = clinical.upsert_patient(st.conn, "KILL1")
        clinical.create_exam(st.conn, p, "echo", None)
    st.close()
    total = 0
    for round_ in range(5):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(cart.config), str(round_)], cwd=REPO_ROOT)
        deadline = time.monotonic() + 30
        caps, evs = [], 0
        while time.monotonic() < deadline:  # let it commit some rows, then kill it mid-write
            time.sleep(0.3)
            caps, evs = _snapshot(cart.data / "cardiocart.sqlite3")
            if len(caps) >= total + 3:
                break
        time.sleep(0.05 * (round_ + 1))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        n = _check(cart, caps, evs)
        assert n > total
        total = n


def test_sigkill_of_the_real_core_service(tmp_path):
    cart = Cart(tmp_path, extra_toml="[echo]\nhold_s = 0.2\nquality_threshold = 0.3\nclip_s = 1.0\n", role="core")
    assert cart.cli("migrate").returncode == 0
    from device.store import Store, clinical
    from device.store.db import Tx
    st = Store.open(cart.data)
    with Tx(st.conn):
        clinical.create_exam(st.conn, clinical.upsert_patient(st.conn, "KILL2"), "echo", None)
    st.close()
    for _ in range(3):
        (cart.data / "run" / "live.json").unlink(missing_ok=True)   # judge this run's frames, not the last one's
        cart.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and cart.live_state().get("frame_index", 0) < 5:
            time.sleep(0.2)
        time.sleep(1.0)
        caps, evs = _snapshot(cart.data / "cardiocart.sqlite3")
        os.killpg(cart.proc.pid, signal.SIGKILL)
        cart.proc.wait()
        cart.log.close()
        _check(cart, caps, evs)
        assert cart.live_state().get("frame_index", 0) >= 5  # it was running when killed
    # and it starts again after the kills (the instance lock died with the process)
    cart.start()
    time.sleep(2)
    assert cart.proc.poll() is None
    cart.stop()
