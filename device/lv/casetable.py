"""Case table (patent 001): measurement ranges -> interpretations, with critical alerts.

The table is a CSV that a site can edit (default ``device/lv/case_table.csv``; lines starting with ``#`` are
comments). Columns: measurement, sex (male/female/any), low (inclusive, blank = open), high (exclusive, blank =
open), interpretation, alert ("critical" or blank), source. Ranges of one measurement and sex must not overlap.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

from device.errors import ConfigError, InputError

DEFAULT_TABLE = Path(__file__).with_name("case_table.csv")
SEXES = ("male", "female")
_COLUMNS = ("measurement", "sex", "low", "high", "interpretation", "alert", "source")


@dataclass(frozen=True)
class CaseRule:
    """One row of the case table."""

    measurement: str
    sex: str
    low: float | None
    high: float | None
    interpretation: str
    critical: bool
    source: str

    def contains(self, value: float) -> bool:
        return (self.low is None or value >= self.low) and (self.high is None or value < self.high)


@dataclass(frozen=True)
class Interpretation:
    """A measurement read against the case table."""

    measurement: str
    value: float
    sex: str
    interpretation: str          # "normal", "mildly abnormal", ... or "no reference" when the table has no range
    normal_low: float | None     # the normal range for this sex, for the report
    normal_high: float | None
    alert: bool                  # True for critical values (e.g. EF below 40 %)
    source: str


@dataclass(frozen=True)
class CaseTable:
    rules: tuple[CaseRule, ...]

    def for_measurement(self, measurement: str, sex: str) -> list[CaseRule]:
        return [r for r in self.rules if r.measurement == measurement and r.sex in (sex, "any")]


def _num(text: str, line: int, col: str) -> float | None:
    text = (text or "").strip()
    if not text:
        return None
    try:
        v = float(text)
    except ValueError:
        raise ConfigError(f"case table line {line}: {col} {text!r} is not a number; fix the file") from None
    if not math.isfinite(v):
        raise ConfigError(f"case table line {line}: {col} must be finite; fix the file")
    return v


def parse_case_table(text: str) -> CaseTable:
    """Parse case-table CSV text. Raises ConfigError naming the line of the first problem."""
    lines = [(i + 1, ln) for i, ln in enumerate(text.splitlines()) if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise ConfigError("the case table is empty; restore device/lv/case_table.csv or point to a valid file")
    header = next(csv.reader([lines[0][1]]))
    if tuple(h.strip() for h in header[: len(_COLUMNS)]) != _COLUMNS:
        raise ConfigError(f"case table line {lines[0][0]}: the header must be {','.join(_COLUMNS)}")
    rules = []
    for line_no, ln in lines[1:]:
        cells = next(csv.reader(io.StringIO(ln)))
        if len(cells) < 6:
            raise ConfigError(f"case table line {line_no}: expected {len(_COLUMNS)} columns, got {len(cells)}")
        cells += [""] * (len(_COLUMNS) - len(cells))
        m, sex, lo, hi, interp, alert, source = (c.strip() for c in cells[: len(_COLUMNS)])
        if not m:
            raise ConfigError(f"case table line {line_no}: the measurement name is empty")
        if sex not in (*SEXES, "any"):
            raise ConfigError(f"case table line {line_no}: sex must be male, female or any; got {sex!r}")
        low, high = _num(lo, line_no, "low"), _num(hi, line_no, "high")
        if low is not None and high is not None and not low < high:
            raise ConfigError(f"case table line {line_no}: low {low} must be below high {high}")
        if alert not in ("", "critical"):
            raise ConfigError(f"case table line {line_no}: alert must be blank or 'critical'; got {alert!r}")
        if not interp:
            raise ConfigError(f"case table line {line_no}: the interpretation is empty")
        rule = CaseRule(m, sex, low, high, interp, alert == "critical", source)
        for other in rules:
            if other.measurement == m and (other.sex == sex or "any" in (other.sex, sex)) and _overlap(other, rule):
                raise ConfigError(f"case table line {line_no}: the range of {m} ({sex}) overlaps an earlier row")
        rules.append(rule)
    return CaseTable(tuple(rules))


def _overlap(a: CaseRule, b: CaseRule) -> bool:
    a_lo, a_hi = a.low if a.low is not None else -math.inf, a.high if a.high is not None else math.inf
    b_lo, b_hi = b.low if b.low is not None else -math.inf, b.high if b.high is not None else math.inf
    return a_lo < b_hi and b_lo < a_hi


def load_case_table(path: str | Path | None = None) -> CaseTable:
    """Read and validate the case table file (default: the bundled ASE/EACVI table)."""
    p = Path(path) if path is not None else DEFAULT_TABLE
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the case table {p} ({exc.strerror}); check the path in the settings") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"the case table {p} is not UTF-8 text (byte {exc.start}); save it as UTF-8 CSV") from None
    return parse_case_table(text)


def interpret(measurements: dict[str, float | None], sex: str, table: CaseTable | None = None) -> list[Interpretation]:
    """Read each measurement (name with unit, e.g. ``ef_pct``) against the table for this sex.

    measurements: name -> value; None values are skipped. sex: "male" or "female" (reference values differ).
    Names the table does not know get interpretation "no reference" and no alert.
    """
    sex = (sex or "").strip().lower()
    if sex in ("m", "f"):
        sex = {"m": "male", "f": "female"}[sex]
    if sex not in SEXES:
        raise InputError(f"the patient's sex is {sex!r}; reference ranges need 'male' or 'female' - enter it first")
    table = table or load_case_table()
    out = []
    for name, value in measurements.items():
        if value is None:
            continue
        v = float(value)
        if not math.isfinite(v):
            continue
        rules = table.for_measurement(name, sex)
        normal = next((r for r in rules if r.interpretation == "normal"), None)
        hit = next((r for r in rules if r.contains(v)), None)
        out.append(Interpretation(
            measurement=name, value=v, sex=sex,
            interpretation=hit.interpretation if hit else "no reference",
            normal_low=normal.low if normal else None, normal_high=normal.high if normal else None,
            alert=bool(hit and hit.critical), source=hit.source if hit else ""))
    return out


def alerts(interpretations: list[Interpretation]) -> list[Interpretation]:
    """The critical ones (for the alert banner)."""
    return [i for i in interpretations if i.alert]
