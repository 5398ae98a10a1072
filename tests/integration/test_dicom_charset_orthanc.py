"""Chinese text survives DICOM export (issue 18 part 4): a Chinese comment (SR Impression) and a Chinese patient
name go to a real Orthanc by DICOMweb STOW and are read back by its REST API and by DICOMweb QIDO/WADO metadata.
Before ISO_IR 192 was always written, a Chinese comment with an ASCII name reached the SR as "??"."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest
import requests

from device.reports.dicom.exam import build_report_objects
from device.reports.model import edit, sign
from device.reports.pdf import render_pdf
from device.reports.sample import sample_report
from device.sync.dicomweb import DicomWebClient, DicomWebConfig
from tests.integration.orthanc import orthanc  # noqa: F401  (fixture)

pytestmark = [pytest.mark.pacs, pytest.mark.slow]

COMMENT = "左心室收缩功能正常，建议随访。"
NOW = dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.UTC)


def _sr_texts(content: list) -> list[str]:
    out = []
    for item in content:
        if "TextValue" in item:
            out.append(item["TextValue"])
        out += _sr_texts(item.get("ContentSequence", []))
    return out


@pytest.mark.parametrize("name", ["王小明", "Doe, Jane"])
def test_chinese_comment_and_name_round_trip(orthanc, name):  # noqa: F811
    d = sample_report("echo", "zh-CN", accession="ACCZH1")
    d = edit(d, free_text=COMMENT, patient=dataclasses.replace(d.patient, name=name))
    d = sign(d, "李医生", NOW)
    objs = build_report_objects(d, render_pdf(d))
    client = DicomWebClient(DicomWebConfig(orthanc.dicomweb_url, timeout_s=10))
    for o in objs:
        client.send(o.to_bytes(), o.study_uid, o.sop_instance_uid)
    want_name = "王^小明" if name == "王小明" else "Doe^Jane"
    ids = requests.get(f"{orthanc.url}/instances", timeout=10).json()
    assert len(ids) == len(objs)
    kinds = set()
    for i in ids:
        tags = requests.get(f"{orthanc.url}/instances/{i}/tags?simplify", timeout=10).json()
        assert tags["SpecificCharacterSet"] == "ISO_IR 192"
        assert tags["PatientName"] == want_name
        kinds.add(tags["Modality"])
        if tags["Modality"] == "SR":
            texts = _sr_texts(tags["ContentSequence"])
            assert COMMENT in texts, texts
            assert not any("??" in t for t in texts)
    assert "SR" in kinds and "DOC" in kinds
    # DICOMweb WADO-RS metadata (read from the stored files) gives the same name and comment back. (Orthanc
    # 1.10's QIDO-RS study list is built from its database in the server's DefaultEncoding, Latin-1 unless the
    # PACS is configured "Utf8", so it is not what this test reads.)
    meta = requests.get(f"{orthanc.dicomweb_url}/studies/{objs[0].study_uid}/metadata", timeout=10).json()
    assert len(meta) == len(objs)
    for m in meta:
        assert m["00080005"]["Value"] == ["ISO_IR 192"]
        assert m["00100010"]["Value"][0]["Alphabetic"] == want_name
    assert COMMENT in json.dumps(meta, ensure_ascii=False)
