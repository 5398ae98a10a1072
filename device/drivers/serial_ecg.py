"""Serial ECG front-end driver (pyserial): a checksummed multi-lead framing and plain ASCII, robust to garbage
bytes and to the board being unplugged.

Framed protocol ("CCECG1"), one frame per sample instant, little-endian::

    offset size  field
    0      2     sync   0xA5 0x5A
    2      1     seq    frame counter, wraps 255 -> 0 (gaps = lost frames)
    3      1     n_ch   number of channels, 1..16
    4      2*n   data   int16 per channel, microvolts
    4+2n   2     crc    CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF) over bytes 2 .. 3+2n

Channel order for n_ch = 12 is I, II, III, aVR, aVL, aVF, V1..V6; for n_ch = 8 it is I, II, V1..V6 (III and
the augmented leads are derived); other counts are named CH1..CHn. The sampling rate is agreed out of band (default
500 Hz).

ASCII protocol: one sample instant per line, values separated by commas, spaces or tabs, ``\\n`` or ``\\r\\n``
terminated (e.g. an AD8232 board printing ``512``). Values are divided by ``ascii_units_per_mv``. Lines that do not
parse are counted and skipped.
"""

from __future__ import annotations

import logging
import re
import struct
import time
from dataclasses import dataclass, field

import numpy as np

from device.ecg.types import LEADS

log = logging.getLogger(__name__)
SYNC = b"\xa5\x5a"
MAX_CH = 16


