"""The shared domain records and the clip codec: the store hands out the domain's records (one shape per thing,
edited_by included), and a clip survives the codec bit for bit while anything else is refused with a reason."""

from __future__ import annotations

import numpy as np
import pytest

from device.domain import Alert, Capture, Exam, Finding, Measurement
from device.domain.codecs import ClipCodecError, decode_clip, encode_clip
from device.store import Store, clinical
from device.store.db import Tx


def test_clip_codec_round_trip_and_refusals():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (5, 24, 32, 3), dtype=np.uint8)
    clip = decode_clip(encode_clip(frames, 29.97))
    assert np.array_equal(clip.frames, frames) and clip.frames.dtype == np.uint8
    assert clip.fps == pytest.approx(29.97, abs=1e-4)
    with pytest.raises(ClipCodecError, match="not a clip"):
        decode_clip(b"PK\x03\x04 garbage")
    with pytest.raises(ClipCodecError, match="shape"):
        decode_clip(encode_clip(np.zeros((0, 4, 4), np.uint8), 10))
    with pytest.raises(ClipCodecError, match="shape"):
        decode_clip(encode_clip(np.zeros((2, 4, 4, 2), np.uint8), 10))


def test_store_returns_domain_records(tmp_path):
    store = Store.open(tmp_path)
    with Tx(store.conn):
        p = clinical.upsert_patient(store.conn, "DOM00001", "Domain Test", "F")
        exam = clinical.create_exam(store.conn, p, "echo", None, ["A4C"])
        cap = clinical.add_capture(store.conn, store.blobs, exam.id, "clip", encode_clip(np.zeros((2, 4, 4), np.uint8),
                                   20.0), "application/x-cardiocart-clip+npz", label="A4C", quality=0.8)
        m1 = clinical.add_measurement(store.conn, exam.id, cap.id, "a4c_ef_pct", 58.0, "%", "lv_seg", "1.2.0", (1, 9))
        clinical.add_measurement(store.conn, exam.id, cap.id, "a4c_ef_pct", 55.0, "%", "lv_seg", "1.2.0", (1, 9),
                                 source="edited", edited_by=None, supersedes=m1)
        clinical.add_finding(store.conn, exam.id, cap.id, "echo_view", "A4C", 0.93, "echo_view", "2.0.0", {"q": 0.8})
        clinical.add_alert(store.conn, exam.id, "critical", "lv_a4c_ef_pct", "EF low", {"value": 25.0})
    assert isinstance(clinical.get_exam(store.conn, exam.id), Exam)
    assert isinstance(clinical.get_capture(store.conn, cap.id), Capture)
    (m,) = clinical.current_measurements(store.conn, exam.id)
    assert isinstance(m, Measurement) and (m.value, m.source, m.supersedes) == (55.0, "edited", m1)
    assert m.model == "lv_seg 1.2.0" and m.reviewed and m.edited_by is None
    (f,) = clinical.findings(store.conn, exam.id)
    assert isinstance(f, Finding) and f.detail == {"q": 0.8} and f.score == pytest.approx(0.93)
    assert clinical.list_findings(store.conn, exam.id)[0]["detail"] == {"q": 0.8}
    (a,) = clinical.alerts(store.conn)
    assert isinstance(a, Alert) and a.open and a.detail == {"value": 25.0} and a.level == "critical"
    store.close()


def test_domain_records_are_frozen():
    m = Measurement(1, 1, None, "hr_bpm", 72.0, "/min", "", "", (), "manual", None, "2026-01-01T00:00:00Z", 3)
    with pytest.raises(AttributeError):
        m.value = 80.0  # type: ignore[misc]
    assert m.model == "" and m.reviewed


def test_signal_codec_round_trip_and_refusals():
    from device.domain.codecs import SignalCodecError, decode_signal, encode_signal
    x = np.linspace(-1, 1, 24, dtype=np.float32).reshape(8, 3)
    x[2, 1] = np.nan                                    # a lead not printed there
    sig = decode_signal(encode_signal(x, 500.0, ("I", "II", "III")))
    assert np.array_equal(sig.signals_mv, x.astype(np.float64), equal_nan=True)
    assert sig.fs_hz == 500.0 and sig.leads == ("I", "II", "III")
    with pytest.raises(SignalCodecError, match="lead names"):
        decode_signal(encode_signal(x, 500.0, ("I", "II")))
    with pytest.raises(SignalCodecError, match="n_samples, n_leads"):
        decode_signal(encode_signal(np.zeros(5, np.float32), 500.0, ()))
    with pytest.raises(SignalCodecError, match="positive"):
        decode_signal(encode_signal(x, 0.0, ("I", "II", "III")))
    with pytest.raises(SignalCodecError, match="not a signal"):
        decode_signal(b"\x00" * 10)
