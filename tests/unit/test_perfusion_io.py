"""Loading perfusion volumes: .npy/.npz with voxel size, DICOM NM multi-frame (SA and transaxial), bad input."""

from __future__ import annotations

import numpy as np
import pytest

from device.errors import InputError
from device.perfusion.io import load_volume
from device.sim.spect import simulate_study, write_nm_dicom


@pytest.fixture(scope="module")
def study():
    return simulate_study(seed=2)


def test_npy_needs_voxel_size(tmp_path, study):
    p = tmp_path / "v.npy"
    np.save(p, study.stress)
    with pytest.raises(InputError, match="--voxel-mm"):
        load_volume(p)
    vol, rest = load_volume(p, [3.2])
    assert vol.voxel_mm == (3.2, 3.2, 3.2) and rest is None and vol.orientation == "unknown"


def test_npz_stress_rest(tmp_path, study):
    p = tmp_path / "s.npz"
    np.savez(p, stress=study.stress, rest=study.rest, voxel_mm=np.array([3.0, 3.2, 3.2]),
             orientation=np.array("short_axis"))
    vol, rest = load_volume(p)
    assert vol.voxel_mm == (3.0, 3.2, 3.2) and vol.orientation == "short_axis"
    np.testing.assert_array_equal(rest.counts, study.rest)


@pytest.mark.parametrize("orientation,expect", [("short_axis", "short_axis"), ("transaxial", "transaxial")])
def test_dicom_nm_round_trip(tmp_path, study, orientation, expect):
    p = tmp_path / "nm.dcm"
    write_nm_dicom(str(p), study.stress, (3.5, 3.2, 3.1), orientation)
    vol, _ = load_volume(p)
    assert vol.orientation == expect and vol.modality == "NM"
    assert vol.voxel_mm == pytest.approx((3.5, 3.2, 3.1))
    np.testing.assert_allclose(vol.counts, study.stress, atol=0.5)
    if orientation == "transaxial":
        np.testing.assert_allclose(vol.direction, np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0]]), atol=1e-6)


@pytest.mark.parametrize("arr,match", [
    (np.zeros((16, 16, 16)), "all counts are zero"),
    (np.full((16, 16, 16), np.nan), "NaN"),
    (np.ones((16, 16)), "3-D"),
    (np.ones((4, 16, 16)), "too small"),
])
def test_bad_volumes(tmp_path, arr, match):
    p = tmp_path / "bad.npy"
    np.save(p, arr)
    with pytest.raises(InputError, match=match):
        load_volume(p, [3.0])


def test_not_dicom_and_wrong_modality(tmp_path, study):
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"hello")
    with pytest.raises(InputError, match="DICOM"):
        load_volume(junk)
    ct = tmp_path / "ct.dcm"
    write_nm_dicom(str(ct), study.stress, (3.2, 3.2, 3.2), modality="CT")
    with pytest.raises(InputError, match="modality 'CT'"):
        load_volume(ct)
    with pytest.raises(InputError, match="no such file"):
        load_volume(tmp_path / "missing.npz")
