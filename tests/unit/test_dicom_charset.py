"""Every DICOM object the cart writes declares ISO_IR 192 (UTF-8), so Chinese text survives even when the patient
name is ASCII (before: ISO_IR 100 and a Chinese comment in the SR became "??"). Read back from the bytes."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pydicom

from device.ecg import export
from device.reports.dicom.exam import build_report_objects
from device.reports.model import edit
from device.reports.pdf import render_pdf
from device.reports.sample import sample_report

COMMENT = "左心室收缩功能正常。"


def _texts(ds) -> list[str]:
    out = []
    for item in getattr(ds, "ContentSequence", []):
        if "TextValue" in item:
            out.append(str(item.TextValue))
        out += _texts(item)
    return out


def test_report_objects_keep_a_chinese_comment_with_an_ascii_name():
    d = sample_report("echo", "en")
    d = edit(d, free_text=COMMENT, patient=dataclasses.replace(d.patient, name="Doe, Jane"))
    objs = build_report_objects(d, render_pdf(d))
    assert {o.kind for o in objs} >= {"pdf", "sc", "echo_sr"}
    for o in objs:
        ds = pydicom.dcmread(io.BytesIO(o.to_bytes()))
        assert ds.SpecificCharacterSet == "ISO_IR 192", o.kind
        assert str(ds.PatientName) == "Doe^Jane"
        if o.kind == "echo_sr":
            assert COMMENT in _texts(ds)


def test_ecg_waveform_keeps_a_chinese_name(tmp_path):
    sig = np.zeros((12, 500), np.float32)
    p = export.write_dicom(tmp_path / "e.dcm", sig, 500.0, patient_name="王^小明", patient_id="PID1")
    ds = pydicom.dcmread(p)
    assert ds.SpecificCharacterSet == "ISO_IR 192" and str(ds.PatientName) == "王^小明"
