"""The short-axis MRI section of a report (issue 16 point 3): the stack's EDV/ESV/SV/EF by summation of discs and the
11 LVQuan indices at ED and ES of the reported slice, each with its CMR reference (case table ``cmr_*`` rows, the
patient's sex), the model that made it and whether a person reviewed it.

Consistent by construction: SV and EF are computed here from the current EDV and ESV (an edited EDV changes SV and
EF in the same report), never read from their own rows. Reads the exam's current ``mri_sax_*`` measurements only.
"""

from __future__ import annotations

import io
import json
import logging
import math
import sqlite3

import cv2
import numpy as np

from device import i18n
from device.domain.records import REVIEWED_SOURCES, Measurement
from device.lv.casetable import CaseTable
from device.lv.interpret import case_name, interpret_value, sex_of
from device.reporting.rows import current_measurements
from device.reports.model import KeyImage, ReportMeasurement, Section
from device.store import clinical
from device.store.blobs import BlobStore

log = logging.getLogger(__name__)
ANALYSIS_SCHEMA = "cardiocart.sax_analysis.v1"
IMAGES_SCHEMA = "cardiocart.sax_images.v1"
PREFIX = "mri_sax_"
STACK = ("edv_ml", "esv_ml", "sv_ml", "ef_pct")
INDICES = ("cavity_area_mm2", "myo_area_mm2", "dim1_mm", "dim2_mm", "dim3_mm", "rwt1_mm", "rwt2_mm", "rwt3_mm",
           "rwt4_mm", "rwt5_mm", "rwt6_mm")
DERIVED = ("sv_ml", "ef_pct")


def is_sax_mri(name: str) -> bool:
    return name.startswith(PREFIX)


def is_derived(name: str) -> bool:
    """SV and EF of the stack: computed from EDV and ESV, never typed."""
    return is_sax_mri(name) and name[len(PREFIX):] in DERIVED


def label(language: str, name: str) -> str:
    """``mri_sax_edv_ml`` -> 'LV end-diastolic volume'; ``mri_sax_ed_rwt4_mm`` -> 'ED wall thickness AL'."""
    rest = name[len(PREFIX):]
    if rest in STACK:
        return i18n.term(language, f"measure.{rest}", rest)
    phase, col = rest[:2], rest[3:]
    return f"{phase.upper()} {i18n.term(language, f'measure.sax.{col}', col)}"


def stack_values(rows: list[Measurement]) -> dict[str, tuple[float, Measurement | None, bool]]:
    """name -> (value, its stored row or None for a derived value, reviewed). SV = EDV - ESV and EF = 100 SV / EDV
    from the current EDV and ESV rows (reviewed when either input is)."""
    cur = {m.name: m for m in rows if is_sax_mri(m.name)}
    out: dict[str, tuple[float, Measurement | None, bool]] = {}
    for name, m in cur.items():
        if name[len(PREFIX):] not in DERIVED:
            out[name] = (float(m.value), m, m.source in REVIEWED_SOURCES)
    edv, esv = cur.get(PREFIX + "edv_ml"), cur.get(PREFIX + "esv_ml")
    if edv is not None and esv is not None and edv.value > 0:
        reviewed = edv.source in REVIEWED_SOURCES or esv.source in REVIEWED_SOURCES
        sv = float(edv.value) - float(esv.value)
        out[PREFIX + "sv_ml"] = (sv, None, reviewed)
        out[PREFIX + "ef_pct"] = (100.0 * sv / float(edv.value), None, reviewed)
    return out


def _order(name: str) -> tuple[int, int]:
    rest = name[len(PREFIX):]
    if rest in STACK:
        return 0, STACK.index(rest)
    return (1 if rest.startswith("ed_") else 2), INDICES.index(rest[3:]) if rest[3:] in INDICES else 99


def sax_rows(conn: sqlite3.Connection, exam: clinical.Exam, table: CaseTable, language: str = "en"
             ) -> list[ReportMeasurement]:
    rows = current_measurements(conn, exam.id)
    vals = stack_values(rows)
    src = {m.name: m for m in rows if is_sax_mri(m.name)}
    model = next(((m.model_name, m.model_version) for m in src.values() if m.model_name), ("", ""))
    sex = sex_of(exam.patient.sex)
    out = []
    for name in sorted(vals, key=_order):
        value, m, reviewed = vals[name]
        if not math.isfinite(value):
            continue
        interp, lo, hi, _alert = interpret_value(case_name(name), value, sex, table)
        note = i18n.term(language, "report.source.edited") if m is not None and m.source == "edited" else ""
        text = "" if interp.startswith("no reference") else i18n.term(language, f"interp.{interp}", interp)
        out.append(ReportMeasurement(name=name, value=round(value, 2), unit=(m.unit if m else
                                                                              ("%" if name.endswith("_pct") else "mL")),
                                     label=label(language, name), ref_low=lo, ref_high=hi,
                                     interpretation="; ".join(x for x in (text, note) if x),
                                     model_name=m.model_name if m else model[0],
                                     model_version=m.model_version if m else model[1], confirmed=reviewed))
    return out


