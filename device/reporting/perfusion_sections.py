"""A perfusion exam in the store: its stored analyses and its report sections.

What the UI (``webui.views.perfusion``) stores per analysis, in one transaction:

* the study: captures of kind ``volume`` (``meta.phase`` ``stress`` | ``rest``), stored before any analysis;
* key images: captures of kind ``frame`` (PNG; ``meta.image_kind`` ``bullseye`` or ``slices``);
* the analysis document: a capture of kind ``document`` (JSON, ``meta.schema`` = :data:`ANALYSIS_SCHEMA`) holding
  ``status`` (``done`` | ``failed``), ``message`` (why it failed), ``stress_capture``/``rest_capture`` ids,
  ``result`` (``PerfusionResult.to_json_dict()``), ``segment_lower_limit_pct`` (17 values: normal mean - 2 SD),
  ``images`` (``bullseye_stress``, ``bullseye_rest``, ``slices`` -> capture id), ``models``, ``simulated``;
* measurements (capture = the stress volume), names with units: ``seg01_uptake_pct`` .. ``seg17_uptake_pct``
  (and ``segNN_rest_uptake_pct``), ``sss``/``srs``/``sds``, ``total_extent_pct``, per territory ``lad_extent_pct``,
  ``lad_severity_sd``, ``lad_sss``, ``lad_rest_extent_pct``, ``lad_reversible_extent_pct``, ``lad_sds`` (likewise
  ``lcx_``, ``rca_``), ``network_polar_mae_pct``; a later analysis supersedes the earlier rows of the same name;
* findings of kind ``perfusion_territory``: label ``"LAD at risk"`` / ``"LAD not at risk"``, score = probability.

:func:`perfusion_sections` is the ``perfusion`` entry of ``device.reporting.sections.SECTION_BUILDERS``.
"""

from __future__ import annotations

import json
import logging
import math
import sqlite3
from collections.abc import Sequence
from typing import Any

from device import i18n
from device.domain.records import Measurement
from device.errors import UserError
from device.perfusion.geometry import SEGMENT_NAMES, SEGMENT_TERRITORY, TERRITORIES
from device.reporting.settings import ReportSettings
from device.reports.model import KeyImage, ReportMeasurement, Section
from device.store import clinical
from device.store.blobs import BlobStore

log = logging.getLogger(__name__)

ANALYSIS_SCHEMA = "cardiocart.perfusion-analysis/1"
TERRITORY_FINDING = "perfusion_territory"

# segment names and every label/interpretation come from the one glossary (device/i18n/glossary.<lang>.json)
SEGMENT_NAMES_ZH: tuple[str, ...] = tuple(i18n.term("zh-CN", f"segment.{i + 1}") for i in range(17))
_TEXT: dict[str, dict[str, str]] = {lang: i18n.table(lang, "perfusion.") for lang in i18n.LANGUAGES}


def _tx(language: str) -> dict[str, str]:
    return _TEXT.get(language, _TEXT["en"])


def analyses(conn: sqlite3.Connection, blobs: BlobStore, exam_id: int) -> list[tuple[clinical.Capture, dict]]:
    """Every stored perfusion analysis document of the exam, oldest first (an unreadable one is skipped, logged)."""
    out = []
    for cap in clinical.list_captures(conn, exam_id):
        if cap.kind != "document" or cap.meta.get("schema") != ANALYSIS_SCHEMA:
            continue
        try:
            out.append((cap, json.loads(blobs.get(cap.blob_sha256).decode("utf-8"))))
        except (OSError, ValueError, UserError) as exc:
            log.warning("perfusion analysis %s cannot be read: %s", cap.id, exc)
    return out


def latest_done(conn: sqlite3.Connection, blobs: BlobStore, exam_id: int) -> tuple[clinical.Capture, dict] | None:
    """The newest successful analysis of the exam, or None."""
    done = [a for a in analyses(conn, blobs, exam_id) if a[1].get("status") == "done"]
    return done[-1] if done else None


def _row(m: Measurement, label: str, unit: str, tx: dict[str, str], ref_low: float | None = None,
         ref_high: float | None = None, interpretation: str = "") -> ReportMeasurement:
    note = tx.get(m.source, "") if m.source in ("edited", "manual") else ""
    interp = "; ".join(s for s in (interpretation, note) if s)
    return ReportMeasurement(name=m.name, value=float(m.value), unit=unit or m.unit, label=label, ref_low=ref_low,
                             ref_high=ref_high, interpretation=interp, model_name=m.model_name,
                             model_version=m.model_version, confirmed=m.reviewed)


