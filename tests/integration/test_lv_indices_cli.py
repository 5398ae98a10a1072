"""`python -m device lv indices SERIES --out CSV --method ...` on a synthetic DICOM short-axis cine (the phantom)."""

import csv
from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

from device.__main__ import main
from device.lv.phantom import sax_cine
from device.lv.variants import INDEX_NAMES
from device.paths import MODELS_DIR

pytestmark = pytest.mark.skipif(
    not all((MODELS_DIR / n / "manifest.json").exists() for n in ("lv_seg", "lv_dla", "lv_p001")),
    reason="the LV models are not built (make models)")


def _write(folder: Path, frames: np.ndarray) -> None:
    folder.mkdir()
    study, series = generate_uid(), generate_uid()
    for i, f in enumerate(frames):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID = MRImageStorage
        ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.SOPClassUID, ds.SOPInstanceUID = MRImageStorage, ds.file_meta.MediaStorageSOPInstanceUID
        ds.Modality, ds.SeriesDescription, ds.InstanceNumber = "MR", "SAX cine", i + 1
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        arr = np.clip(f, 0, 4000).astype(np.uint16)
        ds.Rows, ds.Columns = arr.shape
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.PixelSpacing = [1.4, 1.4]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 0.8, -0.6]
        ds.SliceLocation, ds.TriggerTime = 10.0, 40.0 * i
        ds.PixelData = arr.tobytes()
        ds.save_as(folder / f"{i + 1}.dcm", enforce_file_format=True)


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    frames, _ = sax_cine(10, 192, 1.4, seed=5)
    folder = tmp_path_factory.mktemp("sax") / "cine"
    _write(folder, frames)
    return folder


@pytest.mark.parametrize("method, model", [(None, "lv_seg"), ("regress", "lv_dla"), ("p001", "lv_p001")])
def test_each_method_writes_eleven_indices_per_frame_named_by_its_model(tmp_path, series, capsys, method, model):
    out = tmp_path / "i.csv"
    argv = ["lv", "indices", str(series), "--out", str(out)] + (["--method", method] if method else [])
    assert main(argv) == 0
    rows = list(csv.DictReader(open(out)))
    assert len(rows) == 10 and set(INDEX_NAMES) <= set(rows[0])
    assert all(r["model"].startswith(model + " ") for r in rows)
    assert float(rows[0]["cavity_area_mm2"]) > 0
    assert sum(r["phase"] == "ED" for r in rows) <= 1
    assert "Not for diagnostic use" in capsys.readouterr().out


def test_a_missing_series_is_one_line(tmp_path, capsys):
    assert main(["lv", "indices", str(tmp_path / "none"), "--out", str(tmp_path / "x.csv"), "--method",
                 "regress"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does not exist" in err[0]
