"""CSV/JSON export of measurements and signals."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from device.errors import InputError
from device.reports.sample import sample_report
from device.reports.tabular import SignalExport, measurements_csv, measurements_json, read_signal_csv, signal_csv, \
    signal_json


def test_measurements_csv_rows_and_header():
    d = sample_report("ecg")
    text = measurements_csv(d)
    body = [ln for ln in text.splitlines() if not ln.startswith("#")]
    rows = list(csv.DictReader(io.StringIO("\n".join(body))))
    assert len(rows) == len(d.measurements)
    qtc = next(r for r in rows if r["name"] == "qtc_ms")
    assert (float(qtc["value"]), qtc["unit"], qtc["ref_high"], qtc["flag"], qtc["code"]) == (472.0, "ms", "460.0",
                                                                                           "H", "8636-3")
    assert "# disclaimer: Not for diagnostic use" in text


def test_measurements_json():
    d = sample_report("echo", "zh-CN")
    j = json.loads(measurements_json(d))
    assert j["study_uid"] == d.exam.study_uid and len(j["measurements"]) == len(d.measurements)
    assert j["measurements"][0]["code"]["code"] == "18043-0" and j["disclaimer"] == d.disclaimer


def test_signal_csv_roundtrip_and_header():
    rng = np.random.default_rng(0)
    s = SignalExport(("I", "II", "V1"), rng.normal(0, 1, (3, 250)).round(4), 500.0, "mV", "2026-11-21T09:30:00")
    text = signal_csv(s)
    assert "# sampling_rate_hz: 500\n# units: mV\n" in text and "t_s,I_mV,II_mV,V1_mV" in text
    back = read_signal_csv(text)
    assert back.leads == s.leads and back.sampling_rate_hz == 500.0 and back.units == "mV"
    assert np.allclose(back.samples, s.samples, atol=1e-5)
    j = json.loads(signal_json(s))
    assert j["sampling_rate_hz"] == 500.0 and j["units"] == "mV" and len(j["leads"]["V1"]) == 250


def test_signal_bad_input():
    with pytest.raises(InputError):
        SignalExport(("I",), np.zeros((2, 10)), 500.0)
    with pytest.raises(InputError):
        SignalExport(("I",), np.zeros((1, 10)), 0.0)
    with pytest.raises(InputError):
        read_signal_csv("t_s,I\n0,1\n")
