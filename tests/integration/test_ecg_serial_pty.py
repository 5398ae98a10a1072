"""A simulated 8-channel acquisition board on a pseudo-terminal, read by `python -m device ecg serial`."""

import json
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from device.drivers.serial_ecg import encode_frame
from device.sim.ecg_paper import synthetic_ecg

pytestmark = pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a POSIX pseudo-terminal")


def _board(fd: int, sig_uv: np.ndarray, stop: threading.Event) -> None:
    """Send I, II, V1..V6 frames at ~500 Hz in 20-ms bursts, with a burst of garbage once."""
    chans = [0, 1, 6, 7, 8, 9, 10, 11]
    i, seq = 0, 0
    while not stop.is_set() and i < sig_uv.shape[0]:
        chunk = b"".join(encode_frame(seq + k, sig_uv[i + k, chans]) for k in range(min(10, sig_uv.shape[0] - i)))
        if i == 500:
            chunk = b"\x00\xff\xa5garbage\xa5\x5a\x09" + chunk
        try:
            os.write(fd, chunk)
        except OSError:
            return
        i += 10
        seq += 10
        time.sleep(0.02)


def test_cli_reads_a_board_on_a_pty():
    import tty

    master, slave = os.openpty()
    tty.setraw(slave)
    name = os.ttyname(slave)
    sig = synthetic_ecg(np.random.default_rng(8), hr_bpm=80)
    sig_uv = np.round(np.nan_to_num(sig) * 1000).astype(int)
    stop = threading.Event()
    t = threading.Thread(target=_board, args=(master, sig_uv, stop), daemon=True)
    t.start()
    try:
        r = subprocess.run([sys.executable, "-m", "device", "ecg", "serial", "--port", name, "--seconds", "6",
                            "--fs", "500"], capture_output=True, text=True, timeout=60)
    finally:
        stop.set()
        t.join(timeout=5)
        os.close(master)
        os.close(slave)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["samples"] >= 2500
    assert abs(out["measurements"]["hr_bpm"] - 80) < 5
    assert out["disclaimer"]["en"].startswith("Not for diagnostic use")