def crc16_ccitt(data: bytes, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE of ``data``."""
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def encode_frame(seq: int, values_uv: np.ndarray | list[int]) -> bytes:
    """One framed sample (what a board sends): ``values_uv`` int16 microvolts per channel."""
    v = np.asarray(values_uv, np.int64)
    body = struct.pack("<BB", seq & 0xFF, v.size) + np.clip(v, -32768, 32767).astype("<i2").tobytes()
    return SYNC + body + struct.pack("<H", crc16_ccitt(body))


@dataclass
class ParserStats:
    frames: int = 0
    bad_crc: int = 0
    skipped_bytes: int = 0
    lost_frames: int = 0
    bad_lines: int = 0


@dataclass
class FrameParser:
    """Incremental parser of the framed protocol: ``feed(bytes)`` returns a list of (seq, int16 array uV)."""

    buf: bytearray = field(default_factory=bytearray)
    stats: ParserStats = field(default_factory=ParserStats)
    last_seq: int | None = None

    def feed(self, data: bytes) -> list[tuple[int, np.ndarray]]:
        self.buf += data
        out = []
        while True:
            i = self.buf.find(SYNC)
            if i < 0:
                keep = 1 if self.buf[-1:] == SYNC[:1] else 0
                self.stats.skipped_bytes += len(self.buf) - keep
                del self.buf[: len(self.buf) - keep]
                return out
            if i:
                self.stats.skipped_bytes += i
                del self.buf[:i]
            if len(self.buf) < 4:
                return out
            n = self.buf[3]
            if not 1 <= n <= MAX_CH:
                self.stats.skipped_bytes += 1
                del self.buf[:1]
                continue
            size = 4 + 2 * n + 2
            if len(self.buf) < size:
                return out
            body = bytes(self.buf[2 : 4 + 2 * n])
            (crc,) = struct.unpack("<H", self.buf[4 + 2 * n : size])
            if crc != crc16_ccitt(body):
                self.stats.bad_crc += 1
                del self.buf[:1]  # resync inside the bad frame
                continue
            seq = body[0]
            if self.last_seq is not None:
                self.stats.lost_frames += (seq - self.last_seq - 1) % 256
            self.last_seq = seq
            out.append((seq, np.frombuffer(body[2:], "<i2").copy()))
            self.stats.frames += 1
            del self.buf[:size]


_SPLIT = re.compile(r"[,\s;]+")


@dataclass
class AsciiParser:
    """Incremental parser of one-sample-per-line ASCII: ``feed(bytes)`` returns a list of float arrays."""

    units_per_mv: float = 1.0
    buf: bytearray = field(default_factory=bytearray)
    stats: ParserStats = field(default_factory=ParserStats)
    n_ch: int | None = None

    def feed(self, data: bytes) -> list[np.ndarray]:
        self.buf += data
        out = []
        while True:
            i = self.buf.find(b"\n")
            if i < 0:
                if len(self.buf) > 4096:  # no newline in 4 kB: garbage
                    self.stats.skipped_bytes += len(self.buf)
                    self.buf.clear()
                return out
            line = bytes(self.buf[:i]).decode("ascii", "replace").strip()
            del self.buf[: i + 1]
            if not line:
                continue
            try:
                vals = np.array([float(t) for t in _SPLIT.split(line) if t], np.float64)
            except ValueError:
                self.stats.bad_lines += 1
                continue
            if vals.size == 0 or not np.isfinite(vals).all() or (self.n_ch and vals.size != self.n_ch):
                self.stats.bad_lines += 1
                continue
            self.n_ch = self.n_ch or vals.size
            out.append(vals / self.units_per_mv)
            self.stats.frames += 1


def channel_names(n: int) -> tuple[str, ...]:
    if n == 12:
        return LEADS
    if n == 8:
        return ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")
    return tuple(f"CH{i + 1}" for i in range(n))


def to_twelve_lead(x_mv: np.ndarray, names: tuple[str, ...]) -> tuple[np.ndarray, tuple[str, ...]]:
    """(n, 12) standard leads from an 8-channel (I, II, V1..V6) recording; other layouts are returned unchanged."""
    if names == ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6"):
        i, ii = x_mv[:, 0], x_mv[:, 1]
        limb = [i, ii, ii - i, -(i + ii) / 2, i - ii / 2, ii - i / 2]
        return np.column_stack(limb + [x_mv[:, k] for k in range(2, 8)]), LEADS
    return x_mv, names


class SerialEcgSource:
    """Read samples from a serial ECG board. ``port`` any pyserial URL (``/dev/ttyUSB0``, ``loop://``);
    ``opener`` (tests) replaces ``serial.serial_for_url``. Reconnects after unplugging with a back-off."""

    def __init__(self, port: str, *, baud: int = 115200, protocol: str = "framed", fs_hz: float = 500.0,
                 ascii_units_per_mv: float = 1.0, opener=None, reconnect_s: float = 0.5):
        if protocol not in ("framed", "ascii"):
            raise ValueError("protocol must be 'framed' or 'ascii'")
        self.port, self.baud, self.protocol, self.fs_hz = port, baud, protocol, float(fs_hz)
        self.parser = FrameParser() if protocol == "framed" else AsciiParser(ascii_units_per_mv)
        self._opener = opener
        self._ser = None
        self.reconnect_s = reconnect_s
        self.reconnects = 0
        self.lead_names: tuple[str, ...] = ()

    def _open(self):
        import serial

        opener = self._opener or (lambda: serial.serial_for_url(self.port, baudrate=self.baud, timeout=0.05))
        self._ser = opener()
        return self._ser

    def close(self) -> None:
        if self._ser is not None:
            try:
                self._ser.close()
            except Exception:  # noqa: BLE001 - closing a dead port may fail in many ways
                pass
            self._ser = None

    def read_chunk(self) -> list[np.ndarray]:
        """Whatever samples have arrived (mV float arrays, one per sample instant). Never raises on I/O errors:
        the port is closed and reopened on the next call."""
        import serial

        try:
            ser = self._ser or self._open()
            data = ser.read(max(1, getattr(ser, "in_waiting", 0) or 1))
        except (serial.SerialException, OSError) as exc:
            log.warning("serial ECG %s lost (%s); reconnecting", self.port, exc)
            self.close()
            self.reconnects += 1
            time.sleep(self.reconnect_s)
            return []
        if not data:
            return []
        if self.protocol == "framed":
            return [v.astype(np.float64) / 1000.0 for _, v in self.parser.feed(data)]
        return self.parser.feed(data)

    def stream(self, block_s: float = 0.2, stop=None):
        """Yield blocks of new samples for live display: float64 (n, n_leads) mV, about ``block_s`` each
        (``lead_names`` set on the first block). Survives unplugging (reconnects). ``stop``: a callable returning
        True to end (e.g. ``threading.Event().is_set``)."""
        rows: list[np.ndarray] = []
        t_last = time.monotonic()
        try:
            while not (stop and stop()):
                for v in self.read_chunk():
                    if rows and v.size != rows[0].size:
                        continue
                    rows.append(v)
                if rows and time.monotonic() - t_last >= block_s:
                    x, self.lead_names = to_twelve_lead(np.stack(rows), channel_names(rows[0].size))
                    rows, t_last = [], time.monotonic()
                    yield x
        finally:
            self.close()

    def record(self, seconds: float, *, max_wall_s: float | None = None) -> np.ndarray:
        """Collect ``seconds`` of signal (or what arrives within ``max_wall_s``, default seconds + 5).
        Returns float64 (n, n_leads) mV; ``lead_names`` is set (8-channel boards are expanded to 12 leads)."""
        want = int(seconds * self.fs_hz)
        deadline = time.monotonic() + (max_wall_s if max_wall_s is not None else seconds + 5.0)
        rows: list[np.ndarray] = []
        while len(rows) < want and time.monotonic() < deadline:
            for v in self.read_chunk():
                if rows and v.size != rows[0].size:
                    continue  # a board that changed its channel count mid-stream: keep the first layout
                rows.append(v)
        self.close()
        if not rows:
            self.lead_names = ()
            return np.zeros((0, 0))
        x = np.stack(rows[:want])
        x, self.lead_names = to_twelve_lead(x, channel_names(x.shape[1]))
        return x
