"""A demonstration report of each kind (used by ``python -m device export sample`` and by tests).

The values are illustrative, made by hand; they are labelled as a demonstration in the free text.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from device import i18n
from device.reports.dicom.ids import study_uid_for
from device.reports.model import ReportExam, KeyImage, ReportPatient, ReportDoc, ReportMeasurement, Section

_TZ = dt.timezone(dt.timedelta(hours=8))


def _gradient_image(h: int = 96, w: int = 128, rgb: bool = False) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    grey = ((x * 255) // max(w - 1, 1)).astype(np.uint8)
    if not rgb:
        return grey
    return np.stack([grey, ((y * 255) // max(h - 1, 1)).astype(np.uint8), np.full_like(grey, 90)], axis=-1)


def _bullseye(size: int = 128) -> np.ndarray:
    y, x = np.mgrid[0:size, 0:size] - (size - 1) / 2
    r = np.hypot(x, y) / (size / 2)
    img = np.zeros((size, size, 3), np.uint8)
    inside = r <= 1
    img[inside, 0] = (255 * (1 - r[inside])).astype(np.uint8)
    img[inside, 1] = (200 * r[inside]).astype(np.uint8)
    return img


def sample_report(kind: str = "echo", language: str = "en", accession: str = "ACC0001") -> ReportDoc:
    """An unsigned version-1 report of ``kind`` with two sections, two key images and free text."""
    patient = ReportPatient(patient_id="PID-0001", name="王小明" if language == "zh-CN" else "Doe, Jane", sex="F",
                      birth_date=dt.date(1960, 5, 17))
    exam = ReportExam(accession=accession, study_uid=study_uid_for("demo-site", accession),
                exam_datetime=dt.datetime(2026, 11, 21, 9, 30, 0, tzinfo=_TZ),
                description={"echo": "Transthoracic echo", "ecg": "12-lead ECG",
                             "perfusion": "SPECT myocardial perfusion"}[kind], institution="Demo Hospital")
    zh = language == "zh-CN"

    def L(key: str, en: str) -> str:  # noqa: N802 - the zh-CN demo's words come from the glossary
        return i18n.term("zh-CN", key) if zh else en
    if kind == "echo":
        sections = (
            Section(L("echo.structure.lv_function", "Left ventricle"), (
                ReportMeasurement("ef_pct", 58.2, "%", L("measure.ef_pct", "LVEF"), 52, 72, L("interp.normal", "normal"),
                                  "lv_seg", "1.0.0"),
                ReportMeasurement("edv_ml", 112.0, "mL", L("measure.edv_ml", "LVEDV"), 56, 104,
                                  L("interp.mildly abnormal", "mildly enlarged"),
                                  "lv_seg", "1.0.0"),
                ReportMeasurement("esv_ml", 46.8, "mL", L("measure.esv_ml", "LVESV"), 19, 49, "", "lv_seg", "1.0.0"),
            )),
            Section(L("echo.structure.other", "Other"), (
                ReportMeasurement("hr_bpm", 72, "/min", L("measure.hr_bpm", "HR"), 60, 100),
                ReportMeasurement("gls_pct", -18.5, "%", L("measure.gls_pct", "GLS"), None, -16, "", "lv_strain",
                                  "0.3.1"),
            )),
        )
    elif kind == "ecg":
        sections = (
            Section(L("ecg.section.intervals", "Intervals"), (
                ReportMeasurement("hr_bpm", 68, "/min", L("measure.hr_bpm", "HR"), 60, 100, "", "ecg_digitise",
                                  "1.0.0"),
                ReportMeasurement("pr_ms", 164, "ms", "PR", 120, 200, "", "ecg_digitise", "1.0.0"),
                ReportMeasurement("qrs_ms", 92, "ms", "QRS", 70, 110, "", "ecg_digitise", "1.0.0"),
                ReportMeasurement("qtc_ms", 472, "ms", "QTc", None, 460, L("finding.long QTc", "QTc prolonged"),
                                  "ecg_digitise",
                                  "1.0.0"),
            )),
        )
    else:
        sections = (
            Section(L("perfusion.summary", "Perfusion"), (
                ReportMeasurement("sss", 6, "1", L("perfusion.sss", "Summed stress score"), None, 3,
                                  L("perfusion.ischaemia", "mild ischaemia"),
                                  "perf_polar", "1.0.0"),
                ReportMeasurement("defect_extent_pct", 8.0, "%", L("perfusion.total_extent_pct", "Defect extent"), None, 5,
                                  "", "perf_polar",
                                  "1.0.0"),
            )),
        )
    images = (KeyImage.from_array(_gradient_image(), L("sample.plax_frame", "PLAX frame") if kind == "echo" else
                                  L("sample.lead_ii", "Lead II")),
              KeyImage.from_array(_bullseye() if kind == "perfusion" else _gradient_image(rgb=True),
                                  L("perfusion.bullseye_stress", "Bullseye") if kind == "perfusion" else
                                  L("sample.a4c_ed", "A4C end-diastole"),
                                  kind="bullseye" if kind == "perfusion" else "image"))
    text = ("演示报告：数值为示例。" if zh else "Demonstration report: the values are illustrative.")
    return ReportDoc(patient=patient, exam=exam, kind=kind, sections=sections, key_images=images, free_text=text,
                     language=language)