def sax_sections(conn: sqlite3.Connection, exam: clinical.Exam, table: CaseTable, language: str
                 ) -> tuple[Section, ...]:
    rows = sax_rows(conn, exam, table, language)
    if not rows:
        return ()
    return (Section(i18n.term(language, "report.section.sax_mri"), tuple(rows)),)


# ---------------------------------------------------------------- analysis documents and key images

def analyses(conn: sqlite3.Connection, blobs: BlobStore, exam_id: int) -> list[tuple[clinical.Capture, dict]]:
    """The exam's SAX analysis documents, oldest first, less those a later (edited) version supersedes."""
    docs = [x for x in clinical.list_captures(conn, exam_id)
            if x.kind == "document" and x.meta.get("schema") == ANALYSIS_SCHEMA]
    gone = {x.meta.get("supersedes") for x in docs}
    out = []
    for x in docs:
        if x.id in gone:
            continue
        try:
            out.append((x, json.loads(blobs.get(x.blob_sha256))))
        except (OSError, ValueError) as exc:
            out.append((x, {"status": "failed", "message": f"the stored analysis cannot be read ({exc})"}))
    return out


def phase_frame(frames: list[dict], volumes: dict | None, slice_: int | None, phase: str) -> dict | None:
    """The ED (``phase`` "ed") or ES ("es") frame of a slice of an analysis document: the stack's ED/ES phase when the
    stack has volumes (one phase for every slice, the one EDV and ESV come from), else the slice's own ED/ES from its
    cavity-area curve."""
    if volumes:
        p = volumes["ed_phase" if phase == "ed" else "es_phase"]
        return next((f for f in frames if f["slice"] == slice_ and f["phase_index"] == p), None)
    flag = "is_ed" if phase == "ed" else "is_es"
    return next((f for f in frames if f["slice"] == slice_ and f[flag]), None)


def _annotated(grey: np.ndarray, frame: dict) -> bytes | None:
    """PNG of a display frame (uint8 grey) with the cavity (red) and epicardial (green) outlines, 2x enlarged."""
    img = cv2.cvtColor(cv2.resize(grey, None, fx=2, fy=2, interpolation=cv2.INTER_LINEAR), cv2.COLOR_GRAY2RGB)
    for key, colour in (("epi", (80, 220, 100)), ("endo", (255, 80, 80))):
        pts = np.asarray(frame.get(key) or [], dtype=float)
        if pts.ndim == 2 and len(pts) >= 3:
            cv2.polylines(img, [np.round(pts * 2).astype(np.int32).reshape(-1, 1, 2)], True, colour, 1, cv2.LINE_AA)
    ok, buf = cv2.imencode(".png", cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    return buf.tobytes() if ok else None


def sax_key_images(conn: sqlite3.Connection, blobs: BlobStore, exam: clinical.Exam, language: str = "en"
                   ) -> tuple[KeyImage, ...]:
    """ED and ES frames of the reported slice of the newest short-axis analysis, with their outlines."""
    done = [a for a in analyses(conn, blobs, exam.id) if a[1].get("status") == "done"]
    if not done:
        return ()
    doc = done[-1][1]
    s = doc.get("reported_slice")
    model = doc.get("model") or {}
    out = []
    try:
        cap = clinical.get_capture(conn, int(doc["images"]))
        with np.load(io.BytesIO(blobs.get(cap.blob_sha256)), allow_pickle=False) as z:
            for phase in ("ED", "ES"):
                fr = phase_frame(doc.get("frames", []), doc.get("volumes"), s, phase.lower())
                if fr is None or f"f{fr['k']}" not in z.files:
                    continue
                png = _annotated(z[f"f{fr['k']}"], fr)
                if png is not None:
                    caption = i18n.t(language, "report.sax_key_image", slice=int(fr["slice"]) + 1, phase=phase,
                                     model=f"{model.get('name', '')} {model.get('version', '')}".strip())
                    out.append(KeyImage(png=png, caption=caption, key=f"sax{cap.id}-{fr['k']}"))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("short-axis key images of exam %s cannot be made: %s", exam.id, exc)
    return tuple(out)
