"""The report data model: frozen dataclasses for an echo, ECG or perfusion report, plus the rules of versioning.

A report is a value. Editing makes a new value with ``version + 1``; the store keeps every version. A signed report
is immutable: :func:`edit` refuses it, and :func:`correct` makes a new unsigned version that records what it amends
and why. Nothing here touches files, clocks or databases (callers pass ``now``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import io
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from device import i18n
from device.errors import InputError, UserError

ReportKind = Literal["echo", "ecg", "perfusion"]
Language = Literal["en", "zh-CN"]
KINDS: tuple[str, ...] = ("echo", "ecg", "perfusion")
LANGUAGES: tuple[str, ...] = ("en", "zh-CN")
SEXES: tuple[str, ...] = ("M", "F", "O", "")


class SignedReportError(UserError):
    """An attempt to change a signed report (make a correction instead)."""


@dataclass(frozen=True)
class ReportPatient:
    """Who the report is of, as printed and written to DICOM (the stored record is ``device.domain.Patient``).
    ``sex`` is DICOM's M, F, O or "" (unknown); ``birth_date`` may be unknown."""

    patient_id: str
    name: str
    sex: str = ""
    birth_date: dt.date | None = None


@dataclass(frozen=True)
class ReportExam:
    """The report's header of its exam (DICOM study; the stored record is ``device.domain.Exam``). ``study_uid`` is
    shared by every object of the exam."""

    accession: str
    study_uid: str
    exam_datetime: dt.datetime
    description: str = ""
    institution: str = ""
    indication: str = ""
    height_cm: float | None = None
    weight_kg: float | None = None

    @property
    def bsa_m2(self) -> float | None:
        """Body surface area by Mosteller, sqrt(height_cm * weight_kg / 3600), or None without both."""
        if not self.height_cm or not self.weight_kg or self.height_cm <= 0 or self.weight_kg <= 0:
            return None
        return (self.height_cm * self.weight_kg / 3600.0) ** 0.5


@dataclass(frozen=True)
class ReportMeasurement:
    """One result row.

    ``name`` is the machine key (e.g. ``"lvef"``, ``"ef_pct"``, ``"qtc_ms"``) used to look up codes;
    ``label`` is what a reader sees (defaults to the name). ``unit`` is UCUM where one exists (``%``, ``mL``,
    ``mm``, ``ms``, ``/min``, ``g``). ``ref_low``/``ref_high`` bound the reference range (either may be None).
    ``model_name``/``model_version`` name the model that made the value ("" for a manual entry).
    ``confirmed`` says a person has reviewed the value.
    """

    name: str
    value: float
    unit: str
    label: str = ""
    ref_low: float | None = None
    ref_high: float | None = None
    interpretation: str = ""
    model_name: str = ""
    model_version: str = ""
    confirmed: bool = False

    @property
    def display_label(self) -> str:
        return self.label or self.name

    @property
    def reference_text(self) -> str:
        """The reference range as text: ``"52–72"``, ``"≥ 52"``, ``"≤ 450"`` or ``""``."""
        lo, hi = self.ref_low, self.ref_high
        if lo is not None and hi is not None:
            return f"{_num(lo)}–{_num(hi)}"
        if lo is not None:
            return f"≥ {_num(lo)}"
        if hi is not None:
            return f"≤ {_num(hi)}"
        return ""

    @property
    def flag(self) -> str:
        """``"L"`` below the range, ``"H"`` above it, ``""`` inside or without a range."""
        if self.ref_low is not None and self.value < self.ref_low:
            return "L"
        if self.ref_high is not None and self.value > self.ref_high:
            return "H"
        return ""

    @property
    def display_value(self) -> str:
        """The value as the report prints it, rounded by unit as echo labs write them (ASE): volumes in mL, EF and
        other percentages, times in ms, rates and angles to integers; mm and cm to one decimal; scores 0..1 to
        two; anything else to 4 significant digits."""
        return display_number(self.value, self.unit)

    @property
    def model_text(self) -> str:
        return f"{self.model_name} {self.model_version}".strip() if self.model_name else ""


SECTION_ROLES: tuple[str, ...] = ("body", "appendix")


@dataclass(frozen=True)
class Section:
    """A titled group of measurements (e.g. "Left ventricle", "Intervals"). ``role`` "appendix" marks technical rows
    (view classifier confidences, model scores): the PDF prints them after the report body, under the appendix
    heading, and they never count as key findings."""

    title: str
    measurements: tuple[ReportMeasurement, ...] = ()
    role: str = "body"


