"""Serial ECG driver: framing, checksum, resync after garbage, ASCII lines, loop:// and reconnect."""

import numpy as np
import serial

from device.drivers.serial_ecg import (
    AsciiParser,
    FrameParser,
    SerialEcgSource,
    crc16_ccitt,
    encode_frame,
)


def test_crc_reference_value():
    assert crc16_ccitt(b"123456789") == 0x29B1  # CRC-16/CCITT-FALSE check value


def test_frames_survive_garbage_and_bad_crc():
    rng = np.random.default_rng(0)
    vals = rng.integers(-3000, 3000, (50, 12))
    frames = [encode_frame(i, vals[i]) for i in range(50)]
    bad = bytearray(frames[10])
    bad[6] ^= 0xFF  # corrupt a payload byte
    stream = b"\x00\xa5junk\xa5\x5a\x40" + b"".join(frames[:10]) + bytes(bad) + b"".join(frames[11:])
    p = FrameParser()
    got = []
    for k in range(0, len(stream), 7):  # arrives in small pieces
        got += p.feed(stream[k : k + 7])
    assert [s for s, _ in got] == [i for i in range(50) if i != 10]
    assert np.array_equal(np.stack([v for _, v in got]), np.delete(vals, 10, axis=0))
    assert p.stats.bad_crc >= 1 and p.stats.lost_frames == 1 and p.stats.skipped_bytes > 0


def test_ascii_one_sample_per_line():
    p = AsciiParser(units_per_mv=100.0)
    out = p.feed(b"512\r\n51")
    out += p.feed(b"3\nnot a number\n\n514\n")
    assert [float(v[0]) for v in out] == [5.12, 5.13, 5.14]
    assert p.stats.bad_lines == 1


def test_loop_port_record_expands_8_channels():
    port = serial.serial_for_url("loop://", timeout=0.01)
    vals = np.tile(np.array([[100, 300, 0, 50, 100, 150, 200, 250]]), (40, 1))
    port.write(b"".join(encode_frame(i, vals[i]) for i in range(40)))
    src = SerialEcgSource("loop://", fs_hz=500, opener=lambda: port)
    x = src.record(40 / 500, max_wall_s=2.0)
    assert x.shape == (40, 12) and src.lead_names[2] == "III"
    assert np.allclose(x[:, 2], 0.2)  # III = II - I
    assert np.allclose(x[:, 3], -0.2)  # aVR = -(I + II) / 2


def test_unplug_then_reconnect():
    good = serial.serial_for_url("loop://", timeout=0.01)
    good.write(b"".join(encode_frame(i, [i, 2 * i]) for i in range(20)))
    calls = {"n": 0}

    class Dead:
        def read(self, n):
            raise serial.SerialException("device disconnected")

        in_waiting = 0

        def close(self):
            pass

    def opener():
        calls["n"] += 1
        if calls["n"] == 1:
            return Dead()
        if calls["n"] == 2:
            raise serial.SerialException("no such port")
        return good

    src = SerialEcgSource("/dev/ttyFAKE", fs_hz=100, opener=opener, reconnect_s=0.01)
    x = src.record(0.2, max_wall_s=3.0)
    assert x.shape == (20, 2) and src.reconnects == 2
    assert np.allclose(x[:, 1], 2 * np.arange(20) / 1000.0)


def test_stream_yields_blocks_until_stopped():
    port = serial.serial_for_url("loop://", timeout=0.01)
    port.write(b"".join(encode_frame(i, [i, -i, 0, 0, 0, 0, 0, 0]) for i in range(100)))
    src = SerialEcgSource("loop://", opener=lambda: port)
    got = []
    for block in src.stream(block_s=0.05, stop=lambda: sum(len(b) for b in got) >= 100):
        got.append(block)
    x = np.concatenate(got)
    assert x.shape == (100, 12) and src.lead_names[0] == "I"
    assert np.allclose(x[:, 0], np.arange(100) / 1000.0)
