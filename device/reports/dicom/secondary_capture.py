"""Secondary Capture Image Storage (PS3.3 A.8.1) for key images and bullseye maps, 8-bit grey or RGB."""

from __future__ import annotations

import datetime as dt

import numpy as np

from device.errors import InputError
from device.reports.dicom.common import SECONDARY_CAPTURE, DicomObject, new_dataset
from device.reports.dicom.ids import ExamIdentity, clean_long_text, sop_uid


def build_secondary_capture(image: np.ndarray, ident: ExamIdentity, *, content_key: str, caption: str = "",
                            series_kind: str = "sc", instance_number: int = 1,
                            content_datetime: dt.datetime) -> DicomObject:
    """One image as Secondary Capture.

    ``image``: uint8, shape (H, W) monochrome or (H, W, 3) RGB (not BGR). ``series_kind`` is ``"sc"`` for key
    images or ``"bullseye"`` for polar maps (separate series). ``content_key`` (e.g. the KeyImage key) makes the
    SOP Instance UID stable.
    """
    arr = np.ascontiguousarray(image)
    if arr.dtype != np.uint8 or not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 3)):
        raise InputError(f"a secondary capture needs uint8 (H, W) or (H, W, 3); got {arr.dtype} {arr.shape}")
    if arr.shape[0] < 1 or arr.shape[1] < 1 or arr.shape[0] > 65535 or arr.shape[1] > 65535:
        raise InputError(f"image size {arr.shape[:2]} cannot be stored in DICOM")
    uid = sop_uid(ident.study_uid, series_kind, content_key)
    desc = "Bullseye maps" if series_kind == "bullseye" else "Key images"
    ds = new_dataset(sop_class_uid=SECONDARY_CAPTURE, sop_instance_uid=uid, ident=ident, modality="OT",
                     series_kind=series_kind, series_description=desc, instance_number=instance_number,
                     content_datetime=content_datetime)
    ds.ConversionType = "WSD"
    ds.BodyPartExamined = "HEART"  # unpaired: Laterality (Type 2C) is then absent
    ds.PatientOrientation = ""
    ds.ImageType = ["DERIVED", "SECONDARY"]
    ds.DateOfSecondaryCapture = content_datetime.strftime("%Y%m%d")
    ds.TimeOfSecondaryCapture = content_datetime.strftime("%H%M%S")
    ds.BurnedInAnnotation = "YES"
    if caption:
        ds.ImageComments = clean_long_text(caption, 10240)
        ds.DerivationDescription = clean_long_text(caption, 1024)
    ds.Rows, ds.Columns = int(arr.shape[0]), int(arr.shape[1])
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    if arr.ndim == 2:
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
    else:
        ds.SamplesPerPixel = 3
        ds.PhotometricInterpretation = "RGB"
        ds.PlanarConfiguration = 0
    data = arr.tobytes()
    ds.PixelData = data + (b"\x00" if len(data) % 2 else b"")
    ds["PixelData"].VR = "OB"
    return DicomObject(kind=series_kind, sop_class_uid=SECONDARY_CAPTURE, sop_instance_uid=uid,
                       study_uid=ident.study_uid, dataset=ds)
