"""Report rows for the echo / LV report: each measurement with its label, reference range (by sex),
interpretation from the case table, alert flag, the model that made it and whether a person confirmed or edited it.
The UI and the report layer render these; they hold no clinical logic of their own.
"""

from __future__ import annotations

from dataclasses import dataclass

from device import DISCLAIMER_EN, DISCLAIMER_ZH
from device.lv.casetable import CaseTable, interpret
from device.lv.records import LvMeasurement

LABELS_EN = {
    "edv_ml": "LV end-diastolic volume", "esv_ml": "LV end-systolic volume", "sv_ml": "Stroke volume",
    "ef_pct": "LV ejection fraction", "lvidd_mm": "LVIDd", "lvids_mm": "LVIDs", "ivsd_mm": "IVSd",
    "lvpwd_mm": "LVPWd", "aortic_root_mm": "Aortic root", "la_diameter_mm": "LA diameter",
    "fs_pct": "Fractional shortening", "teichholz_edv_ml": "EDV (Teichholz)", "teichholz_esv_ml": "ESV (Teichholz)",
    "teichholz_ef_pct": "EF (Teichholz)", "cavity_area_mm2": "LV cavity area", "myo_area_mm2": "Myocardium area",
}


@dataclass(frozen=True)
class ReportRow:
    name: str
    label: str
    value: float
    unit: str
    view: str
    method: str
    reference: str            # "52-73 %" or ""
    interpretation: str
    alert: bool
    model: str
    frames: tuple[int, ...]
    confirmed: bool
    edited: bool


@dataclass(frozen=True)
class LvReportSection:
    rows: tuple[ReportRow, ...]
    alerts: tuple[str, ...]   # e.g. "LV ejection fraction 35 % (moderately abnormal)"
    disclaimer_en: str = DISCLAIMER_EN
    disclaimer_zh: str = DISCLAIMER_ZH


def _ref(lo: float | None, hi: float | None, unit: str) -> str:
    if lo is None and hi is None:
        return ""
    if lo is None:
        return f"< {hi:g} {unit}"
    if hi is None:
        return f">= {lo:g} {unit}"
    return f"{lo:g}-{hi:g} {unit}"


def lv_report_section(records: list[LvMeasurement], sex: str, table: CaseTable | None = None) -> LvReportSection:
    """Rows for the report, in the order given; sex ("male"/"female") picks the reference ranges."""
    rows, alerts = [], []
    for r in records:
        (i,) = interpret({r.name: r.value}, sex, table) or [None]
        interp = i.interpretation if i else "no reference"
        row = ReportRow(r.name, LABELS_EN.get(r.name, r.name), r.value, r.unit, r.view, r.method,
                        _ref(i.normal_low, i.normal_high, r.unit) if i else "", interp, bool(i and i.alert),
                        r.model, r.frames, r.confirmed, r.edited)
        rows.append(row)
        if row.alert:
            alerts.append(f"{row.label} {row.value:.0f} {row.unit} ({interp})")
    return LvReportSection(tuple(rows), tuple(alerts))