def _finite(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def perfusion_sections(conn: sqlite3.Connection, blobs: BlobStore, exam: clinical.Exam, settings: ReportSettings,
                       language: str = "en") -> tuple[Sequence[Section], Sequence[KeyImage]]:
    """Report sections (summary scores, territories, 17 segments at stress and rest, anything else) from the exam's
    current measurements — so reviewed or edited values are what the report shows — with labels and normal limits
    from the newest successful analysis; key images: that analysis's bullseye(s) and short-axis slice strip."""
    tx = _tx(language)
    ref = settings.perfusion
    latest = latest_done(conn, blobs, exam.id)
    doc = latest[1] if latest else {}
    lower = doc.get("segment_lower_limit_pct") or [None] * 17
    sim = tx["simulated"] if doc.get("simulated") else ""
    rows = {m.name: m for m in clinical.current_measurements(conn, exam.id)}
    used: set[str] = set()

    def take(name: str, label: str, unit: str = "", **kw: Any) -> list[ReportMeasurement]:
        m = rows.get(name)
        if m is None:
            return []
        used.add(name)
        return [_row(m, label, unit, tx, **kw)]

    summary: list[ReportMeasurement] = []
    if "sss" in rows:
        summary += take("sss", tx["sss"], "1", ref_high=ref.sss_normal_max,
                        interpretation=tx[ref.sss_category(rows["sss"].value)])
    summary += take("srs", tx["srs"], "1", ref_high=ref.sss_normal_max)
    if "sds" in rows:
        summary += take("sds", tx["sds"], "1", ref_high=ref.sds_normal_max,
                        interpretation=tx["ischaemia"] if rows["sds"].value >= ref.sds_ischaemia_from else "")
    summary += take("total_extent_pct", tx["total_extent_pct"], "%")
    summary += take("network_polar_mae_pct", tx["network_polar_mae_pct"], "%")
    summary += take("spectf_prob_abnormal", tx["spectf_prob_abnormal"], "1")   # SPECTF counts (perfusion_regions)

    terr: list[ReportMeasurement] = []
    for t in TERRITORIES:
        p = t.lower()
        terr += take(f"{p}_extent_pct", tx["extent_pct"].format(t=t), "%")
        terr += take(f"{p}_severity_sd", tx["severity_sd"].format(t=t), "SD")
        terr += take(f"{p}_sss", tx["sss_t"].format(t=t), "1")
        terr += take(f"{p}_rest_extent_pct", tx["rest_extent_pct"].format(t=t), "%")
        terr += take(f"{p}_reversible_extent_pct", tx["reversible_extent_pct"].format(t=t), "%")
        terr += take(f"{p}_sds", tx["sds_t"].format(t=t), "1")

    names = SEGMENT_NAMES_ZH if language == "zh-CN" else SEGMENT_NAMES
    seg_s: list[ReportMeasurement] = []
    seg_r: list[ReportMeasurement] = []
    for i in range(17):
        label = f"{i + 1} {names[i]} ({SEGMENT_TERRITORY[i]})"
        lo = _finite(lower[i]) if i < len(lower) else None
        for name, out in ((f"seg{i + 1:02d}_uptake_pct", seg_s), (f"seg{i + 1:02d}_rest_uptake_pct", seg_r)):
            m = rows.get(name)
            if m is not None:
                below = lo is not None and m.value < lo
                out += take(name, label, "%", ref_low=lo, interpretation=tx["below"] if below else "")

    sections = [Section(title, tuple(ms)) for title, ms in (
        (tx["summary"] + sim, summary), (tx["territories"], terr), (tx["seg_stress"], seg_s),
        (tx["seg_rest"], seg_r)) if ms]
    other = [_row(m, m.name, m.unit, tx) for n, m in rows.items() if n not in used]
    if other:
        sections.append(Section(tx["other"], tuple(other)))
    return tuple(sections), key_images(conn, blobs, latest, language)


def key_images(conn: sqlite3.Connection, blobs: BlobStore, latest: tuple[clinical.Capture, dict] | None,
               language: str = "en") -> tuple[KeyImage, ...]:
    """The bullseye(s) and slice strip of an analysis as key images (captions name the models)."""
    if latest is None:
        return ()
    tx = _tx(language)
    doc = latest[1]
    models = ", ".join(f"{m['name']} {m['version']}" for m in doc.get("models", []))
    sim = tx["simulated"] if doc.get("simulated") else ""
    out = []
    for key in ("bullseye_stress", "bullseye_rest", "slices"):
        cid = (doc.get("images") or {}).get(key)
        if cid is None:
            continue
        try:
            cap = clinical.get_capture(conn, int(cid))
            png = blobs.get(cap.blob_sha256)
            caption = tx[key] + sim + (f" — {models}" if models and key != "slices" else "")
            out.append(KeyImage(png=png, caption=caption, kind="bullseye" if key.startswith("bullseye") else "image",
                                key=f"cap{cap.id}-{cap.blob_sha256[:12]}"))
        except (OSError, UserError, ValueError) as exc:
            log.warning("perfusion key image %s (capture %s) cannot be used: %s", key, cid, exc)
    return tuple(out)
