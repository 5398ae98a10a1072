"""ECG report sections from the store: rate/rhythm, intervals (with reference ranges, QTc by sex) and axis of the
exam's latest digitised reading, and the traces-over-the-printout key image.

The ``ecg`` entry of ``device.reporting.sections.SECTION_BUILDERS``, called as
``ecg_sections(conn, blobs, exam, settings, language)``. The values are the exam's
*current* measurements (a person's edit supersedes the automatic value) of ONE reading: the one a person picked, else
the newest photo's (``device.reporting.ecg_readings``), in its newest version; two photos are never merged, and the
first section says which reading the report uses.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from device import i18n
from device.domain.records import Measurement
from device.ecg import thresholds
from device.reporting.ecg_readings import ReportChoice, excluded_signal_ids, report_reading
from device.reporting.rows import current_findings, current_measurements
from device.reporting.settings import ReportSettings
from device.reports.model import KeyImage, ReportMeasurement, Section
from device.store import clinical
from device.store.blobs import BlobStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Spec:
    """How one measurement is reported: section key and labels (its reference range: ``reference_range``)."""

    section: str
    label_en: str
    label_zh: str


SPECS: dict[str, Spec] = {
    "hr_bpm": Spec("rate", "Heart rate", "心率"),
    "rr_ms": Spec("rate", "RR interval", "RR 间期"),
    "pr_ms": Spec("intervals", "PR interval", "PR 间期"),
    "qrs_ms": Spec("intervals", "QRS duration", "QRS 时限"),
    "qt_ms": Spec("intervals", "QT interval", "QT 间期"),
    "qtc_bazett_ms": Spec("intervals", "QTc (Bazett)", "QTc（Bazett）"),
    "qtc_fridericia_ms": Spec("intervals", "QTc (Fridericia)", "QTc（Fridericia）"),
    "axis_deg": Spec("axis", "Frontal QRS axis", "额面 QRS 电轴"),
}


def reference_range(name: str, sex: str = "") -> tuple[float | None, float | None]:
    """(low, high) of a measurement from the ECG threshold table (``device/ecg/thresholds.toml``, the table the
    rule screen uses too), read at call time. QTc: the women's limit for sex "F", else the men's (also for an
    unknown sex: the lower, more sensitive limit)."""
    T = thresholds.table()
    q = T["qtc"]["upper_female_ms"] if sex == "F" else T["qtc"]["upper_male_ms"]
    return {"hr_bpm": (T["heart_rate"]["low_bpm"], T["heart_rate"]["high_bpm"]),
            "rr_ms": (T["rr"]["low_ms"], T["rr"]["high_ms"]),
            "pr_ms": (T["pr"]["short_ms"], T["pr"]["long_ms"]),
            "qrs_ms": (None, T["qrs"]["wide_ms"]),
            "qtc_bazett_ms": (None, q), "qtc_fridericia_ms": (None, q),
            "axis_deg": (T["axis"]["low_deg"], T["axis"]["high_deg"])}.get(name, (None, None))


SECTION_KEYS = ("rate", "intervals", "axis", "other")
# titles and interpretation words come from the one glossary (device/i18n/glossary.<lang>.json)
SECTION_TITLES = {k: {lang: i18n.term(lang, f"ecg.section.{k}") for lang in i18n.LANGUAGES} for k in SECTION_KEYS}
_WORDS = {lang: i18n.table(lang, "ecg.word.") for lang in i18n.LANGUAGES}


def latest_signal_capture(conn: sqlite3.Connection, exam_id: int) -> clinical.Capture | None:
    """The current version of the reading the report uses (a person's pick, else the newest photo's), or None."""
    choice = report_reading(conn, exam_id)
    return choice.reading.current if choice else None


def reading_measurements(conn: sqlite3.Connection, exam_id: int) -> list[Measurement]:
    """The exam's current measurements in creation order, leaving out those of every signal capture but the
    chosen reading's current one: the report shows one reading, not a mix of two printouts."""
    older = excluded_signal_ids(conn, exam_id)
    return [m for m in current_measurements(conn, exam_id) if m.capture_id not in older]


def reading_used_section(choice: ReportChoice, language: str = "en") -> Section:
    """A line saying which reading the report uses (label, version, photo) and why (picked by whom, or newest)."""
    r = choice.reading
    how = (i18n.t(language, "ecg.reading_picked", who=choice.picked_by or "?") if choice.how == "picked"
           else i18n.t(language, "ecg.reading_newest"))
    text = i18n.t(language, "ecg.reading_used", label=r.label, v=r.version, n=choice.n_readings, how=how)
    return Section(text, ())


def _interpret(name: str, value: float, words: dict[str, str]) -> str:
    T = thresholds.table()
    if name == "hr_bpm":
        hr = T["heart_rate"]
        return words["brady"] if value < hr["low_bpm"] else words["tachy"] if value > hr["high_bpm"] else words["normal"]
    if name == "axis_deg":
        ax = T["axis"]
        return words["lad"] if value < ax["low_deg"] else words["rad"] if value > ax["high_deg"] else words["normal"]
    if name == "qrs_ms":
        return words["wide"] if value >= T["qrs"]["wide_ms"] else words["normal"]
    if name == "pr_ms":
        pr = T["pr"]
        return words["short_pr"] if value < pr["short_ms"] else words["long_pr"] if value > pr["long_ms"] else \
            words["normal"]
    return ""


