"""Live serial ECG: run the serial driver in a thread, keep the last ~10 s, measure it, and publish it to the UI.

The core starts :class:`SerialEcgLive` when ``[ecg_serial] port`` is set. A few times a second it writes
``run/ecg_live.npz`` atomically (temp file + rename; no fsync: the file is a live view, not a record):

- ``signals_mv`` float32 (n, n_leads) mV, the most recent ``window_s`` seconds (n <= window_s * fs_hz)
- ``fs_hz`` float64, ``leads`` str (n_leads,)
- ``state`` str: JSON with ``status`` ("ok", "waiting", "no_signal"), ``wall_time`` (unix s of the write),
  ``port``, ``protocol``, ``hr_bpm`` (beats/min from ``device.ecg.measure.detect_beats`` on the rhythm lead, None
  until 3 beats), ``r_peaks_s`` (beat times, s from the window start), ``measurements`` (``Measurements.as_dict``
  of the window, refreshed every ``measure_every_s``; None before 4 s of signal), ``stats`` (frames, bad CRC,
  skipped bytes, lost frames, bad lines, reconnects), ``model`` (what measured it).

The web UI reads it with :func:`read_live` (``/api/ecg/live``).
"""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from pathlib import Path
from typing import Any, Self

import numpy as np

from device import __version__
from device.drivers.serial_ecg import SerialEcgSource
from device.fsutil import atomic_write_bytes

log = logging.getLogger(__name__)
LIVE_FILE = "ecg_live.npz"
MEASURE_NAME = "ecg_measure"
NO_SIGNAL_S = 2.0


def _rhythm_lead(leads: tuple[str, ...]) -> int:
    for name in ("II", "I", "V5"):
        if name in leads:
            return leads.index(name)
    return 0


def heart_rate(x_mv: np.ndarray, fs_hz: float) -> tuple[float | None, np.ndarray]:
    """(HR beats/min or None, R-peak times s) of a 1-D mV signal with the pipeline's beat detector. HR is the
    median RR of the last beats; None with fewer than 3 beats."""
    from device.ecg.measure import detect_beats

    x = np.asarray(x_mv, np.float64)
    x = x[np.isfinite(x)]
    if x.size < 2 * fs_hz:
        return None, np.zeros(0)
    pk = detect_beats(x, fs_hz)
    t = pk / fs_hz
    if t.size < 3:
        return None, t
    rr = np.diff(t)
    return float(60.0 / np.median(rr[-8:])), t


def write_live(path: Path, signals_mv: np.ndarray, fs_hz: float, leads: tuple[str, ...], state: dict[str, Any]) -> None:
    """Atomically replace ``path`` with the live npz (readers see the old or the new file, never half of one)."""
    buf = io.BytesIO()
    np.savez(buf, signals_mv=np.asarray(signals_mv, np.float32), fs_hz=np.float64(fs_hz),
             leads=np.array(leads if leads else ("",)), state=np.array(json.dumps(state, default=float)))
    atomic_write_bytes(path, buf.getvalue(), mode=0o644, durable=False)


def read_live(run_dir: Path) -> tuple[np.ndarray, float, tuple[str, ...], dict[str, Any]] | None:
    """(signals_mv (n, L) float32, fs_hz, leads, state) from ``run_dir/ecg_live.npz``; None when absent or
    unreadable (the service is not running)."""
    try:
        with np.load(Path(run_dir) / LIVE_FILE, allow_pickle=False) as z:
            x = np.asarray(z["signals_mv"], np.float32)
            fs = float(z["fs_hz"])
            leads = tuple(str(s) for s in z["leads"])
            state = json.loads(str(z["state"]))
    except (OSError, ValueError, KeyError):
        return None
    return x, fs, (leads if x.shape[1:] and leads != ("",) else ()), state


