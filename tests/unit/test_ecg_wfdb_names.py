"""Issue 13: WFDB headers written with spaces or newlines in the record name (a patient name typed as the export
name) could not be read back; the name is now sanitised on write and the record round-trips."""

from __future__ import annotations

import numpy as np
import pytest

from device.ecg import wfdb
from device.ecg.types import LEADS


@pytest.mark.parametrize("name", ["Zhang San 01", "ward 3\nbed 2", "a/b\\c", " \t\n", "rec\r\n#x 1 2"])
def test_record_with_an_awkward_name_round_trips(tmp_path, name):
    t = np.arange(1000) / 500.0
    sig = np.column_stack([np.sin(2 * np.pi * (k + 1) * t) for k in range(12)])
    sig[10:20, 3] = np.nan
    hea = wfdb.write_record(tmp_path, name, sig, 500.0, LEADS, comments=["line one\nline two", "age: 54"])
    assert hea.parent == tmp_path and hea.stem == wfdb.record_name(name)
    assert all(c not in hea.stem for c in " \t\r\n/\\")
    rec = wfdb.read_record(hea)
    assert rec.name == hea.stem
    assert rec.lead_names == LEADS
    assert rec.signals_mv.shape == sig.shape
    assert np.allclose(rec.signals_mv, sig, atol=1e-3, equal_nan=True)
    assert rec.comments == ("line one line two", "age: 54")


def test_lead_names_with_line_breaks_keep_their_place(tmp_path):
    sig = np.zeros((100, 2))
    rec = wfdb.read_record(wfdb.write_record(tmp_path, "r", sig, 250.0, ["lead\nI", "aVR"]))
    assert rec.lead_names == ("lead I", "aVR") and rec.fs_hz == 250.0
