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

from device.domain.codecs import decode_clip
from device.domain.records import REVIEWED_SOURCES, Finding
from device.errors import UserError
from device.lv.casetable import CaseTable
from device.lv.interpret import interpret_value, label_of, reference_text, sex_of, split_name
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


def echo_rows(conn: sqlite3.Connection, exam: clinical.Exam, table: CaseTable) -> list[EchoRow]:
    """The exam's current measurements, grouped (biplane, A4C, A2C, PLAX, PSAX-PM, then any other name, e.g. a
    value typed in) and in the order the originals were made within a group, read against ``table``."""
    sex = sex_of(exam.patient.sex)
    order = [g for g, _ in GROUPS]
    rows = []
    for m in clinical.current_measurements(conn, exam.id):
        group, base = split_name(m.name) or ("other", m.name)
        interp, lo, hi, alert = interpret_value(base, m.value, sex, table) if group != "sax" else \
            ("no reference", None, None, False)
        rows.append(EchoRow(m.id, m.capture_id, m.name, base, group, label_of(m.name), float(m.value), m.unit,
                            lo, hi, reference_text(lo, hi, m.unit), interp, alert, m.model_name, m.model_version,
                            m.frames, m.source))
    return sorted(rows, key=lambda r: (order.index(r.group), _root_order(conn, r.measurement_id)))


def _root_order(conn: sqlite3.Connection, mid: int) -> int:
    """The id of the original automatic row an edited row descends from (keeps a reviewed value in its place)."""
    for _ in range(100):
        r = conn.execute("SELECT supersedes FROM measurements WHERE id = ?", (mid,)).fetchone()
        if r is None or r[0] is None:
            return mid
        mid = int(r[0])
    return mid


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


def key_images(conn: sqlite3.Connection, blobs: BlobStore, exam: clinical.Exam) -> list[KeyImage]:
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
                         f.model_name, f.model_version)
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
                cached.append(KeyImage.from_array(img, caption=f"{d['view']} {ph.upper()} (frame {i}), "
                                                               f"{f.model_name} {f.model_version}",
                                                  key=f"lv{f.id}-{ph}"))
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

def echo_sections(conn: sqlite3.Connection, blobs: BlobStore, exam: clinical.Exam, settings: ReportSettings,
                  language: str = "en") -> tuple[Sequence[Section], Sequence[KeyImage]]:
    """(sections, key images) of an echo exam's report: views captured, LV measurements with reference ranges and
    interpretations from the settings' case table, the clips that could not be measured and why, annotated ED/ES
    frames. (The echo sections are English; ``language`` is accepted like every builder's.)"""
    sections = []
    rows = echo_rows(conn, exam, settings.case_table)
    have = {r.group for r in rows}
    primary = next((g for g in ("biplane", "a4c", "a2c") if g in have), None)
    for group, title in GROUPS:
        ms = []
        for r in (r for r in rows if r.group == group):
            name = _CODED.get(r.name, r.name)
            if group == primary and r.base in ("edv_ml", "esv_ml"):
                name = r.base
            note = r.interpretation + (" (value edited by a person)" if r.source == "edited" else "")
            ms.append(ReportMeasurement(name=name, value=round(r.value, 2), unit=r.unit, label=r.label,
                                        ref_low=r.ref_low, ref_high=r.ref_high, interpretation=note,
                                        model_name=r.model_name, model_version=r.model_version,
                                        confirmed=r.source in REVIEWED_SOURCES))
        if ms:
            sections.append(Section(title, tuple(ms)))
    views = []
    for cap in clinical.list_captures(conn, exam.id):
        if cap.kind == "clip" and cap.label and cap.label not in views:
            views.append(cap.label)
    if views:
        sections.append(Section(f"Views captured: {', '.join(views)}", ()))
    for f in current_geometry(conn, exam.id).values():
        d = f.detail
        if d.get("status") == "refused":
            sections.append(Section(f"{d.get('view', '?')} clip not measured: {d.get('reason', '')}", ()))
    return sections, key_images(conn, blobs, exam)