class SerialEcgLive:
    """Reads a serial ECG board in a background thread and publishes the last ``window_s`` seconds.

    ``port``/``baud``/``protocol`` as in ``[ecg_serial]``; ``fs_hz`` the board's sampling rate; ``source`` a
    ready ``SerialEcgSource`` (tests) instead of one built from the port. ``start()``/``stop()``; also usable as a
    context manager. ``snapshot()`` returns the same data as the file, from memory."""

    def __init__(self, port: str, run_dir: Path, *, baud: int = 115200, protocol: str = "framed",
                 fs_hz: float = 500.0, ascii_units_per_mv: float = 1.0, window_s: float = 10.0,
                 write_every_s: float = 0.25, measure_every_s: float = 1.0, source: SerialEcgSource | None = None):
        self.port, self.protocol, self.fs_hz = port, protocol, float(fs_hz)
        self.path = Path(run_dir) / LIVE_FILE
        self.window = int(window_s * self.fs_hz)
        self.write_every_s, self.measure_every_s = write_every_s, measure_every_s
        self.source = source or SerialEcgSource(port, baud=baud, protocol=protocol, fs_hz=fs_hz,
                                                ascii_units_per_mv=ascii_units_per_mv)
        self._buf = np.zeros((0, 0), np.float32)
        self._leads: tuple[str, ...] = ()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_sample_t = 0.0
        self._measurements: dict | None = None
        self._last_measure_t = 0.0
        self.error = ""

    # -------------------------------------------------------------- life cycle
    def start(self) -> Self:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="serial-ecg-live", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -------------------------------------------------------------- the loop
    def _run(self) -> None:
        writer = threading.Thread(target=self._write_loop, name="serial-ecg-live-writer", daemon=True)
        writer.start()
        while not self._stop.is_set():
            try:
                for block in self.source.stream(block_s=0.05, stop=self._stop.is_set):
                    self._append(block, self.source.lead_names)
            except Exception as exc:
                self.error = f"{exc.__class__.__name__}: {exc}"
                log.exception("serial ECG live loop failed; restarting in 1 s")
                self._stop.wait(1.0)
        writer.join(2.0)
        self._publish()

    def _append(self, block: np.ndarray, leads: tuple[str, ...]) -> None:
        block = np.asarray(block, np.float32)
        with self._lock:
            if self._buf.shape[1:] != block.shape[1:] or leads != self._leads:
                self._buf = np.zeros((0, block.shape[1]), np.float32)  # the board changed layout: start afresh
                self._leads = tuple(leads)
                self._measurements = None
            self._buf = np.concatenate([self._buf, block])[-self.window:]
            self._last_sample_t = time.time()

    def _write_loop(self) -> None:
        while not self._stop.wait(self.write_every_s):
            try:
                self._publish()
            except OSError as exc:
                self.error = f"cannot write {self.path}: {exc}"
                log.warning(self.error)

    def snapshot(self) -> tuple[np.ndarray, tuple[str, ...], dict[str, Any]]:
        """(signals_mv (n, L) float32 copy, leads, state dict) as published."""
        with self._lock:
            x, leads, last_t = self._buf.copy(), self._leads, self._last_sample_t
        now = time.time()
        if x.shape[0] == 0:
            status = "waiting"
        elif now - last_t > NO_SIGNAL_S:
            status = "no_signal"
        else:
            status = "ok"
        hr, peaks = (None, np.zeros(0))
        if x.shape[0] and x.shape[1]:
            hr, peaks = heart_rate(x[:, _rhythm_lead(leads)], self.fs_hz)
        if x.shape[0] >= 4 * self.fs_hz and now - self._last_measure_t >= self.measure_every_s:
            self._measurements = self._measure(x, leads)
            self._last_measure_t = now
        st = getattr(self.source.parser, "stats", None)
        stats = dict(st.__dict__) if st is not None else {}
        stats["reconnects"] = getattr(self.source, "reconnects", 0)
        state = {"status": status, "wall_time": now, "last_sample_unix": last_t or None, "port": self.port,
                 "protocol": self.protocol, "fs_hz": self.fs_hz, "seconds": x.shape[0] / self.fs_hz,
                 "hr_bpm": hr, "r_peaks_s": [round(float(t), 3) for t in peaks], "measurements": self._measurements,
                 "stats": stats, "model": f"{MEASURE_NAME} {__version__}", "error": self.error}
        return x, leads, state

    def _measure(self, x: np.ndarray, leads: tuple[str, ...]) -> dict | None:
        from device.ecg.measure import measure

        try:
            return measure(x.astype(np.float64), self.fs_hz, leads).as_dict() if leads else None
        except (ValueError, IndexError) as exc:
            log.debug("live measurement failed: %s", exc)
            return None

    def _publish(self) -> None:
        x, leads, state = self.snapshot()
        write_live(self.path, x, self.fs_hz, leads, state)