@dataclass(frozen=True, eq=False)
class KeyImage:
    """A key image or bullseye map, held as PNG bytes (8-bit grey or RGB).

    ``key`` is a stable content key (used to derive the DICOM SOP Instance UID): by default the first 16 hex digits
    of the PNG's sha256. ``kind`` is ``"image"`` or ``"bullseye"``.
    """

    png: bytes
    caption: str = ""
    kind: str = "image"
    key: str = ""

    def __post_init__(self) -> None:
        if not self.png.startswith(b"\x89PNG\r\n\x1a\n"):
            raise InputError(f"key image '{self.caption}' is not a PNG; pass PNG bytes or use KeyImage.from_array")
        if not self.key:
            object.__setattr__(self, "key", hashlib.sha256(self.png).hexdigest()[:16])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, KeyImage) and (self.png, self.caption, self.kind, self.key) == (
            other.png, other.caption, other.kind, other.key)

    def __hash__(self) -> int:
        return hash((self.key, self.caption, self.kind))

    @classmethod
    def from_array(cls, image: np.ndarray, caption: str = "", kind: str = "image", key: str = "") -> KeyImage:
        """From a uint8 array, shape (H, W) grey or (H, W, 3) RGB (not BGR)."""
        from PIL import Image

        arr = np.asarray(image)
        if arr.dtype != np.uint8 or not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 3)):
            raise InputError(f"key image '{caption}' must be uint8 (H, W) or (H, W, 3); got {arr.dtype} {arr.shape}")
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, format="PNG", optimize=False)
        return cls(png=buf.getvalue(), caption=caption, kind=kind, key=key)

    def to_array(self) -> np.ndarray:
        """Decode to uint8 (H, W) for grey or (H, W, 3) RGB; palette/alpha images become RGB."""
        from PIL import Image

        with Image.open(io.BytesIO(self.png)) as im:
            if im.mode not in ("L", "RGB"):
                im = im.convert("RGB")
            return np.asarray(im).copy()


@dataclass(frozen=True)
class Signature:
    """Who signed and when (timezone-aware)."""

    signer: str
    signed_at: dt.datetime


@dataclass(frozen=True)
class ReportDoc:
    """A report of one exam in one language, at one version.

    ``amends_version`` and ``amendment_reason`` are set on a correction of a signed version.
    """

    patient: ReportPatient
    exam: ReportExam
    kind: str
    sections: tuple[Section, ...] = ()
    key_images: tuple[KeyImage, ...] = ()
    free_text: str = ""
    language: str = "en"
    version: int = 1
    signature: Signature | None = None
    amends_version: int | None = None
    amendment_reason: str = ""
    title: str = ""

    def __post_init__(self) -> None:
        for name in ("sections", "key_images"):
            if not isinstance(getattr(self, name), tuple):
                object.__setattr__(self, name, tuple(getattr(self, name)))
        if self.kind not in KINDS:
            raise InputError(f"report kind '{self.kind}' is unknown; use one of {', '.join(KINDS)}")
        if self.language not in LANGUAGES:
            raise InputError(f"report language '{self.language}' is unknown; use one of {', '.join(LANGUAGES)}")
        if self.version < 1:
            raise InputError(f"report version must be 1 or more, got {self.version}")
        if self.patient.sex not in SEXES:
            raise InputError(f"patient sex '{self.patient.sex}' is invalid; use M, F, O or leave it empty")

    @property
    def signed(self) -> bool:
        return self.signature is not None

    @property
    def disclaimer(self) -> str:
        """The project's disclaimer in the report's language; it cannot be edited away."""
        return i18n.t(self.language, "disclaimer")

    @property
    def measurements(self) -> tuple[ReportMeasurement, ...]:
        return tuple(m for s in self.sections for m in s.measurements)

    @property
    def body_sections(self) -> tuple[Section, ...]:
        return tuple(s for s in self.sections if s.role != "appendix")

    @property
    def appendix_sections(self) -> tuple[Section, ...]:
        return tuple(s for s in self.sections if s.role == "appendix")

    @property
    def key_findings(self) -> tuple[ReportMeasurement, ...]:
        """Body values outside their reference range (flag H or L), in report order: what the summary lists first."""
        return tuple(m for s in self.body_sections for m in s.measurements if m.flag)

    @property
    def models_used(self) -> tuple[str, ...]:
        """Distinct "name version" of every model that made a value, in order of first use."""
        seen: dict[str, None] = {}
        for m in self.measurements:
            if m.model_text:
                seen.setdefault(m.model_text, None)
        return tuple(seen)

    @property
    def content_key(self) -> str:
        """Stable key of this report's content for DICOM UIDs.

        Signed: ``"<kind>-<language>-v<version>-signed"`` (a signed version never changes). Draft: the same with
        ``-draft-<hash>`` of the content, because a store may edit a draft in place; so an object sent earlier
        never hides a later one on a PACS, and re-exporting unchanged content gives the same UID.
        """
        base = f"{self.kind}-{self.language}-v{self.version}"
        if self.signed:
            return f"{base}-signed"
        content = repr((self.patient, self.exam, self.sections, tuple(k.key for k in self.key_images),
                        tuple(k.caption for k in self.key_images), self.free_text, self.title,
                        self.amends_version, self.amendment_reason))
        return f"{base}-draft-{hashlib.sha256(content.encode('utf-8')).hexdigest()[:12]}"

