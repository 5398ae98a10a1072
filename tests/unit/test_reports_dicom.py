"""DICOM builders: read back with pydicom, validate with dciodvfy (no Error lines) and parse with dcmdump.

Warnings allowed from dciodvfy: "Unrecognized defined term <99CCART> for ... Coding Scheme Designator" — our
local code system for measurements that have no LOINC code; it is declared in CodingSchemeIdentificationSequence
as PS3.3 C.12.1.1.9 asks, but dciodvfy only knows the standard designators.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
import subprocess

import numpy as np
import pydicom
import pytest

from device.errors import InputError
from device.reports.dicom.exam import build_report_objects, write_objects
from device.reports.dicom.ids import apply_identity, identity_from_report, sop_uid, stable_uid
from device.reports.dicom.secondary_capture import build_secondary_capture
from device.reports.model import edit, sign
from device.reports.pdf import render_pdf
from device.reports.sample import sample_report

NOW = dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.UTC)
ALLOWED_WARNING = "Unrecognized defined term <99CCART>"


def dciodvfy(path) -> list[str]:
    if shutil.which("dciodvfy") is None:
        pytest.skip("dciodvfy (Debian dicom3tools) not installed")
    r = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True)
    return [ln for ln in (r.stdout + r.stderr).splitlines() if ln.strip()]


def dcmdump(path) -> str:
    if shutil.which("dcmdump") is None:
        pytest.skip("dcmdump (Debian dcmtk) not installed")
    r = subprocess.run(["dcmdump", "-q", str(path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.fixture(scope="module")
def echo_files(tmp_path_factory):
    d = sign(sample_report("echo", "en"), "Dr. Jane Roe", NOW)
    objs = build_report_objects(d, render_pdf(d))
    return d, objs, write_objects(objs, tmp_path_factory.mktemp("dcm"))


def test_objects_of_exam_and_validation(echo_files):
    d, objs, paths = echo_files
    assert [o.kind for o in objs] == ["pdf", "sc", "sc", "echo_sr"]
    for p in paths:
        lines = dciodvfy(p)
        errors = [ln for ln in lines if ln.startswith("Error")]
        assert errors == [], f"{p.name}: {errors}"
        warnings = [ln for ln in lines if ln.startswith("Warning")]
        assert all(ALLOWED_WARNING in w for w in warnings), warnings
        assert "PatientID" in dcmdump(p)


def test_identifiers_consistent_across_objects(echo_files):
    d, objs, paths = echo_files
    dss = [pydicom.dcmread(p) for p in paths]
    for key in ("PatientID", "PatientName", "PatientBirthDate", "PatientSex", "StudyInstanceUID",
                "AccessionNumber", "StudyDate", "StudyTime", "StudyID"):
        assert len({str(getattr(ds, key)) for ds in dss}) == 1, key
    assert dss[0].StudyInstanceUID == d.exam.study_uid
    assert len({ds.SOPInstanceUID for ds in dss}) == len(dss)
    assert all(ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID for ds in dss)


def test_encapsulated_pdf_roundtrip(echo_files):
    d, objs, paths = echo_files
    ds = pydicom.dcmread(paths[0])
    pdf = bytes(ds.EncapsulatedDocument)[: int(ds.EncapsulatedDocumentLength)]
    assert pdf == render_pdf(d)
    assert ds.MIMETypeOfEncapsulatedDocument == "application/pdf" and ds.Modality == "DOC"


def test_secondary_capture_pixels_grey_and_rgb(echo_files):
    d, objs, paths = echo_files
    grey, rgb = (pydicom.dcmread(p) for p in paths[1:3])
    assert grey.PhotometricInterpretation == "MONOCHROME2"
    assert np.array_equal(grey.pixel_array, d.key_images[0].to_array())
    assert rgb.PhotometricInterpretation == "RGB" and rgb.SamplesPerPixel == 3
    assert np.array_equal(rgb.pixel_array, d.key_images[1].to_array())


def test_sr_content(echo_files):
    d, objs, paths = echo_files
    ds = pydicom.dcmread(paths[3])
    assert ds.VerificationFlag == "VERIFIED" and ds.CompletionFlag == "COMPLETE"
    assert ds.ContentTemplateSequence[0].TemplateIdentifier == "5200"
    nums = {}

    def walk(seq):
        for it in seq:
            if it.ValueType == "NUM":
                c = it.ConceptNameCodeSequence[0]
                mv = it.MeasuredValueSequence[0]
                algo = [x.TextValue for x in it.get("ContentSequence", [])]
                nums[(c.CodingSchemeDesignator, c.CodeValue)] = (float(mv.NumericValue),
                                                                  mv.MeasurementUnitsCodeSequence[0].CodeValue, algo)
            walk(it.get("ContentSequence", []))
    walk(ds.ContentSequence)
    assert nums[("LN", "18043-0")] == (58.2, "%", ["lv_seg", "1.0.0"])
    assert nums[("LN", "18026-5")][:2] == (112.0, "mL")
    assert nums[("LN", "8867-4")][:2] == (72.0, "/min")
    assert ("99CCART", "echo.gls") in nums  # no LOINC code for GLS here: local code system
    assert len(nums) == len(d.measurements)
    key = next(it for it in ds.ContentSequence if it.ConceptNameCodeSequence[0].CodeValue == "121180")
    refs = [it.ReferencedSOPSequence[0].ReferencedSOPInstanceUID for it in key.ContentSequence]
    assert refs == [o.sop_instance_uid for o in objs if o.kind == "sc"]
    ev = ds.CurrentRequestedProcedureEvidenceSequence[0]
    assert ev.StudyInstanceUID == d.exam.study_uid
    assert [r.ReferencedSOPInstanceUID for r in ev.ReferencedSeriesSequence[0].ReferencedSOPSequence] == refs


def test_uids_stable_on_reexport_and_new_per_version():
    d = sample_report("echo")
    a = [o.sop_instance_uid for o in build_report_objects(d, render_pdf(d))]
    b = [o.sop_instance_uid for o in build_report_objects(d, render_pdf(d))]
    assert a == b
    d2 = edit(d, free_text="changed")
    c = build_report_objects(d2, render_pdf(d2))
    assert c[0].sop_instance_uid != a[0]          # a new report version is a new PDF object
    assert c[1].sop_instance_uid == a[1]          # the same key image keeps its UID
    assert all(len(u) <= 64 and u.startswith("2.25.") for u in a)
    signed = sign(d, "Dr. Roe", NOW)
    s_objs = build_report_objects(signed, render_pdf(signed))
    assert s_objs[0].sop_instance_uid != a[0]     # the signed PDF never hides behind the draft's UID
    assert s_objs[1].to_bytes() == build_report_objects(d, None)[0].to_bytes()  # same key image, same bytes
    in_place = dataclasses.replace(d, free_text="draft edited in place by the store")  # same version number
    assert build_report_objects(in_place, render_pdf(in_place))[0].sop_instance_uid != a[0]
    assert sign(in_place, "Dr. Roe", NOW).content_key == signed.content_key == "echo-en-v1-signed"


def test_chinese_report_objects_validate(tmp_path):
    d = sample_report("perfusion", "zh-CN")
    objs = build_report_objects(d, render_pdf(d))
    assert [o.kind for o in objs] == ["pdf", "sc", "bullseye"]
    for p in write_objects(objs, tmp_path):
        assert [ln for ln in dciodvfy(p) if ln.startswith("Error")] == []
        ds = pydicom.dcmread(p)
        assert ds.SpecificCharacterSet == "ISO_IR 192" and str(ds.PatientName) == "王^小明"
        assert [ln for ln in dciodvfy(p) if ln.startswith("Warning") and ALLOWED_WARNING not in ln] == []


def test_identity_helpers_for_other_writers():
    """The helper the ECG waveform writer calls gives the same identifiers as the report objects."""
    d = sample_report("ecg")
    ident = identity_from_report(d)
    ds = pydicom.Dataset()
    apply_identity(ds, ident)
    assert ds.StudyInstanceUID == d.exam.study_uid and ds.PatientID == "PID-0001" and ds.PatientName == "Doe^Jane"
    assert sop_uid(d.exam.study_uid, "ecg", "12lead") == sop_uid(d.exam.study_uid, "ecg", "12lead")
    assert sop_uid(d.exam.study_uid, "ecg", "12lead") != sop_uid(d.exam.study_uid, "ecg", "rhythm")
    assert stable_uid("a", "bc") != stable_uid("ab", "c")


def test_bad_image_rejected():
    ident = identity_from_report(sample_report())
    with pytest.raises(InputError):
        build_secondary_capture(np.zeros((4, 4), np.float32), ident, content_key="k", content_datetime=NOW)


def test_stable_uid_always_valid():
    import re

    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=300, deadline=None)
    @given(st.lists(st.text(max_size=40), min_size=1, max_size=4))
    def check(parts):
        u = stable_uid(*parts)
        assert re.fullmatch(r"2\.25\.(0|[1-9][0-9]*)", u) and len(u) <= 44
        assert stable_uid(*parts) == u
    check()


def test_adopt_ecg_waveform_into_the_exam(tmp_path):
    """The 12-lead waveform written by device.ecg gets the same patient/study as the report objects and a
    stable UID; adoption adds no dciodvfy error of its own."""
    ecg_export = pytest.importorskip("device.ecg.export")
    from device.reports.dicom.adopt import adopt
    from device.reports.dicom.common import write

    d = sample_report("ecg")
    rng = np.random.default_rng(0)
    raw = ecg_export.dicom_waveform(rng.normal(0, 0.2, (2500, 12)), 500.0, patient_name="X", patient_id="Y")
    raw_path = tmp_path / "raw.dcm"
    raw.save_as(raw_path, enforce_file_format=True)
    ident = identity_from_report(d)
    a = adopt(raw, ident, kind="ecg", content_key="12lead", content_datetime=d.exam.exam_datetime)
    b = adopt(raw, ident, kind="ecg", content_key="12lead", content_datetime=d.exam.exam_datetime)
    assert a.sop_instance_uid == b.sop_instance_uid == sop_uid(d.exam.study_uid, "ecg", "12lead")
    p = write(a, tmp_path / "ecg.dcm")
    ds = pydicom.dcmread(p)
    pdf_ds = build_report_objects(d, render_pdf(d))[0].dataset
    for key in ("PatientID", "PatientName", "StudyInstanceUID", "AccessionNumber", "StudyDate"):
        assert str(getattr(ds, key)) == str(getattr(pdf_ds, key)), key
    assert ds.SeriesNumber == 100 and ds.Modality == "ECG"
    assert np.array_equal(ds.waveform_array(0), raw.waveform_array(0))
    before = {ln for ln in dciodvfy(raw_path) if ln.startswith("Error")}
    after = {ln for ln in dciodvfy(p) if ln.startswith("Error")}
    assert after <= before, after - before


def test_hostile_text_still_valid(tmp_path):
    import dataclasses
    d = sample_report("echo")
    d = dataclasses.replace(
        d, patient=dataclasses.replace(d.patient, name="Doe\\Jane\x00", patient_id="P\\1\n"),
        exam=dataclasses.replace(d.exam, accession="A\\B12345678901234567890", institution="Inst\\X\x07",
                                 description="Echo\\TTE"),
        free_text="line1\nline2 \\ backslash \x00")
    objs = build_report_objects(d, render_pdf(d))
    for p in write_objects(objs, tmp_path):
        assert [ln for ln in dciodvfy(p) if ln.startswith("Error")] == [], p.name
        ds = pydicom.dcmread(p)
        assert ds.PatientID == "P 1" and len(ds.AccessionNumber) <= 16 and "\\" not in str(ds.PatientName)
