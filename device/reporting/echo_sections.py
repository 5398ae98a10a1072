"""Echo LV rows for the report and the echo measurement page: each current measurement of an echo exam with its
label, the case-table reference range and interpretation (patient's sex), the model that made it and its source;
plus annotated key frames (ED and ES of each measured clip with contours and calipers).

:func:`echo_sections` is the ``echo`` entry of ``device.reporting.sections.SECTION_BUILDERS``. The case table
comes in with the report settings (``device.reporting.settings.ReportSettings``, built once from the loaded
settings): nothing here reads the configuration. Name parsing and interpretation are pure (``device.lv.interpret``).
This module reads the store (it is the report layer's builder) but holds no SQL of its own beyond the repositories.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from device import i18n
from device.domain.codecs import decode_clip
from device.domain.records import REVIEWED_SOURCES, Finding
from device.errors import UserError
from device.lv.casetable import CaseTable
from device.lv.interpret import interpret_value, label_of, reference_text, sex_of, split_name
from device.reporting.measurement_set import MeasurementSet
from device.reporting.measurement_set import build as build_set
from device.reporting.rows import current_measurements
from device.reporting.sax_sections import is_sax_mri, sax_key_images, sax_sections
from device.reporting.settings import ReportSettings
from device.reports.model import KeyImage, ReportMeasurement, Section
from device.store import clinical
from device.store.blobs import BlobStore

log = logging.getLogger(__name__)

FINDING_KIND = "lv_geometry"
GROUPS = (("biplane", "Left ventricle: biplane volumes (method of discs, A4C + A2C)"),
          ("a4c", "Left ventricle: A4C single-plane volumes (method of discs)"),
          ("a2c", "Left ventricle: A2C single-plane volumes (method of discs)"),
          ("plax", "Left ventricle: PLAX linear measurements"),
          ("sax", "Left ventricle: short axis at the papillary muscles (PSAX-PM)"),
          ("other", "Measurements"))
# names the report's code table (device/reports/codes.py) maps to LOINC
_CODED = {"a4c_ef_pct": "lvef_a4c", "a2c_ef_pct": "lvef_a2c", "biplane_ef_pct": "lvef_biplane",
          "teichholz_ef_pct": "lvef_teichholz", "la_diameter_mm": "la_ap"}
MAX_KEY_IMAGES = 8


@dataclass(frozen=True)
class EchoRow:
    """One current echo LV measurement, read against the case table."""

    measurement_id: int
    capture_id: int | None
    name: str                     # stored name, e.g. "a4c_ef_pct"
    base: str                     # case-table name, e.g. "ef_pct"
    group: str                    # "biplane", "a4c", "a2c", "plax", "sax" or "other" (any other name)
    label: str
    value: float
    unit: str
    ref_low: float | None
    ref_high: float | None
    reference: str                # "52-73 %" or ""
    interpretation: str           # case-table wording, or "no reference ..."
    alert: bool
    model_name: str
    model_version: str
    frames: tuple[int, ...]
    source: str                   # auto, confirmed, edited, manual
    chosen: bool = True           # the report uses this clip's value (False: another clip of the view)


def measurement_set(conn: sqlite3.Connection, exam_id: int) -> MeasurementSet:
    """The exam's coherent measurement set (device.reporting.measurement_set) from the store."""
    return build_set(clinical.all_measurements(conn, exam_id), clinical.list_captures(conn, exam_id),
                     clinical.measurement_picks(conn, exam_id))


