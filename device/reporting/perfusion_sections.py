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

SEGMENT_NAMES_ZH: tuple[str, ...] = (
    "基底段前壁", "基底段前间隔", "基底段下间隔", "基底段下壁", "基底段下侧壁", "基底段前侧壁",
    "中段前壁", "中段前间隔", "中段下间隔", "中段下壁", "中段下侧壁", "中段前侧壁",
    "心尖段前壁", "心尖段间隔", "心尖段下壁", "心尖段侧壁", "心尖",
)

_TEXT: dict[str, dict[str, str]] = {
    "en": {
        "summary": "Myocardial perfusion", "territories": "Coronary territories (LAD, LCX, RCA)",
        "seg_stress": "17 segments: stress uptake (% of maximum)", "seg_rest": "17 segments: rest uptake (% of maximum)",
        "other": "Other perfusion measurements", "simulated": " (simulated demo study)",
        "sss": "Summed stress score (SSS)", "srs": "Summed rest score (SRS)", "sds": "Summed difference score (SDS)",
        "total_extent_pct": "Abnormal extent, whole LV", "network_polar_mae_pct":
        "Network polar map vs classical (mean absolute difference)",
        "extent_pct": "{t} stress defect extent", "severity_sd": "{t} defect severity",
        "sss_t": "{t} summed stress score", "rest_extent_pct": "{t} rest defect extent",
        "reversible_extent_pct": "{t} reversible extent", "sds_t": "{t} summed difference score",
        "normal": "normal", "mild": "mildly abnormal", "moderate": "moderately abnormal", "severe": "severely abnormal",
        "ischaemia": "reversible defect (ischaemia)", "below": "below normal limit",
        "edited": "value edited by a person", "manual": "entered by a person",
        "bullseye_stress": "Stress bullseye (polar map)", "bullseye_rest": "Rest bullseye (polar map)",
        "slices": "Short-axis slices, apex to base, myocardium contour",
    },
    "zh-CN": {
        "summary": "心肌灌注", "territories": "冠脉供血区 (LAD, LCX, RCA)",
        "seg_stress": "17 节段: 负荷摄取 (最大值的 %)", "seg_rest": "17 节段: 静息摄取 (最大值的 %)",
        "other": "其他灌注测量", "simulated": " (模拟演示检查)",
        "sss": "负荷总积分 (SSS)", "srs": "静息总积分 (SRS)", "sds": "差值总积分 (SDS)",
        "total_extent_pct": "异常范围 (全左室)", "network_polar_mae_pct": "网络极坐标图与经典方法的平均绝对差",
        "extent_pct": "{t} 负荷缺损范围", "severity_sd": "{t} 缺损严重程度",
        "sss_t": "{t} 负荷积分", "rest_extent_pct": "{t} 静息缺损范围",
        "reversible_extent_pct": "{t} 可逆范围", "sds_t": "{t} 差值积分",
        "normal": "正常", "mild": "轻度异常", "moderate": "中度异常", "severe": "重度异常",
        "ischaemia": "可逆性缺损 (缺血)", "below": "低于正常下限",
        "edited": "数值经人工修改", "manual": "人工录入",
        "bullseye_stress": "负荷靶心图 (极坐标图)", "bullseye_rest": "静息靶心图 (极坐标图)",
        "slices": "短轴切面 (心尖到基底), 心肌轮廓",
    },
}


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
