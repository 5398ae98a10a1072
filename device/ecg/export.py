"""Writers for a digitised ECG: CSV, JSON, overlay PNG, WFDB and the DICOM 12-lead ECG waveform object."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from device.ecg import wfdb
from device.ecg.report import EcgAnalysis
from device.ecg.types import LEADS, EcgReading
from device.errors import InputError

TWELVE_LEAD_ECG_SOP = "1.2.840.10008.5.1.4.1.1.9.1.1"
# SCP-ECG lead codes (DICOM CID 3001)
_SCPECG = {"I": ("5.6.3-9-1", "Lead I"), "II": ("5.6.3-9-2", "Lead II"), "III": ("5.6.3-9-61", "Lead III"),
           "aVR": ("5.6.3-9-62", "aVR, augmented voltage, right"), "aVL": ("5.6.3-9-63", "aVL, augmented voltage, left"),
           "aVF": ("5.6.3-9-64", "aVF, augmented voltage, foot"), "V1": ("5.6.3-9-3", "Lead V1"),
           "V2": ("5.6.3-9-4", "Lead V2"), "V3": ("5.6.3-9-5", "Lead V3"), "V4": ("5.6.3-9-6", "Lead V4"),
           "V5": ("5.6.3-9-7", "Lead V5"), "V6": ("5.6.3-9-8", "Lead V6")}


def write_csv(path: str | Path, signals_mv: np.ndarray, fs_hz: float = 500.0) -> Path:
    """``t_s,I,...,V6`` header, one row per sample, mV with 4 decimals, empty cells for NaN."""
    p = Path(path)
    n = signals_mv.shape[0]
    lines = ["t_s," + ",".join(LEADS)]
    for i in range(n):
        row = signals_mv[i]
        lines.append(f"{i / fs_hz:.3f}," + ",".join("" if not np.isfinite(v) else f"{v:.4f}" for v in row))
    p.write_text("\n".join(lines) + "\n")
    return p


def reading_dict(reading: EcgReading, analysis: EcgAnalysis, source: str = "") -> dict:
    """The JSON report: layout, calibration, measurements with units, rhythm, screening, quality, warnings."""
    cal = reading.calibration
    printed = [name for j, name in enumerate(LEADS) if np.isfinite(reading.signals_mv[:, j]).any()]
    return {
        "source": source,
        "fs_hz": reading.fs_hz, "duration_s": reading.signals_mv.shape[0] / reading.fs_hz,
        "layout": {"name": reading.layout.name, "label_source": reading.layout.label_source,
                   "boxes": [b.as_dict() for b in reading.layout.boxes], "printed_leads": printed},
        "calibration": {"px_per_mm_x": round(cal.px_per_mm_x, 3), "px_per_mm_y": round(cal.px_per_mm_y, 3),
                        "photo_px_per_mm_x": round(cal.photo_px_per_mm_x, 3),
                        "photo_px_per_mm_y": round(cal.photo_px_per_mm_y, 3),
                        "speed_mm_s": cal.speed_mm_s, "gain_mm_mv": cal.gain_mm_mv, "grid_found": cal.grid_found,
                        "pulse_found": cal.pulse_found, "source": cal.source},
        "units": {"hr_bpm": "beats/min", "*_ms": "ms", "axis_deg": "degrees", "signals": "mV"},
        **analysis.as_dict(),
        "quality": {"sharpness": round(reading.quality.sharpness, 1),
                    "trace_coverage": round(reading.quality.trace_coverage, 3),
                    "score": round(reading.quality.score, 3), "paper_found": reading.rectified.paper_found},
        "warnings": list(reading.warnings),
        "timings_ms": {k: round(v, 1) for k, v in reading.timings_ms.items()},
    }


def write_json(path: str | Path, data: dict) -> Path:
    p = Path(path)
    p.write_text(json.dumps(data, indent=1, default=float))
    return p


def overlay_image(reading: EcgReading) -> np.ndarray:
    """uint8 (H, W, 3) RGB: the rectified image with lead boxes (blue) and traced signals (green) drawn on it."""
    img = reading.rectified.image.copy()
    for b, poly in zip(reading.layout.boxes, reading.traces_px):
        cv2.rectangle(img, (int(b.x0), int(b.y0)), (int(b.x1), int(b.y1)), (40, 80, 220), 1)
        cv2.putText(img, b.lead, (int(b.x0) + 4, int(b.y0) + 18), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (40, 80, 220), 2)
        if poly.shape[0] > 1:
            cv2.polylines(img, [np.round(poly).astype(np.int32).reshape(-1, 1, 2)], False, (0, 200, 0), 2)
    return img


def write_png(path: str | Path, rgb: np.ndarray) -> Path:
    p = Path(path)
    if not cv2.imwrite(str(p), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
        raise OSError(f"cannot write {p}")
    return p


def write_wfdb(directory: str | Path, name: str, signals_mv: np.ndarray, fs_hz: float = 500.0,
               comments: list[str] | None = None) -> Path:
    """WFDB format 16 record (NaN -> WFDB missing value). Returns the .hea path."""
    return wfdb.write_record(directory, name, signals_mv, fs_hz, LEADS, comments)


def dicom_waveform(signals_mv: np.ndarray, fs_hz: float = 500.0, *, patient_name: str = "",
                   patient_id: str = "", description: str = "Digitised paper ECG", model_tag: str = ""):
    """A pydicom Dataset of the 12-lead ECG Waveform Storage IOD (SS samples in uV; unprinted samples are 0 and
    the gaps are listed in the ``WaveformAnnotationSequence`` free text)."""
    import datetime

    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    x = np.asarray(signals_mv, np.float64)
    n, L = x.shape
    now = datetime.datetime.now()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = TWELVE_LEAD_ECG_SOP
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = TWELVE_LEAD_ECG_SOP
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality = "ECG"
    ds.SpecificCharacterSet = "ISO_IR 192"  # UTF-8: a Chinese patient name survives
    ds.PatientName, ds.PatientID = patient_name, patient_id
    ds.PatientBirthDate, ds.PatientSex = "", ""
    ds.StudyDate = ds.ContentDate = now.strftime("%Y%m%d")
    ds.StudyTime = ds.ContentTime = now.strftime("%H%M%S")
    ds.AcquisitionDateTime = now.strftime("%Y%m%d%H%M%S")
    ds.StudyID, ds.SeriesNumber, ds.InstanceNumber = "1", 1, 1
    ds.AccessionNumber = ""
    ds.ReferringPhysicianName = ""
    ds.AcquisitionContextSequence = []  # Type 2 (PS3.3 C.7.6.14)
    ds.Manufacturer = "CardioCart"
    ds.SeriesDescription = description
    grp = Dataset()
    grp.WaveformOriginality = "DERIVED"
    grp.NumberOfWaveformChannels = L
    grp.NumberOfWaveformSamples = n
    grp.SamplingFrequency = float(fs_hz)
    grp.MultiplexGroupLabel = "RHYTHM"
    chans = []
    for j, lead in enumerate(LEADS[:L]):
        c = Dataset()
        c.ChannelLabel = lead
        c.ChannelStatus = "OK" if np.isfinite(x[:, j]).all() else "TEST DATA"
        src = Dataset()
        src.CodeValue, src.CodeMeaning = _SCPECG[lead]
        src.CodingSchemeDesignator = "SCPECG"
        src.CodingSchemeVersion = "1.3"
        c.ChannelSourceSequence = [src]
        c.ChannelSensitivity = 1.0
        unit = Dataset()
        unit.CodeValue, unit.CodingSchemeDesignator, unit.CodeMeaning = "uV", "UCUM", "microvolt"
        c.ChannelSensitivityUnitsSequence = [unit]
        c.ChannelSensitivityCorrectionFactor = 1.0
        c.ChannelBaseline = 0.0
        c.ChannelSampleSkew = 0.0
        c.WaveformBitsStored = 16
        c.FilterLowFrequency = 0.05
        c.FilterHighFrequency = 150.0
        chans.append(c)
    grp.ChannelDefinitionSequence = chans
    grp.WaveformBitsAllocated = 16
    grp.WaveformSampleInterpretation = "SS"
    uv = np.where(np.isfinite(x), np.clip(np.round(x * 1000.0), -32768, 32767), 0).astype("<i2")
    grp.WaveformData = uv.tobytes()
    ds.WaveformSequence = [grp]
    gaps = [LEADS[j] for j in range(L) if not np.isfinite(x[:, j]).all()]
    notes = [f"digitised from a printed ECG by {model_tag or 'device.ecg'}; not for diagnostic use without review"]
    if gaps:
        notes.append("leads printed only in part (unprinted samples set to 0): " + ", ".join(gaps))
    anns = []
    for text in notes:
        ann = Dataset()
        ann.UnformattedTextValue = text
        ann.ReferencedWaveformChannels = [1, 0]  # multiplex group 1, all channels
        anns.append(ann)
    ds.WaveformAnnotationSequence = anns
    return ds


def write_dicom(path: str | Path, signals_mv: np.ndarray, fs_hz: float = 500.0, **kw) -> Path:
    """Write :func:`dicom_waveform` to ``path``."""
    ds = dicom_waveform(signals_mv, fs_hz, **kw)
    p = Path(path)
    ds.save_as(str(p), enforce_file_format=True)
    return p


def read_dicom_waveform(path: str | Path) -> tuple[np.ndarray, float, tuple[str, ...]]:
    """(signals mV (n, L) float64, fs_hz, channel labels) from a DICOM waveform file."""
    import pydicom

    name = Path(path).name
    try:
        ds = pydicom.dcmread(str(path))
    except Exception as exc:  # noqa: BLE001 - damaged files give InvalidDicomError, struct.error, MemoryError...
        raise InputError(f"{name} is not a readable DICOM file ({exc.__class__.__name__}); export the ECG "
                         "again") from None
    try:
        g = ds.WaveformSequence[0]
        arr = np.frombuffer(g.WaveformData, "<i2").reshape(int(g.NumberOfWaveformSamples),
                                                           int(g.NumberOfWaveformChannels))
        sens = np.array([float(c.ChannelSensitivity) * float(c.ChannelSensitivityCorrectionFactor)
                         for c in g.ChannelDefinitionSequence])
        fs, labels = float(g.SamplingFrequency), tuple(str(c.ChannelLabel) for c in g.ChannelDefinitionSequence)
        x = arr * sens / 1000.0
    except (AttributeError, IndexError, KeyError, TypeError, ValueError, OverflowError, NotImplementedError) as exc:
        raise InputError(f"{name} holds no usable ECG waveform ({exc.__class__.__name__}: {str(exc)[:80]}); give a "
                         "DICOM 12-lead ECG") from None
    if not (np.isfinite(fs) and fs > 0) or not np.all(np.isfinite(x)) or x.shape[1] != len(labels):
        raise InputError(f"{name}: the waveform's sampling rate, sensitivities or channels are not usable; give a "
                         "DICOM 12-lead ECG")
    return x, fs, labels