def echo_rows(conn: sqlite3.Connection, exam: clinical.Exam, table: CaseTable,
              all_clips: bool = False) -> list[EchoRow]:
    """The exam's measurement set, grouped (biplane, A4C, A2C, PLAX, PSAX-PM, then any other name, e.g. a value
    typed in), read against ``table``: each group from the ONE clip the report uses (``chosen``), with derived
    values recomputed from that clip's inputs; ``all_clips``: the values of the other clips too (chosen False)."""
    sex = sex_of(exam.patient.sex)
    order = [g for g, _ in GROUPS]
    rows = []
    ms = measurement_set(conn, exam.id)
    for v in ms.values:
        if not (v.chosen or all_clips):
            continue
        m, base = v.row, split_name(v.name)[1]  # type: ignore[index]
        interp, lo, hi, alert = interpret_value(v.name, v.value, sex, table)   # sax_ed_rwt4_mm: its own rows
        rows.append(EchoRow(m.id, m.capture_id, v.name, base, v.group, label_of(v.name), v.value, m.unit,
                            lo, hi, reference_text(lo, hi, m.unit), interp, alert, m.model_name, m.model_version,
                            m.frames, v.source, v.chosen))
    for m in current_measurements(conn, exam.id):      # in the order the originals were made
        if split_name(m.name) is None and not is_sax_mri(m.name):   # short-axis MRI: its own section
            interp, lo, hi, alert = interpret_value(m.name, m.value, sex, table)
            rows.append(EchoRow(m.id, m.capture_id, m.name, m.name, "other", label_of(m.name), float(m.value), m.unit,
                                lo, hi, reference_text(lo, hi, m.unit), interp, alert, m.model_name,
                                m.model_version, m.frames, m.source))
    return sorted(rows, key=lambda r: order.index(r.group))


# ---------------------------------------------------------------- key images

def _pts(points) -> np.ndarray:
    return np.round(np.asarray(points, dtype=float).reshape(-1, 1, 2) * 4).astype(np.int32)


