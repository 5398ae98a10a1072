"""Patent 004's septal motion amplitude (device/echo/septal_motion.py): read on the PLAX LV line from the LV
calipers of the same clip, signed by direction, refused without them; report group, case table."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from device.echo.measures2d import Clip2D, caliper_mm, measure_clip
from device.echo.septal_motion import measure_septal_motion


def _lv(es_septum_x: float):
    # LV line horizontal at y=50: septum at x=20 (ED), posterior wall at x=80; IVSd 10 px to the septum's left
    return {"calipers": {"lvidd": [[20.0, 50.0], [80.0, 50.0]], "ivsd": [[10.0, 50.0], [20.0, 50.0]],
                         "lvids": [[es_septum_x, 50.0], [72.0, 50.0]], "lvpwd": None},
            "frames": {"ed": {"index": 2}, "es": {"index": 7}}}


def _clip(lv):
    return Clip2D(np.zeros((10, 100, 100), np.uint8), (0.5, 0.4), "PLAX", fps=30.0, lv=lv)


def test_excursion_from_the_septal_ends_signed_and_spanning_ed_es():
    [m] = measure_septal_motion(_clip(_lv(30.0)))
    assert m.value == pytest.approx(10 * 0.4) and m.value == pytest.approx(caliper_mm(m.points, (0.5, 0.4)))
    assert (m.frame, m.frame2) == (2, 7) and "toward" in m.extra["direction"]
    [p] = measure_septal_motion(_clip(_lv(14.0)))                     # the septum moves away: paradoxical
    assert p.value == pytest.approx(6 * 0.4) and "paradoxical" in p.extra["direction"]


def test_refused_with_reasons_without_the_lv_calipers():
    d = measure_clip(_clip(None))
    rec = {m["name"]: m for m in d["measures"]}
    assert rec["ivs_motion_mm"]["value"] is None and "LV was not measured" in rec["ivs_motion_mm"]["reason"]
    lv = _lv(30.0)
    lv["calipers"]["lvids"] = None
    [m] = measure_septal_motion(_clip(lv))
    assert m.value is None and "LVIDs" in m.reason


def test_report_group_and_case_table():
    from device.lv.casetable import interpret, load_case_table
    from device.reporting.echo_sections import structure_of
    row = SimpleNamespace(name="ivs_motion_mm", base="ivs_motion_mm", group="other")
    assert structure_of(row, None) == "lv_linear"
    got = {i.measurement: i.interpretation for i in interpret({"ivs_motion_mm": 2.0}, "male", load_case_table())}
    assert got["ivs_motion_mm"] == "reduced (hypokinetic septum)"
