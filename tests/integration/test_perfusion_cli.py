"""``python -m device perfusion polar|regions|simulate`` end to end, including bad input (one line, exit 2)."""

from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from device.__main__ import main
from device.perfusion.geometry import N_RINGS, N_SECTORS
from device.sim.spect import write_nm_dicom, simulate_study


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    d = tmp_path_factory.mktemp("perf")
    p = d / "study.npz"
    assert main(["perfusion", "simulate", str(p), "--defect", "LAD:0.55:0.7:1", "--seed", "3"]) == 0
    return p


def test_polar_writes_map_segments_and_bullseye(tmp_path, study):
    out = tmp_path / "out"
    assert main(["perfusion", "polar", str(study), "--out", str(out)]) == 0
    polar = np.load(out / "polar.npy")
    assert polar.shape == (N_RINGS, N_SECTORS) and polar.dtype == np.float32
    doc = json.loads((out / "segments.json").read_text(encoding="utf-8"))
    assert len(doc["segments_stress"]) == 17 and len(doc["segments_rest"]) == 17
    terr = {t["territory"]: t for t in doc["territories"]}
    assert set(terr) == {"LAD", "LCX", "RCA"}
    assert terr["LAD"]["extent_pct"] > terr["LCX"]["extent_pct"] and terr["LAD"]["extent_pct"] > 10
    assert terr["LAD"]["reversible_extent_pct"] > 0  # fully reversible defect, rest normal
    assert terr["LAD"]["prob_at_risk"] > terr["RCA"]["prob_at_risk"]
    assert all(0 <= t["prob_at_risk"] <= 1 for t in terr.values())
    assert doc["disclaimer"].startswith("Not for diagnostic use") and any("perfusion_territory" in m
                                                                          for m in doc["models"])
    img = cv2.imread(str(out / "bullseye.png"))
    assert img is not None and img.shape[0] > 300 and img.shape[1] > 400
    assert (out / "bullseye_rest.png").is_file()
    # the picture is coloured where the map is (not a blank canvas)
    assert np.std(img[80:400, 60:380].astype(float)) > 20


def test_polar_on_dicom_transaxial(tmp_path):
    s = simulate_study(orientation="transaxial", seed=8)
    dcm = tmp_path / "ta.dcm"
    write_nm_dicom(str(dcm), s.stress, s.voxel_mm, "transaxial", "STRESS TRANSAXIAL")
    out = tmp_path / "o"
    assert main(["perfusion", "polar", str(dcm), "--out", str(out)]) == 0
    doc = json.loads((out / "segments.json").read_text(encoding="utf-8"))
    assert doc["lv"]["reoriented"] is True and doc["segments_rest"] is None


def test_regions_prints_one_probability_per_row(tmp_path, capsys):
    rng = np.random.default_rng(0)
    f = tmp_path / "rows.csv"
    f.write_text("\n".join(",".join(str(v) for v in rng.integers(40, 80, 44)) for _ in range(5)) + "\n")
    assert main(["perfusion", "regions", str(f)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 5 and all(0.0 <= float(v) <= 1.0 for v in lines)


@pytest.mark.parametrize("setup,args_extra", [("zeros", []), ("noheart", []), ("npy_novoxel", []),
                                               ("missing", []), ("badrow", [])])
def test_bad_input_is_one_line(tmp_path, setup, args_extra):
    if setup == "zeros":
        p = tmp_path / "z.npz"
        np.savez(p, stress=np.zeros((32, 32, 32)), voxel_mm=np.array(4.0))
        args = ["perfusion", "polar", str(p), "--out", str(tmp_path / "o")]
    elif setup == "noheart":
        p = tmp_path / "n.npz"
        np.savez(p, stress=np.random.default_rng(0).poisson(5.0, (40, 40, 40)), voxel_mm=np.array(4.0))
        args = ["perfusion", "polar", str(p), "--out", str(tmp_path / "o")]
    elif setup == "npy_novoxel":
        p = tmp_path / "v.npy"
        np.save(p, np.ones((16, 16, 16)))
        args = ["perfusion", "polar", str(p), "--out", str(tmp_path / "o")]
    elif setup == "missing":
        args = ["perfusion", "polar", str(tmp_path / "nothing.dcm"), "--out", str(tmp_path / "o")]
    else:
        p = tmp_path / "r.csv"
        p.write_text("1,2,3\n")
        args = ["perfusion", "regions", str(p)]
    r = subprocess.run([sys.executable, "-m", "device", *args], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "Traceback" not in r.stderr
    assert not (tmp_path / "o" / "polar.npy").exists()
