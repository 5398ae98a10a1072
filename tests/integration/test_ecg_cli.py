"""`python -m device ecg read IMAGE --out DIR`: outputs, exit codes, one-line errors, the photo kept."""

import hashlib
import json
import subprocess
import sys

import numpy as np
import pytest

from device.ecg import export
from device.sim import ecg_paper


def _run(*args):
    return subprocess.run([sys.executable, "-m", "device", "ecg", *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    rng = np.random.default_rng(4)
    page = ecg_paper.render(ecg_paper.synthetic_ecg(rng, hr_bpm=66), rng=rng)
    p = tmp_path_factory.mktemp("ph") / "bedside photo.jpg"
    export.write_png(p, ecg_paper.photograph(page.image, rng))
    return p


def test_read_writes_every_output(photo, tmp_path):
    before = hashlib.sha256(photo.read_bytes()).hexdigest()
    out = tmp_path / "out"
    r = _run("read", str(photo), "--out", str(out))
    assert r.returncode == 0, r.stderr
    stem = photo.stem
    lines = (out / f"{stem}.csv").read_text().splitlines()
    assert lines[0] == "t_s,I,II,III,aVR,aVL,aVF,V1,V2,V3,V4,V5,V6" and len(lines) == 5001
    data = json.loads((out / f"{stem}.json").read_text())
    assert data["layout"]["name"] == "3x4+1"
    assert data["calibration"]["gain_mm_mv"] == 10.0 and data["calibration"]["speed_mm_s"] == 25.0
    assert abs(data["measurements"]["hr_bpm"] - 66) < 5
    assert data["screening"]["combined"]["label"] in ("normal", "abnormal", "undetermined")
    assert data["disclaimer"]["en"].startswith("Not for diagnostic use")
    assert (out / f"{stem}.png").stat().st_size > 10000
    wfdb_stem = stem.replace(" ", "_")     # WFDB record names cannot hold spaces (issue 13): "bedside_photo"
    assert (out / f"{wfdb_stem}.hea").exists() and (out / f"{wfdb_stem}.dat").stat().st_size == 5000 * 12 * 2
    assert (out / f"{stem}.dcm").exists()
    assert hashlib.sha256(photo.read_bytes()).hexdigest() == before


def test_not_an_image_fails_with_one_line(tmp_path):
    bad = tmp_path / "notes.jpg"
    bad.write_text("this is not a photo")
    r = _run("read", str(bad), "--out", str(tmp_path / "o"))
    assert r.returncode == 2
    err = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(err) == 1 and err[0].startswith("error: load:")
    assert bad.read_text() == "this is not a photo"


def test_blank_page_names_the_step(tmp_path):
    blank = tmp_path / "blank.png"
    export.write_png(blank, np.full((1000, 1400, 3), 250, np.uint8))
    r = _run("read", str(blank), "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "no grid" in r.stderr and "Traceback" not in r.stderr
