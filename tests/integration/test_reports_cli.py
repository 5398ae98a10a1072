"""``python -m device export``: sample -> render -> bundle, and bad input as one line with exit 2."""

from __future__ import annotations

import os
import subprocess
import sys

import pydicom

from device.paths import REPO_ROOT
from device.sync.bundle import verify_bundle


def run(*args, env=None):
    return subprocess.run([sys.executable, "-m", "device", "export", *args], capture_output=True, text=True,
                          cwd=REPO_ROOT, env={**os.environ, **(env or {})}, timeout=120)


def test_sample_render_bundle(tmp_path):
    rj = tmp_path / "r.json"
    assert run("sample", str(rj), "--kind", "ecg", "--lang", "zh-CN").returncode == 0
    r = run("render", str(rj), "--pdf", str(tmp_path / "r.pdf"), "--dicom", str(tmp_path / "dcm"),
            "--fhir", str(tmp_path / "f.json"), "--csv", str(tmp_path / "m.csv"), "--html", str(tmp_path / "r.html"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "r.pdf").read_bytes().startswith(b"%PDF-")
    dcm = sorted((tmp_path / "dcm").glob("*.dcm"))
    assert [pydicom.dcmread(p).Modality for p in dcm] == ["DOC", "OT", "OT"]
    r = run("bundle", str(rj), "--to", str(tmp_path / "out"), "--name", "x",
            env={"CARDIOCART_EXPORT_PASSPHRASE": "long enough phrase"})
    assert r.returncode == 0, r.stderr
    man = verify_bundle(tmp_path / "out" / "x.zip", "long enough phrase")
    assert len(man["files"]) == 4 + 1 + 3  # json, csv, measurements json, fhir; pdf; 3 DICOM


def test_bad_input_one_line(tmp_path):
    (tmp_path / "bad.json").write_text("{not json")
    for args in (("render", str(tmp_path / "bad.json"), "--pdf", str(tmp_path / "x.pdf")),
                 ("render", str(tmp_path / "missing.json"), "--pdf", str(tmp_path / "x.pdf")),
                 ("bundle", str(tmp_path / "bad.json"), "--to", str(tmp_path))):
        r = run(*args, env={"CARDIOCART_EXPORT_PASSPHRASE": ""})
        assert r.returncode == 2
        assert r.stderr.startswith("error: ") and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (tmp_path / "x.pdf").exists()
