"""Give a dataset built elsewhere (e.g. the 12-lead ECG waveform from ``device.ecg.export.dicom_waveform``) the
exam's identifiers: Patient and Study modules, a stable Series and SOP Instance UID, consistent file meta."""

from __future__ import annotations

import copy
import datetime as dt

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

from device.errors import InputError
from device.reports.dicom.common import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION, DicomObject
from device.reports.dicom.ids import SERIES_NUMBERS, ExamIdentity, apply_identity, series_uid, sop_uid


def adopt(ds: Dataset, ident: ExamIdentity, *, kind: str, content_key: str, instance_number: int = 1,
          content_datetime: dt.datetime | None = None) -> DicomObject:
    """A copy of ``ds`` carrying the exam's identifiers. ``kind`` names the series (``"ecg"``), ``content_key``
    the content (``"12lead"``); the same (exam, kind, key) always gives the same SOP Instance UID.

    ``content_datetime`` (e.g. when the paper ECG was recorded) replaces Content/Acquisition date and time.
    """
    if "SOPClassUID" not in ds:
        raise InputError("the dataset to adopt has no SOP Class UID; build it with its IOD writer first")
    out = copy.deepcopy(ds)
    apply_identity(out, ident)
    uid = sop_uid(ident.study_uid, kind, content_key)
    out.SOPInstanceUID = uid
    out.SeriesInstanceUID = series_uid(ident.study_uid, kind)
    out.SeriesNumber = SERIES_NUMBERS.get(kind, 999)
    out.InstanceNumber = instance_number
    if content_datetime is not None:
        out.ContentDate = content_datetime.strftime("%Y%m%d")
        out.ContentTime = content_datetime.strftime("%H%M%S")
        if "AcquisitionDateTime" in out:
            out.AcquisitionDateTime = content_datetime.strftime("%Y%m%d%H%M%S")
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = out.SOPClassUID
    meta.MediaStorageSOPInstanceUID = uid
    meta.TransferSyntaxUID = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", ExplicitVRLittleEndian)
    meta.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION
    out.file_meta = meta
    return DicomObject(kind=kind, sop_class_uid=str(out.SOPClassUID), sop_instance_uid=uid,
                       study_uid=ident.study_uid, dataset=out)
