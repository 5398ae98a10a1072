"""The clinical records every layer shares: patient, exam, capture, measurement, finding, alert.

Frozen dataclasses with units in names; the store returns them (``device.store.clinical``), the analysis packages,
use cases, report assembly and the web UI read them. They import nothing from the rest of ``device`` (the
import-linter contract "domain is the bottom layer" holds it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

MeasurementSource = Literal["auto", "confirmed", "edited", "manual"]
MEASUREMENT_SOURCES: tuple[str, ...] = ("auto", "confirmed", "edited", "manual")
# a person has looked at the value (confirmed it, changed it or typed it)
REVIEWED_SOURCES: frozenset[str] = frozenset({"confirmed", "edited", "manual"})
ALERT_LEVELS: tuple[str, ...] = ("info", "warning", "critical")


@dataclass(frozen=True)
class Patient:
    """``sex``: M, F, O or U (unknown); ``birth_date``: YYYY-MM-DD or ""."""

    id: int
    patient_id: str
    name: str
    sex: str
    birth_date: str


@dataclass(frozen=True)
class Exam:
    """One exam (a DICOM study): ``kind`` echo | ecg | perfusion, ``status`` open | closed; ``created_at`` ISO UTC."""

    id: int
    patient: Patient
    kind: str
    accession: str
    study_uid: str
    status: str
    protocol: tuple[str, ...]
    created_at: str
    height_cm: float | None = None   # body size at this exam (report: BSA by Mosteller, indexed volumes)
    weight_kg: float | None = None
    indication: str = ""


@dataclass(frozen=True)
class Capture:
    """A stored payload of an exam (clip, frame, photo, signal, volume, document) kept as a content-addressed blob;
    ``quality`` 0..1 when a model scored it; ``meta`` JSON-able (e.g. ``fps``, ``mm_per_px``, ``sector_bbox``)."""

    id: int
    exam_id: int
    kind: str
    blob_sha256: str
    label: str
    quality: float | None
    meta: dict[str, Any]
    created_at: str


@dataclass(frozen=True)
class Measurement:
    """One stored value. ``name`` carries the unit (``a4c_ef_pct``, ``qtc_bazett_ms``), ``unit`` is UCUM-like
    (``%``, ``mL``, ``ms``); ``model_name``/``model_version`` name the model that made it ("" when a person typed it);
    ``frames``: frame indices it was measured on; ``source``: auto | confirmed | edited | manual, ``edited_by``: the
    user who confirmed, changed or typed it; ``supersedes``: the row this one replaces (a review makes a new row)."""

    id: int
    exam_id: int
    capture_id: int | None
    name: str
    value: float
    unit: str
    model_name: str
    model_version: str
    frames: tuple[int, ...]
    source: str
    supersedes: int | None
    created_at: str
    edited_by: int | None = None

    @property
    def model(self) -> str:
        """``"lv_seg 1.2.0"`` (the model's name and version), "" for a value a person entered."""
        return f"{self.model_name} {self.model_version}".strip()

    @property
    def reviewed(self) -> bool:
        return self.source in REVIEWED_SOURCES


@dataclass(frozen=True)
class Finding:
    """A model's or a person's statement about an exam (``kind`` e.g. ``echo_view``, ``perfusion_territory``,
    ``lv_geometry``), ``score`` 0..1 when it has one, ``detail`` JSON-able; ``confirmed_by`` a user id once a
    person confirmed it."""

    id: int
    exam_id: int
    capture_id: int | None
    kind: str
    label: str
    score: float | None
    model_name: str
    model_version: str
    detail: dict[str, Any]
    confirmed_by: int | None
    created_at: str


@dataclass(frozen=True)
class Alert:
    """A value that needs a person now (``level`` info | warning | critical), until acknowledged."""

    id: int
    exam_id: int | None
    level: str
    code: str
    message: str
    detail: dict[str, Any]
    created_at: str
    acknowledged_by: int | None = None
    acknowledged_at: str | None = None

    @property
    def open(self) -> bool:
        return self.acknowledged_at is None
