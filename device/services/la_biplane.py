"""LA biplane volume by area-length (ASE/EACVI 2015) from the A4C and A2C LA contours of one exam, indexed to BSA.

V = 0.85 * A1 * A2 / L (areas in cm2, L in cm -> mL), L the shorter of the two LA lengths (ASE). The inputs are the
current 2-D findings (device/services/echo_measure2d.py, kind ``echo_2d``) of the exam's A4C and A2C clips; the
values are stored under the A4C capture as ``la_volume_ml`` and, when the exam has height and weight,
``la_volume_index_ml_m2`` (Mosteller BSA). Source "edited" when either contour was edited by a person.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from device.lv.casetable import CaseTable
from device.store import clinical

NAMES = ("la_volume_ml", "la_volume_index_ml_m2")


def la_biplane_ml(a4c_area_mm2: float, a2c_area_mm2: float, a4c_length_mm: float, a2c_length_mm: float) -> float:
    """Area-length LA volume in mL from the two views' areas (mm2) and lengths (mm); ValueError on a non-positive
    input."""
    if min(a4c_area_mm2, a2c_area_mm2, a4c_length_mm, a2c_length_mm) <= 0:
        raise ValueError("LA areas and lengths must be positive")
    length_cm = min(a4c_length_mm, a2c_length_mm) / 10.0
    return 0.85 * (a4c_area_mm2 / 100.0) * (a2c_area_mm2 / 100.0) / length_cm


def la_values(a4c: dict[str, float], a2c: dict[str, float], bsa_m2: float | None) -> dict[str, float]:
    """{la_volume_ml[, la_volume_index_ml_m2]} from the two clips' 2-D values; {} when an input was not measured."""
    try:
        v = la_biplane_ml(a4c["la_a4c_area_mm2"], a2c["la_a2c_area_mm2"], a4c["la_a4c_length_mm"],
                          a2c["la_a2c_length_mm"])
    except (KeyError, ValueError):
        return {}
    out = {"la_volume_ml": v}
    if bsa_m2:
        out["la_volume_index_ml_m2"] = v / bsa_m2
    return out


def update_la_biplane(conn: sqlite3.Connection, exam: clinical.Exam, table: CaseTable) -> dict[str, float]:
    """Store the LA biplane values of the exam's latest measured A4C and A2C 2-D findings (call inside a Tx)."""
    from device.reporting.echo_sections import exam_bsa_m2
    from device.services.echo_measure import _store_values
    from device.services.echo_measure2d import findings_2d
    latest: dict[str, dict[str, Any]] = {}
    for f in sorted(findings_2d(conn, exam.id).values(), key=lambda f: f["id"]):
        d = f["detail"]
        if d.get("view") in ("A4C", "A2C") and d.get("status") == "measured":
            latest[d["view"]] = f
    if "A4C" not in latest or "A2C" not in latest:
        return {}
    f4, f2 = latest["A4C"], latest["A2C"]
    vals = la_values(f4["detail"]["values"], f2["detail"]["values"], exam_bsa_m2(exam))
    if not vals:
        return {}
    editors = [f for f in (f4, f2) if f["detail"].get("edited_by")]
    source = "edited" if editors else "auto"
    user_id = max(editors, key=lambda f: f["id"])["detail"]["edited_by"] if editors else None
    frames = tuple(sorted({int(m["frame"]) for f in (f4, f2) for m in f["detail"]["measures"]
                           if m["name"].startswith("la_a") and m.get("frame") is not None}))
    _store_values(conn, exam, f4["capture_id"], vals, f4["detail"], frames, source, user_id, table)
    return vals
