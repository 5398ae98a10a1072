"""Measurements, rhythm, rule screen, WFDB and DICOM round trips on synthetic ECGs."""

import numpy as np
import pytest

from device.ecg import export, wfdb
from device.ecg.report import analyse
from device.ecg.types import LEADS
from device.sim.ecg_paper import synthetic_ecg


def test_normal_sinus_measurements():
    sig = synthetic_ecg(np.random.default_rng(3), hr_bpm=72)
    a = analyse(sig, 500.0)
    m = a.measurements
    assert m.hr_bpm == pytest.approx(72, abs=3)
    assert 60 <= m.qrs_ms <= 110
    assert m.pr_ms is not None and 100 <= m.pr_ms <= 220
    assert m.qtc_bazett_ms is not None and m.qtc_fridericia_ms is not None
    assert -30 <= m.axis_deg <= 90
    assert a.rhythm.label == "sinus rhythm"
    assert a.signal_screen.label == "normal"


def test_atrial_fibrillation_is_flagged():
    sig = synthetic_ecg(np.random.default_rng(5), hr_bpm=90, kind="afib")
    a = analyse(sig, 500.0)
    assert a.rhythm.label == "atrial fibrillation"
    assert a.screen.label == "abnormal"


@pytest.mark.parametrize("kind,finding", [("wide_qrs", "wide QRS"), ("brady", "bradycardia"),
                                          ("st_elevation", "ST elevation"), ("lvh", "LVH")])
def test_abnormal_findings(kind, finding):
    a = analyse(synthetic_ecg(np.random.default_rng(7), kind=kind), 500.0)
    assert a.signal_screen.label == "abnormal"
    assert any(finding in f for f in a.signal_screen.findings)


def test_wfdb_round_trip_keeps_missing(tmp_path):
    sig = synthetic_ecg(np.random.default_rng(1))
    sig[:1250, 3] = np.nan
    hea = wfdb.write_record(tmp_path, "rec", sig, 500, LEADS)
    rec = wfdb.read_record(hea)
    assert rec.signals_mv.shape == sig.shape and rec.lead_names == LEADS
    assert np.isnan(rec.signals_mv[:1250, 3]).all()
    ok = np.isfinite(sig)
    assert np.max(np.abs(rec.signals_mv[ok] - sig[ok])) <= 0.0006


def test_dicom_waveform_round_trip(tmp_path):
    import pydicom

    sig = synthetic_ecg(np.random.default_rng(2))
    sig[:, 4] = np.nan
    p = export.write_dicom(tmp_path / "e.dcm", sig, 500.0)
    ds = pydicom.dcmread(p)
    assert ds.SOPClassUID == export.TWELVE_LEAD_ECG_SOP and ds.Modality == "ECG"
    g = ds.WaveformSequence[0]
    assert int(g.NumberOfWaveformChannels) == 12 and int(g.NumberOfWaveformSamples) == 5000
    assert float(g.SamplingFrequency) == 500.0
    x, fs, labels = export.read_dicom_waveform(p)
    assert labels == LEADS
    assert np.max(np.abs(x[:, 0] - sig[:, 0])) <= 0.0006
    assert any("aVL" in a.UnformattedTextValue for a in ds.WaveformAnnotationSequence)


def test_csv_layout(tmp_path):
    sig = synthetic_ecg(np.random.default_rng(2))
    sig[:, 7] = np.nan
    p = export.write_csv(tmp_path / "e.csv", sig)
    lines = p.read_text().splitlines()
    assert lines[0] == "t_s,I,II,III,aVR,aVL,aVF,V1,V2,V3,V4,V5,V6"
    assert len(lines) == 5001
    cells = lines[1].split(",")
    assert cells[0] == "0.000" and cells[8] == "" and float(cells[1]) == pytest.approx(sig[0, 0], abs=1e-4)


@pytest.mark.skipif(__import__("shutil").which("dciodvfy") is None, reason="dicom3tools not installed")
def test_dicom_waveform_passes_dciodvfy(tmp_path):
    import subprocess

    sig = synthetic_ecg(np.random.default_rng(4))
    sig[1250:, 0] = np.nan
    p = export.write_dicom(tmp_path / "e.dcm", sig, 500.0)
    out = subprocess.run(["dciodvfy", str(p)], capture_output=True, text=True, check=False)
    errors = [ln for ln in (out.stdout + out.stderr).splitlines() if ln.startswith("Error")]
    assert errors == []
