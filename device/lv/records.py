"""Measurement records: every LV number with its unit, the model and version that made it, the frames it came
from, and whether a person confirmed or edited it (house rule 4). Frozen; a change makes a new record.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

UNITS = {"_mm2": "mm2", "_cm2": "cm2", "_ml_m2": "mL/m2", "_mm": "mm", "_ml": "mL", "_pct": "%", "_mmhg": "mmHg"}


def unit_of(name: str) -> str:
    for suffix, unit in UNITS.items():
        if name.endswith(suffix):
            return unit
    return ""


@dataclass(frozen=True)
class LvMeasurement:
    name: str                   # with its unit, e.g. "ef_pct", "lvidd_mm"
    value: float
    unit: str
    view: str                   # "SAX", "A4C", "A2C", "biplane", "PLAX"
    model: str                  # model tag ("lv_seg 1.0.0 int8/onnxruntime-CPU") or "manual"
    model_version: str
    frames: tuple[int, ...]     # frame indices the value was measured on (e.g. (ED, ES))
    confirmed: bool = False
    edited: bool = False
    method: str = ""            # e.g. "method of discs, biplane", "Teichholz"

    def confirm(self) -> "LvMeasurement":
        """A person accepted the value as it is."""
        return replace(self, confirmed=True)

    def edit(self, value: float, method: str | None = None) -> "LvMeasurement":
        """A person changed the value (by dragging a contour or caliper, or typing it): edited and confirmed."""
        return replace(self, value=float(value), edited=True, confirmed=True, method=method or self.method)


def records_from(values: dict[str, float | None], *, view: str, model: str, model_version: str,
                 frames: tuple[int, ...], method: str = "") -> list[LvMeasurement]:
    """Records for the non-missing, finite values of a name -> value dict."""
    return [LvMeasurement(k, float(v), unit_of(k), view, model, model_version, tuple(frames), method=method)
            for k, v in values.items() if v is not None and math.isfinite(float(v))]
