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


def test_dicom_folder_of_pet_slices(tmp_path, study):
    import pydicom
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    series = generate_uid()
    order = np.random.default_rng(0).permutation(study.stress.shape[0])  # files written out of order
    for k in order:
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.128"
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = FileDataset(str(tmp_path / f"s{k}.dcm"), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
        ds.Modality, ds.SeriesInstanceUID = "PT", series
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.ImagePositionPatient = [0.0, 0.0, 4.0 * float(k)]
        ds.PixelSpacing = ["3.2", "3.2"]
        ds.Rows, ds.Columns = study.stress.shape[1:]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.RescaleSlope, ds.RescaleIntercept = "0.5", "0"
        ds.PixelData = (study.stress[k] * 2).astype(np.uint16).tobytes()
        ds.save_as(str(tmp_path / f"s{k}.dcm"), enforce_file_format=True)
    vol, _ = load_volume(tmp_path)
    assert vol.modality == "PT" and vol.orientation == "transaxial"
    assert vol.voxel_mm == pytest.approx((4.0, 3.2, 3.2))
    np.testing.assert_allclose(vol.counts, study.stress, atol=0.5)
    assert pydicom.__version__