def report_measurement(m: Measurement, sex: str, language: str = "en",
                       editor: str = "") -> tuple[str, ReportMeasurement]:
    """(section key, ReportMeasurement) of one stored measurement, with its reference range and interpretation;
    ``editor``: the name of the person who edited it (named in the interpretation)."""
    words = _WORDS.get(language, _WORDS["en"])
    spec = SPECS.get(m.name)
    confirmed = m.reviewed
    if spec is None:
        return "other", ReportMeasurement(name=m.name, value=float(m.value), unit=m.unit,
                                          label=i18n.term(language, f"measure.{m.name}", m.name),
                                          model_name=m.model_name, model_version=m.model_version,
                                          confirmed=confirmed)
    lo, hi = reference_range(m.name, sex)
    notes = []
    if m.name.startswith("qtc_") and sex not in ("M", "F"):
        notes.append(words["sex_unknown"])
    v = float(m.value)
    text = _interpret(m.name, v, words)
    if not text and ((lo is not None and v < lo) or (hi is not None and v > hi)):
        text = words["long_qtc"] if m.name.startswith("qtc_") and hi is not None and v > hi else \
            words["low"] if lo is not None and v < lo else words["high"]
    if m.source == "edited":
        notes.append(i18n.t(language, "ecg.word.edited_by", who=editor) if editor else words["edited"])
    interp = "; ".join(x for x in [text, *notes] if x)
    label = i18n.term(language, f"measure.{m.name}", spec.label_en)
    return spec.section, ReportMeasurement(name=m.name, value=v, unit=m.unit, label=label, ref_low=lo, ref_high=hi,
                                           interpretation=interp, model_name=m.model_name,
                                           model_version=m.model_version, confirmed=confirmed)


def overlay_key_image(conn: sqlite3.Connection, blobs: BlobStore, cap: clinical.Capture,
                      language: str = "en") -> KeyImage | None:
    """The traces drawn over the rectified printout (PNG stored with the reading), or None when unavailable."""
    sha = cap.meta.get("overlay_sha256")
    if not sha:
        return None
    try:
        png = blobs.get(sha)
    except Exception as exc:  # noqa: BLE001 - a damaged or missing file must not stop the report
        log.warning("ECG overlay %s of capture %s unavailable: %s", sha[:12], cap.id, exc)
        return None
    cal = cap.meta.get("calibration", {})
    v = cap.meta.get("version", 1)
    caption = i18n.t(language, "ecg.overlay_caption", v=v, layout=cap.meta.get("layout", ""),
                     speed=f"{cal.get('speed_mm_s', 25):g}", gain=f"{cal.get('gain_mm_mv', 10):g}")
    try:
        return KeyImage(png=png, caption=caption, kind="image", key=f"ecg-overlay-{sha[:16]}")
    except Exception as exc:  # noqa: BLE001 - not a PNG: leave it out, the report still builds
        log.warning("ECG overlay of capture %s is not a PNG: %s", cap.id, exc)
        return None


def ecg_sections(conn: sqlite3.Connection, blobs: BlobStore, exam: clinical.Exam, settings: ReportSettings,
                 language: str = "en") -> tuple[Sequence[Section], Sequence[KeyImage]]:
    """Sections (rate and rhythm, intervals, axis, other) of the latest reading's current measurements and the
    traces-over-printout key image. Empty when the exam has no reading (the caller then uses the captures)."""
    groups: dict[str, list[ReportMeasurement]] = {k: [] for k in SECTION_TITLES}
    names = {int(r[0]): str(r[1] or r[2]) for r in conn.execute("SELECT id, display_name, username FROM users")}
    for m in reading_measurements(conn, exam.id):
        editor = names.get(m.edited_by, "") if m.edited_by is not None else ""
        key, rm = report_measurement(m, exam.patient.sex, language, editor)
        groups[key].append(rm)
    choice = report_reading(conn, exam.id)
    sections = [reading_used_section(choice, language)] if choice else []
    sections += [Section(SECTION_TITLES[k].get(language, SECTION_TITLES[k]["en"]), tuple(v))
                 for k, v in groups.items() if v]
    cap = choice.reading.current if choice else None
    if cap is not None:
        sections += screen_sections(conn, exam.id, cap.id, language)
    img = overlay_key_image(conn, blobs, cap, language) if cap else None
    return sections, ([img] if img else [])


_SCREEN_TITLE = {lang: i18n.term(lang, "ecg.section.screen") for lang in i18n.LANGUAGES}
_CLASS_TEXT = {lang: i18n.table(lang, "ecg.class.") for lang in i18n.LANGUAGES}


def screen_sections(conn: sqlite3.Connection, exam_id: int, capture_id: int, language: str = "en") -> list[Section]:
    """The signal model's calibrated probability of an abnormal ECG and the superclasses (and AF) it found on the
    reading ``capture_id``, each row naming the model (from the ``ecg_screen`` finding's detail)."""
    words = _CLASS_TEXT.get(language, _CLASS_TEXT["en"])
    found = [f for f in current_findings(conn, exam_id) if f.kind == "ecg_screen" and f.capture_id == capture_id]
    if not found:
        return []
    model = found[-1].detail.get("model") or {}
    probs = model.get("probabilities")
    if not isinstance(probs, dict) or "abnormal" not in probs:
        return []
    src = str(model.get("source", "")).split()
    name, version = (src[0], src[1]) if len(src) >= 2 else (str(model.get("source", "")), "")
    rows = [ReportMeasurement(name="ecg_screen_p_abnormal", value=float(probs["abnormal"]), unit="1",
                              label=words["abnormal"],
                              interpretation=i18n.finding_text(language, str(model.get("label", ""))),
                              model_name=name, model_version=version)]
    for k in model.get("classes", []):
        if k in probs and k in words:
            rows.append(ReportMeasurement(name=f"ecg_screen_p_{k.lower()}", value=float(probs[k]), unit="1",
                                          label=words[k], interpretation=words["found"], model_name=name,
                                          model_version=version))
    return [Section(_SCREEN_TITLE.get(language, _SCREEN_TITLE["en"]), tuple(rows))]
