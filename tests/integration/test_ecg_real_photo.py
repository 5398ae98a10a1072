"""A real smartphone photo of a printed ECG (committed fixture) and, when present, the shared Paper2Pulse set."""

from pathlib import Path

import numpy as np

from device.ecg.api import read_file
from device.ecg.eval_metrics import lead_snr_db
from device.ecg.measure import measure
from device.ecg.wfdb import read_record

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "ecg"


def test_fixture_photo_reads_with_positive_snr():
    res = read_file(FIX / "02794_hr-0_1600.jpg")
    truth = read_record(FIX / "02794_hr.hea").signals_mv
    r = res.reading
    assert r.layout.name == "3x4+1" and r.calibration.gain_mm_mv == 10.0
    snr = lead_snr_db(r.signals_mv, truth)
    assert np.nanmean(snr) > 2.0, snr
    assert (snr > 0).sum() >= 9, snr
    hr_true = measure(truth, 500.0).hr_bpm
    assert abs(res.analysis.measurements.hr_bpm - hr_true) < 5


def test_shared_paper2pulse_photo(shared_data):
    d = shared_data / "ecg-photos-paper2pulse"
    res = read_file(d / "images" / "01630_hr-0.jpg")  # rotated, perspective, on a wooden table
    truth = read_record(d / "signals" / "01630_hr.hea").signals_mv
    assert res.reading.rectified.paper_found
    assert np.nanmean(lead_snr_db(res.reading.signals_mv, truth)) > 3.0
