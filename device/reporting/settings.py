"""What report assembly needs from the settings, built once by the caller (web UI, core, CLI) from the settings it
loaded (``--config``, $CARDIOCART_CONFIG or the site file) and passed in: never re-read from disk here."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from device.config import Settings
from device.errors import ConfigError
from device.lv.casetable import CaseTable, load_case_table

PERFUSION_REFERENCE = Path(__file__).with_name("perfusion_reference.toml")


@dataclass(frozen=True)
class PerfusionReference:
    """Summed-score thresholds of the perfusion report (``perfusion_reference.toml``)."""

    sss_normal_max: float
    sss_mild_from: float
    sss_moderate_from: float
    sss_severe_from: float
    sds_normal_max: float
    sds_ischaemia_from: float

    def sss_category(self, sss: float) -> str:
        """"normal", "mild", "moderate" or "severe" (the SSS bands)."""
        if sss < self.sss_mild_from:
            return "normal"
        return "mild" if sss < self.sss_moderate_from else "moderate" if sss < self.sss_severe_from else "severe"


def load_perfusion_reference(path: Path = PERFUSION_REFERENCE) -> PerfusionReference:
    try:
        with open(path, "rb") as fh:
            d = tomllib.load(fh)
        return PerfusionReference(float(d["sss"]["normal_max"]), float(d["sss"]["mild_from"]),
                                  float(d["sss"]["moderate_from"]), float(d["sss"]["severe_from"]),
                                  float(d["sds"]["normal_max"]), float(d["sds"]["ischaemia_from"]))
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"perfusion reference table {path} is not valid ({exc}); restore it from git") from exc


@dataclass(frozen=True)
class ReportSettings:
    """``case_table``: the LV case table (the site's ``[lv] case_table`` or the bundled one); ``perfusion``: the
    summed-score thresholds of the perfusion report."""

    case_table: CaseTable
    perfusion: PerfusionReference

    @classmethod
    def from_settings(cls, settings: Settings) -> ReportSettings:
        return cls(case_table=load_case_table(settings.lv.case_table or None), perfusion=load_perfusion_reference())

    @classmethod
    def bundled(cls) -> ReportSettings:
        """The bundled defaults (tests and tools that have no site settings)."""
        return cls(case_table=load_case_table(None), perfusion=load_perfusion_reference())
