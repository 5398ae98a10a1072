"""Issue 13: 'is there a left ventricle in this volume?' A brain-like, kidney-like, liver-like or noise volume, a CT
(negative numbers) and an oversized volume are refused before any bullseye; SPECTF rows out of range are refused."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from device.errors import InputError
from device.perfusion.analysis import analyse_study
from device.perfusion.spectf import N_FEATURES, classify_regions, parse_spectf
from device.sim import ood_volumes as ov


@pytest.mark.parametrize("name", ["brain", "kidneys", "liver", "noise", "one hot voxel"])
@pytest.mark.parametrize("orientation", ["auto", "short_axis"])
def test_other_organs_and_noise_are_refused(name, orientation):
    vol = ov.VOLUMES[name](np.random.default_rng(7))
    with pytest.raises(InputError, match="no left ventricle|not a heart|re-oriented|no myocardium"):
        analyse_study(vol, 3.2, orientation=orientation, use_networks=False)


def test_brain_is_refused_for_its_size():
    with pytest.raises(InputError, match=r"radius is \d+ mm \(a left ventricle: 12-45 mm\)"):
        analyse_study(ov.brain(np.random.default_rng(1)), 3.2, orientation="short_axis", use_networks=False)


def test_kidney_is_refused_for_its_shape():
    with pytest.raises(InputError, match="times as long as it is wide"):
        analyse_study(ov.kidneys(np.random.default_rng(1)), 3.2, orientation="short_axis", use_networks=False)


def test_huge_volume_is_refused_before_any_copy():
    vol = np.broadcast_to(np.float32(1.0), (400, 400, 400))  # 256 MB if materialised; a view here
    with pytest.raises(InputError, match="larger than any perfusion study"):
        analyse_study(vol, 1.0, orientation="short_axis")


def test_ct_numbers_are_not_counts():
    from device.sim.spect import simulate_study

    s = simulate_study((), seed=1)
    ct = s.stress / s.stress.max() * 1100.0 - 1000.0  # air at -1000 HU, the hottest voxel +100
    with pytest.raises(InputError, match="not counts"):
        analyse_study(ct, s.voxel_mm, orientation="short_axis", use_networks=False)


@pytest.mark.parametrize("seed,orientation", [(3, "short_axis"), (5, "transaxial"), (8, "short_axis")])
def test_simulated_hearts_still_pass(seed, orientation):
    from device.perfusion.validity import check_lv, lv_shape  # noqa: F401 - the measured shape is checked below
    from device.sim.spect import random_study

    st = random_study(seed, orientation=orientation)
    res = analyse_study(st.stress, st.voxel_mm, orientation="auto", use_networks=False)
    assert res.segments_stress_pct.shape == (17,)


def _row(v):
    return ",".join(f"{x:g}" for x in v)


@pytest.mark.parametrize("row,match", [
    ([0.0] * N_FEATURES, "hottest region is 0"),
    ([30.0] * N_FEATURES, "hottest region is 30"),
    ([70.0] * 43 + [150.0], "outside 0-100"),
    ([70.0] * 43 + [-1.0], "outside 0-100"),
])
def test_spectf_rows_out_of_range_are_refused(row, match):
    with pytest.raises(InputError, match=match):
        parse_spectf(_row(row))
    with pytest.raises(InputError, match=match):
        classify_regions(np.asarray([row], np.float32), "fp32")


def test_regions_cli_refuses_an_all_zero_row(tmp_path):
    f = tmp_path / "rows.csv"
    f.write_text(_row([72.0] * N_FEATURES) + "\n" + _row([0.0] * N_FEATURES) + "\n")
    r = subprocess.run([sys.executable, "-m", "device", "perfusion", "regions", str(f)], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode != 0 and r.stdout.strip() == ""              # no probability for any row
    assert "row 2" in r.stderr and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_polar_cli_refuses_a_brain(tmp_path):
    f = tmp_path / "brain.npz"
    np.savez_compressed(f, stress=ov.brain(np.random.default_rng(2)), voxel_mm=np.array([3.2, 3.2, 3.2]))
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "device", "perfusion", "polar", str(f), "--out", str(out)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode != 0 and "no left ventricle" in r.stderr and "Traceback" not in r.stderr
    assert not (out / "bullseye.png").exists() and not (out / "segments.json").exists()


def test_library_warnings_do_not_break_the_one_line_error(tmp_path):
    """A DICOM with an invalid IS value makes pydicom warn on stderr; the CLI's refusal must stay one line."""
    import pydicom
    from pydicom.dataelem import DataElement

    from device.sim.spect import write_nm_dicom

    p = tmp_path / "brain.dcm"
    write_nm_dicom(str(p), ov.brain(np.random.default_rng(0)), (3.2, 3.2, 3.2))
    ds = pydicom.dcmread(p)
    ds[0x00200013] = DataElement(0x00200013, "IS", "1.5")        # InstanceNumber that is not an integer
    ds.save_as(p)
    r = subprocess.run([sys.executable, "-m", "device", "perfusion", "polar", str(p), "--out", str(tmp_path / "o")],
                       capture_output=True, text=True, timeout=300)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: ") and str(tmp_path) not in lines[0]
