"""Reading site data for `echo learn`: view folders or a CSV; patient from the CSV, DICOM PatientID, a patient
sub-folder or the file; up to N evenly spaced frames per loop with the cart's own readers."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from device.errors import InputError
from device.usecases.echo_learn import Item, item_frames, scan_data

KNOWN = ("PLAX", "A4C", "A2C", "OTHER")


def _dicom_cine(path, patient_id: str, n: int = 10) -> None:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.3.1"      # ultrasound multi-frame image
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.PatientID, ds.Modality = patient_id, "US"
    ds.Rows, ds.Columns, ds.NumberOfFrames = 48, 64, n
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    frames = np.stack([np.full((48, 64), 10 * i, np.uint8) for i in range(n)])
    ds.PixelData = frames.tobytes()
    ds.save_as(str(path), enforce_file_format=True)


def test_folder_patients_from_dicom_subfolder_or_file_and_even_frames(tmp_path):
    (tmp_path / "A4C").mkdir()
    (tmp_path / "PLAX" / "bed7").mkdir(parents=True)
    _dicom_cine(tmp_path / "A4C" / "loop.dcm", "DCM-0042")
    cv2.imwrite(str(tmp_path / "A4C" / "still.png"), np.zeros((40, 50, 3), np.uint8))
    cv2.imwrite(str(tmp_path / "PLAX" / "bed7" / "x.png"), np.zeros((40, 50, 3), np.uint8))
    items: dict[str, Item] = {i.source.split("/")[-1]: i for i in scan_data(tmp_path, KNOWN)}
    assert items["loop.dcm"].patient == "DCM-0042" and items["loop.dcm"].view == "A4C"
    assert items["x.png"].patient == "bed7" and items["x.png"].view == "PLAX"
    assert items["still.png"].patient == str(tmp_path / "A4C" / "still.png")
    frames = item_frames(items["loop.dcm"], 4)
    assert len(frames) == 4
    # evenly spaced over the 10 frames: 0, 3, 6, 9 (pixel value 10 x index)
    assert [int(np.asarray(f)[..., 0].mean() if np.asarray(f).ndim == 3 else np.asarray(f).mean()) // 10
            for f in frames] == [0, 3, 6, 9]


def test_csv_patient_column_and_relative_paths(tmp_path):
    (tmp_path / "img").mkdir()
    for n in ("a", "b"):
        cv2.imwrite(str(tmp_path / "img" / f"{n}.png"), np.zeros((40, 50, 3), np.uint8))
    (tmp_path / "site.csv").write_text("file,view,patient\nimg/a.png,A4C,P1\nimg/b.png,A2C,P2\n")
    items = scan_data(tmp_path / "site.csv", KNOWN)
    assert [(i.view, i.patient) for i in items] == [("A4C", "P1"), ("A2C", "P2")]
    assert items[0].source == str(tmp_path / "img" / "a.png")


@pytest.mark.parametrize("csv_text, says", [
    ("path;view\nx.png;A4C\n", "header row"),
    ("file,view,patient\nimg/a.png,,P1\n", "unknown view label(s) (empty)"),
])
def test_csv_errors_are_one_line(tmp_path, csv_text, says):
    (tmp_path / "l.csv").write_text(csv_text)
    with pytest.raises(InputError, match=r".*") as ei:
        scan_data(tmp_path / "l.csv", KNOWN)
    assert says in str(ei.value) and "\n" not in str(ei.value)
