"""What report assembly needs from the settings, built once by the caller (web UI, core, CLI) from the settings it
loaded (``--config``, $CARDIOCART_CONFIG or the site file) and passed in: never re-read from disk here."""

from __future__ import annotations

from dataclasses import dataclass

from device.config import Settings
from device.lv.casetable import CaseTable, load_case_table


@dataclass(frozen=True)
class ReportSettings:
    """``case_table``: the LV case table (the site's ``[lv] case_table`` or the bundled one)."""

    case_table: CaseTable

    @classmethod
    def from_settings(cls, settings: Settings) -> ReportSettings:
        return cls(case_table=load_case_table(settings.lv.case_table or None))

    @classmethod
    def bundled(cls) -> ReportSettings:
        """The bundled defaults (tests and tools that have no site settings)."""
        return cls(case_table=load_case_table(None))
