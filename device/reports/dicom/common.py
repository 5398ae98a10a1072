"""Shared parts of the DICOM builders: the file meta, SOP Common / series / equipment modules, and write()."""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

import device
from device.fsutil import atomic_write_bytes
from device.reports.dicom.ids import SERIES_NUMBERS, ExamIdentity, apply_identity, clean_text, series_uid, \
    stable_uid

IMPLEMENTATION_CLASS_UID = stable_uid("cardiocart", "implementation", "1")
IMPLEMENTATION_VERSION = f"CARDIOCART_{device.__version__}"[:16]
MANUFACTURER = "CardioCart"
MODEL_NAME = "CardioCart"
SOFTWARE_VERSION = device.__version__

ENCAPSULATED_PDF = "1.2.840.10008.5.1.4.1.1.104.1"
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
COMPREHENSIVE_SR = "1.2.840.10008.5.1.4.1.1.88.33"


@dataclass(frozen=True)
class DicomObject:
    """One built object: ``kind`` (pdf, sc, bullseye, echo_sr, ecg), its UIDs and the dataset (with file meta)."""

    kind: str
    sop_class_uid: str
    sop_instance_uid: str
    study_uid: str
    dataset: Dataset

    def to_bytes(self) -> bytes:
        return to_bytes(self.dataset)

    def filename(self) -> str:
        return f"{self.kind}_{self.sop_instance_uid}.dcm"


def new_dataset(*, sop_class_uid: str, sop_instance_uid: str, ident: ExamIdentity, modality: str,
                series_kind: str, series_description: str, instance_number: int,
                content_datetime: dt.datetime) -> Dataset:
    """A dataset with file meta, Patient, General Study, series, equipment and SOP Common modules filled."""
    ds = Dataset()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class_uid
    meta.MediaStorageSOPInstanceUID = sop_instance_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION
    ds.file_meta = meta
    apply_identity(ds, ident)
    ds.SOPClassUID = sop_class_uid
    ds.SOPInstanceUID = sop_instance_uid
    ds.InstanceCreationDate = content_datetime.strftime("%Y%m%d")
    ds.InstanceCreationTime = content_datetime.strftime("%H%M%S")
    ds.Modality = modality
    ds.SeriesInstanceUID = series_uid(ident.study_uid, series_kind)
    ds.SeriesNumber = SERIES_NUMBERS.get(series_kind, 999)
    ds.SeriesDescription = clean_text(series_description)
    ds.InstanceNumber = instance_number
    ds.ContentDate = content_datetime.strftime("%Y%m%d")
    ds.ContentTime = content_datetime.strftime("%H%M%S")
    ds.Manufacturer = MANUFACTURER
    ds.ManufacturerModelName = MODEL_NAME
    ds.SoftwareVersions = SOFTWARE_VERSION
    ds.DeviceSerialNumber = ""
    if ident.institution:
        ds.InstitutionName = clean_text(ident.institution)
    return ds


def to_bytes(ds: Dataset) -> bytes:
    """DICOM Part 10 bytes (preamble, file meta, explicit VR little endian)."""
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def write(obj: DicomObject | Dataset, path: Path | str) -> Path:
    """Write one object as a Part 10 file, atomically (temp name, fsync, rename). Returns the path."""
    ds = obj.dataset if isinstance(obj, DicomObject) else obj
    return atomic_write_bytes(Path(path), to_bytes(ds), mode=0o644)


def code_item(value: str, scheme: str, meaning: str) -> Dataset:
    """A Code Sequence item (Code Value, Coding Scheme Designator, Code Meaning)."""
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = clean_text(meaning)
    return item