def annotate(frame: np.ndarray, detail: dict[str, Any], phase: str) -> np.ndarray:
    """An RGB copy of ``frame`` (H, W[, 3] uint8) with the LV contours and calipers of ``phase`` ("ed"/"es")."""
    img = np.ascontiguousarray(frame if frame.ndim == 3 else np.repeat(frame[:, :, None], 3, axis=2)).copy()
    fr = detail["frames"][phase]
    lw = max(1, img.shape[1] // 320)
    for key, colour in (("myocardium", (255, 170, 0)), ("la", (120, 160, 255)), ("aortic_root", (200, 120, 255))):
        if fr.get(key):
            cv2.polylines(img, [_pts(fr[key])], True, colour, lw, cv2.LINE_AA, shift=2)
    if detail["mode"] == "apical":
        tr = fr["trace"]
        cv2.polylines(img, [_pts(tr["contour"])], True, (0, 230, 90), lw + 1, cv2.LINE_AA, shift=2)
        base = np.mean(np.asarray(tr["annulus"], float), axis=0)
        cv2.line(img, tuple(_pts([base])[0, 0]), tuple(_pts([tr["apex"]])[0, 0]), (255, 255, 0), lw, cv2.LINE_AA,
                 shift=2)
    elif detail["mode"] == "sax":
        cv2.polylines(img, [_pts(fr["endo"])], True, (0, 230, 90), lw + 1, cv2.LINE_AA, shift=2)
        cv2.polylines(img, [_pts(fr["epi"])], True, (255, 170, 0), lw + 1, cv2.LINE_AA, shift=2)
    else:
        if fr.get("cavity"):
            cv2.polylines(img, [_pts(fr["cavity"])], True, (0, 230, 90), lw, cv2.LINE_AA, shift=2)
        for name, cal in detail.get("calipers", {}).items():
            if cal and _caliper_phase(name) == phase:
                a, b = _pts(cal)[:, 0]
                cv2.line(img, tuple(a), tuple(b), (255, 255, 0), lw + 1, cv2.LINE_AA, shift=2)
    return img


def _caliper_phase(name: str) -> str:
    return "es" if name in ("lvids", "la_diameter") else "ed"


def current_geometry(conn: sqlite3.Connection, exam_id: int) -> dict[int, Finding]:
    """capture id -> current geometry finding row (see device/services/echo_measure.py)."""
    out: dict[int, Finding] = {}
    for f in clinical.findings(conn, exam_id):
        if f.kind == FINDING_KIND and f.capture_id is not None:
            out[int(f.capture_id)] = f
    return out


def key_images(conn: sqlite3.Connection, blobs: BlobStore, exam: clinical.Exam,
               language: str = "en") -> list[KeyImage]:
    """Annotated ED and ES frames of each measured clip (at most :data:`MAX_KEY_IMAGES`)."""
    out: list[KeyImage] = []
    for cap_id, f in current_geometry(conn, exam.id).items():
        d = f.detail
        if d.get("status") != "measured":
            continue
        try:
            cap = clinical.get_capture(conn, cap_id)
            # every view of a draft report refreshes its images: a clip decodes to tens of MB, so keep what was drawn
            cache_key = (cap.blob_sha256, f.id, json.dumps(d, sort_keys=True, default=str),
                         f.model_name, f.model_version, language)
            with _KEY_LOCK:
                cached = _KEY_IMAGES.get(cache_key)
                if cached is not None:
                    _KEY_IMAGES.move_to_end(cache_key)
            if cached is None:
                frames = decode_clip(blobs.get(cap.blob_sha256)).frames
        except (OSError, ValueError, KeyError, UserError) as exc:   # ClipCodecError is a ValueError
            log.warning("clip %s cannot be drawn for the report: %s", cap_id, exc)
            continue
        if cached is None:
            cached = []
            for ph in ("ed", "es"):
                i = int(d["frames"][ph]["index"])
                img = annotate(np.asarray(frames[min(i, len(frames) - 1)], dtype=np.uint8), d, ph)
                caption = i18n.t(language, "report.key_frame", view=d["view"], frame=i,
                                 phase=i18n.t(language, f"echo.phase.{ph}"),
                                 model=f"{f.model_name} {f.model_version}")
                cached.append(KeyImage.from_array(img, caption=caption, key=f"lv{f.id}-{ph}"))
            del frames
            with _KEY_LOCK:
                _KEY_IMAGES[cache_key] = cached
                while len(_KEY_IMAGES) > 16:
                    _KEY_IMAGES.popitem(last=False)
        for img in cached:
            if len(out) >= MAX_KEY_IMAGES:
                return out
            out.append(img)
    return out


_KEY_IMAGES: OrderedDict[tuple, list] = OrderedDict()   # annotated ED/ES images of the last measured clips
_KEY_LOCK = threading.Lock()                             # web requests run in threads


# ---------------------------------------------------------------- the report's sections

STRUCTURES = ("lv_function", "lv_volumes_single", "lv_linear", "lv_sax", "la", "aorta", "rv", "ra", "ivc", "mv_doppler",
              "lvot_doppler", "av_doppler", "tr_doppler", "pv_doppler", "valves", "other")
# colour-Doppler regurgitant jets (device/usecases/echo_jets.py) -> the "valves" group (before the Doppler prefixes)
JET_PREFIXES = tuple(f"{v}_{k}" for v in ("mr", "tr", "ar", "pr") for k in ("jet_", "vc_", "grade"))
# spectral Doppler names (device/usecases/echo_doppler.py) -> report group
DOPPLER_STRUCTURE = (("mv_", "mv_doppler"), ("e_prime_", "mv_doppler"), ("a_prime_", "mv_doppler"),
                     ("lvot_", "lvot_doppler"), ("av_", "av_doppler"), ("tr_", "tr_doppler"),
                     ("rvsp_", "tr_doppler"), ("ra_pressure_", "tr_doppler"), ("pv_", "pv_doppler"))


def structure_of(row: EchoRow, primary: str | None) -> str:
    """The report group (by structure, as echo labs write it) of one row: the primary method's LV volumes and EF
    first, other single-plane volumes, LV linear (PLAX), LV short axis, left atrium, aorta, right ventricle."""
    if row.group in ("biplane", "a4c", "a2c"):
        return "lv_function" if row.group == primary else "lv_volumes_single"
    if row.group == "plax":
        return {"la_diameter_mm": "la", "aortic_root_mm": "aorta"}.get(row.base, "lv_linear")
    if row.group == "sax":
        return "lv_sax"
    if row.name.startswith(JET_PREFIXES):
        return "valves"
    if row.name == "lvot_diam_mm":         # the 2-D LVOT caliper (PLAX) sits with the aortic root, not the Doppler
        return "aorta"
    for prefix, structure in DOPPLER_STRUCTURE:
        if row.name.startswith(prefix):
            return structure
    for prefix, structure in (("la_", "la"), ("lav", "la"), ("ao", "aorta"), ("rv", "rv"), ("tapse", "rv"), ("ra_", "ra"), ("ivc_", "ivc"), ("ivs_motion", "lv_linear"),
                              ("lv", "lv_linear")):
        if row.name.startswith(prefix):
            return structure
    return "other"


def echo_label(name: str, language: str) -> str:
    """The human name of a stored echo measurement name in ``language`` (glossary), e.g. ``a4c_ef_pct`` ->
    "LV ejection fraction (A4C)", ``sax_ed_rwt4_mm`` -> "ED wall thickness AL"; unknown names keep the English
    label (or the name)."""
    sp = split_name(name)
    if sp is None:
        return i18n.term(language, f"measure.{name}", label_of(name))
    group, base = sp
    if group == "sax":
        return f"{i18n.term(language, f'echo.phase.{name[4:6]}')} {i18n.term(language, f'measure.sax.{base}')}"
    label = i18n.term(language, f"measure.{base}", label_of(base))
    return label if group == "plax" else i18n.parenthesised(language, label, i18n.term(language, f"echo.method.{group}"))


def indexed_rows(rows: Sequence[EchoRow], primary: str | None, bsa_m2: float | None,
                 language: str) -> list[ReportMeasurement]:
    """LV EDV and ESV of the primary method and an LA volume (when measured) divided by the body surface area."""
    if not bsa_m2 or primary is None:
        return []
    out = []
    for r in rows:
        key = ({"edv_ml": "edv_index_ml_m2", "esv_ml": "esv_index_ml_m2"}.get(r.base) if r.group == primary else
               "la_volume_index_ml_m2" if r.name in ("la_volume_ml", "lav_ml", "biplane_la_volume_ml") else None)
        if key:
            out.append(ReportMeasurement(name=key, value=r.value / bsa_m2, unit="mL/m2",
                                         label=i18n.term(language, f"measure.{key}"), model_name=r.model_name,
                                         model_version=r.model_version, confirmed=r.source in REVIEWED_SOURCES))
    return out


def exam_bsa_m2(exam: clinical.Exam) -> float | None:
    """Mosteller BSA of the exam's recorded height and weight (None when either is missing)."""
    h, w = getattr(exam, "height_cm", None), getattr(exam, "weight_kg", None)
    return (h * w / 3600.0) ** 0.5 if h and w and h > 0 and w > 0 else None


def doppler_overlay(rgb: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    """The Doppler screen with the reader's panel box, baseline (cyan), traced envelope (yellow) and beat marks
    (red) from a ``doppler_reading`` finding's detail (device/usecases/echo_doppler.py)."""
    img = np.ascontiguousarray(rgb if rgb.ndim == 3 else np.repeat(rgb[:, :, None], 3, axis=2)).copy()
    cal = detail.get("calibration", {})
    if "panel" in cal:
        x0, y0, x1, y1 = (int(v) for v in cal["panel"])
        cv2.rectangle(img, (x0, y0), (x1, y1), (0, 160, 255), 1)
        if "baseline_row" in cal:
            yb = int(round(cal["baseline_row"]))
            cv2.line(img, (x0, yb), (x1, yb), (0, 255, 255), 1)
    env = detail.get("envelope") or []
    if env:
        pts = np.round(np.asarray(env, float)).astype(np.int32).reshape(-1, 1, 2)
        cv2.polylines(img, [pts], False, (255, 230, 0), 2, cv2.LINE_AA)
        xs = np.asarray(env, float)[:, 0]
        for bx in detail.get("beats", []):
            i = int(np.argmin(np.abs(xs - bx)))
            cv2.circle(img, (int(env[i][0]), int(round(env[i][1]))), 5, (255, 40, 40), 2)
    return img


def doppler_key_images(conn: sqlite3.Connection, blobs: BlobStore, exam: clinical.Exam,
                       language: str = "en", limit: int = 4) -> list[KeyImage]:
    """The traced envelope over each measured Doppler screen of the exam (newest first, at most ``limit``)."""
    from device.usecases.echo_doppler import FINDING_KIND, screen_of
    out: list[KeyImage] = []
    found = sorted((f for f in clinical.findings(conn, exam.id) if f.kind == FINDING_KIND
                    and f.detail.get("status") == "measured"), key=lambda f: -f.id)
    for f in found[:limit]:
        try:
            cap = clinical.get_capture(conn, int(f.capture_id or 0))
            rgb = screen_of(blobs.get(cap.blob_sha256), cap.kind == "clip")
        except (OSError, ValueError, KeyError, UserError) as exc:
            log.warning("Doppler screen %s cannot be drawn for the report: %s", f.capture_id, exc)
            continue
        kind = str(f.detail.get("kind", ""))
        caption = i18n.t(language, "report.doppler_key_image", kind=i18n.term(language, f"doppler.kind.{kind}", kind),
                         model=f"{f.model_name} {f.model_version}")
        out.append(KeyImage.from_array(doppler_overlay(rgb, f.detail), caption=caption, key=f"doppler{f.id}"))
    return out


def echo_sections(conn: sqlite3.Connection, blobs: BlobStore, exam: clinical.Exam, settings: ReportSettings,
                  language: str = "en") -> tuple[Sequence[Section], Sequence[KeyImage]]:
    """(sections, key images) of an echo exam's report in ``language``: measurements grouped by structure (LV size
    and function with indexed volumes when height and weight are known, LV linear, LV short axis, LA, aorta, RV)
    with reference ranges and interpretations from the settings' case table, the views captured, the clips that
    could not be measured and why, annotated ED/ES frames."""
    sections = []
    rows = echo_rows(conn, exam, settings.case_table)
    have = {r.group for r in rows}
    primary = next((g for g in ("biplane", "a4c", "a2c") if g in have), None)
    grouped: dict[str, list[ReportMeasurement]] = {k: [] for k in STRUCTURES}
    for r in rows:
        name = _CODED.get(r.name, r.name)
        if r.group == primary and r.base in ("edv_ml", "esv_ml"):
            name = r.base
        interp = i18n.term(language, f"interp.{r.interpretation}", r.interpretation)
        note = i18n.parenthesised(language, interp, i18n.t(language, "report.source.edited")) \
            if r.source == "edited" else interp
        grouped[structure_of(r, primary)].append(
            ReportMeasurement(name=name, value=r.value, unit=r.unit, label=echo_label(r.name, language),
                              ref_low=r.ref_low, ref_high=r.ref_high, interpretation=note,
                              model_name=r.model_name, model_version=r.model_version,
                              confirmed=r.source in REVIEWED_SOURCES))
    grouped["lv_function"] += indexed_rows(rows, primary, exam_bsa_m2(exam), language)
    for key in STRUCTURES:
        if grouped[key]:
            sections.append(Section(i18n.t(language, f"echo.structure.{key}"), tuple(grouped[key])))
    sections += sax_sections(conn, exam, settings.case_table, language)
    views = []
    for cap in clinical.list_captures(conn, exam.id):
        if cap.kind == "clip" and cap.label and cap.label not in views:
            views.append(cap.label)
    if views:
        sections.append(Section(i18n.t(language, "report.views_captured", views=", ".join(views)), ()))
    for f in current_geometry(conn, exam.id).values():
        d = f.detail
        if d.get("status") == "refused":
            sections.append(Section(i18n.t(language, "report.clip_refused", view=d.get("view", "?"),
                                           reason=i18n.reason_text(language, d.get("reason", ""))), ()))
    for f in clinical.findings(conn, exam.id):          # spectral Doppler screens that could not be read
        if f.kind == "doppler_reading" and f.detail.get("status") == "refused":
            sections.append(Section(i18n.t(language, "report.doppler_refused",
                                           reason=i18n.reason_text(language, f.detail.get("reason", ""))), ()))
    return sections, [*key_images(conn, blobs, exam, language), *sax_key_images(conn, blobs, exam, language),
                      *doppler_key_images(conn, blobs, exam, language)]
