"""Report model: versioning rules, signing, JSON round trip, bad input."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import numpy as np
import pytest

from device import DISCLAIMER_EN, DISCLAIMER_ZH
from device.errors import InputError
from device.reports import serialize
from device.reports.model import KeyImage, ReportMeasurement, Section, SignedReportError, correct, edit, sign
from device.reports.sample import sample_report

NOW = dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.UTC)


def test_edit_makes_new_version_and_keeps_old():
    v1 = sample_report("echo")
    v2 = edit(v1, free_text="LV mildly dilated.")
    assert (v1.version, v2.version) == (1, 2)
    assert v1.free_text != v2.free_text and v2.free_text == "LV mildly dilated."
    assert v2.sections == v1.sections


def test_signed_report_cannot_be_edited_and_correction_makes_new_version():
    signed = sign(sample_report("ecg"), "Dr. Li", NOW)
    assert signed.signed and signed.version == 1
    with pytest.raises(SignedReportError):
        edit(signed, free_text="changed")
    with pytest.raises(SignedReportError):
        sign(signed, "Dr. Other", NOW)
    with pytest.raises(dataclasses.FrozenInstanceError):
        signed.free_text = "x"  # type: ignore[misc]
    with pytest.raises(InputError):
        correct(signed, reason="  ")
    v2 = correct(signed, reason="QTc was mis-measured", free_text="corrected")
    assert (v2.version, v2.amends_version, v2.signed) == (2, 1, False)
    assert v2.amendment_reason == "QTc was mis-measured"
    assert signed.free_text != "corrected"  # the signed version is untouched


def test_sign_needs_signer_and_timezone():
    d = sample_report()
    with pytest.raises(InputError):
        sign(d, " ", NOW)
    with pytest.raises(InputError):
        sign(d, "Dr. Li", NOW.replace(tzinfo=None))


def test_disclaimer_follows_language():
    assert sample_report(language="en").disclaimer == DISCLAIMER_EN
    assert sample_report(language="zh-CN").disclaimer == DISCLAIMER_ZH


def test_bad_kind_language_and_field_rejected():
    d = sample_report()
    with pytest.raises(InputError):
        dataclasses.replace(d, kind="mri")
    with pytest.raises(InputError):
        dataclasses.replace(d, language="fr")
    with pytest.raises(InputError):
        edit(d, version=9)


def test_measurement_flags_and_reference_text():
    m = ReportMeasurement("qtc_ms", 472, "ms", ref_high=460)
    assert (m.flag, m.reference_text) == ("H", "≤ 460")
    m2 = ReportMeasurement("ef_pct", 40, "%", ref_low=52, ref_high=72)
    assert (m2.flag, m2.reference_text) == ("L", "52–72")
    assert ReportMeasurement("x", 1, "").flag == ""


def test_key_image_roundtrip_grey_and_rgb():
    grey = np.arange(12 * 7, dtype=np.uint8).reshape(12, 7)
    rgb = np.dstack([grey, grey[::-1], 255 - grey])
    assert np.array_equal(KeyImage.from_array(grey).to_array(), grey)
    assert np.array_equal(KeyImage.from_array(rgb).to_array(), rgb)
    with pytest.raises(InputError):
        KeyImage.from_array(grey.astype(np.float32))
    with pytest.raises(InputError):
        KeyImage(png=b"GIF89a...")


def test_json_roundtrip_signed_report():
    d = sign(edit(sample_report("echo", "zh-CN"), free_text="左室功能正常"), "李医生", NOW)
    back = serialize.from_dict(json.loads(serialize.dumps(d)))
    assert back == d


def test_json_bad_input_says_what():
    good = serialize.to_dict(sample_report())
    with pytest.raises(InputError, match="format"):
        serialize.from_dict({"kind": "echo"})
    bad = dict(good, patient={"name": "x"})
    with pytest.raises(InputError, match="'id'"):
        serialize.from_dict(bad)
    bad2 = json.loads(json.dumps(good))
    bad2["sections"][0]["measurements"][0]["value"] = "high"
    with pytest.raises(InputError, match="bad value"):
        serialize.from_dict(bad2)
    for uid in ("../..", "1.2.03", "1.2.", "1" * 65, "1.2.3\n"):
        bad3 = json.loads(json.dumps(good))
        bad3["exam"]["study_uid"] = uid
        with pytest.raises(InputError, match="not a DICOM UID"):
            serialize.from_dict(bad3)


def test_models_used_lists_each_model_once():
    d = sample_report("echo")
    assert d.models_used == ("lv_seg 1.0.0", "lv_strain 0.3.1")
    d2 = edit(d, sections=[Section("x", (ReportMeasurement("hr", 70, "/min"),))])
    assert d2.models_used == ()


def test_changes_between_versions():
    from device.reports.versions import changes
    v1 = sign(sample_report("ecg"), "Dr. Li", NOW)
    sec = v1.sections[0]
    fixed = tuple(dataclasses.replace(m, value=452.0, interpretation="") if m.name == "qtc_ms" else m
                  for m in sec.measurements)
    v2 = correct(v1, "QTc re-measured", sections=[dataclasses.replace(sec, measurements=fixed)],
                 free_text="QTc normal")
    ch = {c.field: (c.old, c.new) for c in changes(v1, v2)}
    assert ch["measurement:qtc_ms"] == ("472 ms [≤ 460] (QTc prolonged)", "452 ms [≤ 460]")
    assert ch["free_text"][1] == "QTc normal"
    assert set(ch) == {"measurement:qtc_ms", "free_text"}
    assert changes(v1, v1) == []