_EDITABLE = {"sections", "key_images", "free_text", "title", "patient", "exam"}


def edit(doc: ReportDoc, **changes: Any) -> ReportDoc:
    """A new draft version with ``changes`` (fields: sections, key_images, free_text, title, patient, exam).

    Raises SignedReportError for a signed report (use :func:`correct`), InputError for an unknown field.
    """
    if doc.signed:
        raise SignedReportError(
            f"report version {doc.version} is signed and cannot be edited; make a correction with a reason instead")
    return _next_version(doc, changes)


def correct(doc: ReportDoc, reason: str, **changes: Any) -> ReportDoc:
    """A new unsigned version that amends the signed ``doc``; ``reason`` is required and kept on the report."""
    if not doc.signed:
        raise InputError(f"report version {doc.version} is not signed yet; edit it instead of correcting it")
    if not reason.strip():
        raise InputError("a correction of a signed report needs a reason; say what was wrong")
    new = _next_version(doc, changes)
    return dataclasses.replace(new, amends_version=doc.version, amendment_reason=reason.strip())


def sign(doc: ReportDoc, signer: str, now: dt.datetime) -> ReportDoc:
    """The same version, signed by ``signer`` at ``now`` (timezone-aware). A signed report cannot be re-signed."""
    if doc.signed:
        who = doc.signature.signer if doc.signature else ""
        raise SignedReportError(f"report version {doc.version} is already signed by {who}")
    if not signer.strip():
        raise InputError("a signature needs the signer's name")
    if now.tzinfo is None:
        raise InputError("the signing time must carry a timezone")
    return dataclasses.replace(doc, signature=Signature(signer=signer.strip(), signed_at=now))


def _next_version(doc: ReportDoc, changes: dict[str, Any]) -> ReportDoc:
    unknown = set(changes) - _EDITABLE
    if unknown:
        raise InputError(f"cannot edit {', '.join(sorted(unknown))}; editable fields: {', '.join(sorted(_EDITABLE))}")
    for k in ("sections", "key_images"):
        if k in changes:
            changes[k] = tuple(changes[k])
    return dataclasses.replace(doc, version=doc.version + 1, signature=None, amends_version=None,
                               amendment_reason="", **changes)


def _num(x: float) -> str:
    return f"{x:g}"


DECIMALS_BY_UNIT: dict[str, int] = {"mL": 0, "mL/m2": 0, "%": 0, "ms": 0, "/min": 0, "deg": 0, "g": 0, "g/m2": 0,
                                    "mm2": 0, "mm": 1, "cm": 1, "cm2": 1, "m2": 2, "kg": 1, "SD": 1, "mV": 2,
                                    "1": 2, "mm/m2": 1, "cm/m2": 1}


def display_number(value: float, unit: str) -> str:
    """``value`` rounded for print by its unit (:data:`DECIMALS_BY_UNIT`); -0 prints as 0."""
    d = DECIMALS_BY_UNIT.get(unit)
    if d is None:
        return f"{value:.4g}" if abs(value) < 1e4 else f"{value:.0f}"
    text = f"{value:.{d}f}"
    return "0" if d == 0 and text == "-0" else text


__all__ = ["display_number", "ReportPatient", "ReportExam", "ReportMeasurement", "Section", "KeyImage", "Signature", "ReportDoc",
           "SignedReportError", "edit", "correct", "sign", "KINDS", "LANGUAGES"]

