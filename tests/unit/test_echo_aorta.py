"""PLAX aortic root / LVOT calipers (device/echo/aorta.py) on a simulated clip with a known 22 mm lumen, a refusal
on a blank clip, calipers equal to their points' distance, and the AVA by the continuity equation."""

from __future__ import annotations

import numpy as np
import pytest

from device.echo import aorta
from device.echo.measures2d import Clip2D, caliper_mm, measure_clip
from device.eval.echo_2d_great import TRUTH_MM, plax_clip


def test_simulated_plax_calipers_near_truth_and_equal_their_points():
    clip = plax_clip(3)
    ms = {m.name: m for m in aorta.measure_aorta(clip)}
    assert set(ms) == set(aorta.NAMES)
    got = {n: m for n, m in ms.items() if m.value is not None}
    assert len(got) >= 4
    for m in got.values():
        assert m.value == pytest.approx(TRUTH_MM, abs=5.0)
        assert m.value == pytest.approx(caliper_mm(m.points, clip.mm_per_px), abs=1e-6)
        assert m.kind == "caliper" and m.frame is not None


def test_blank_clip_refuses_with_a_reason():
    d = measure_clip(Clip2D(np.zeros((4, 120, 160), np.uint8), (0.4, 0.4), "PLAX"))
    recs = {m["name"]: m for m in d["measures"]}
    for n in aorta.NAMES:
        assert recs[n]["value"] is None and recs[n]["reason"]


def test_ava_by_continuity_arithmetic_and_recomputed_after_an_edit():
    from device.values import ava_cm2, derived
    assert ava_cm2(20.0, 20.0, 40.0) == pytest.approx(np.pi * 1.0 ** 2 * 0.5)      # 1.57 cm2
    vals = {"lvot_diam_mm": 20.0, "lvot_vti_cm": 20.0, "av_vti_cm": 40.0, "av_ava_cm2": 1.57}
    assert derived("lvot_diam_mm", {**vals, "lvot_diam_mm": 16.0})["av_ava_cm2"] == pytest.approx(
        np.pi * 0.8 ** 2 * 0.5, abs=0.01)
    assert derived("av_vti_cm", {**vals, "av_vti_cm": 80.0})["av_ava_cm2"] == pytest.approx(0.79, abs=0.01)
    assert "av_ava_cm2" not in derived("lvot_diam_mm", {k: v for k, v in vals.items() if k != "av_ava_cm2"})


def test_ava_stored_once_diameter_and_vtis_exist_and_follows_a_new_diameter(tmp_path):
    from device.store import Store, clinical
    from device.store.db import Tx
    from device.usecases.echo_doppler import derive_ava

    store = Store.open(tmp_path)
    with Tx(store.conn):
        p = clinical.upsert_patient(store.conn, "AVA1", "Ava One", "M")
        exam = clinical.create_exam(store.conn, p, "echo", None, [])
        for name, v, unit in (("lvot_vti_cm", 20.0, "cm"), ("av_vti_cm", 40.0, "cm")):
            clinical.add_measurement(store.conn, exam.id, None, name, v, unit, "doppler-envelope", "0.2", (0,),
                                     source="auto")
        assert derive_ava(store.conn, exam.id, None) == []          # no LVOT diameter yet: nothing invented
        clinical.add_measurement(store.conn, exam.id, None, "lvot_diam_mm", 20.0, "mm", "echo_2d", "1.0.0", (0,),
                                 source="auto")
        assert len(derive_ava(store.conn, exam.id, None)) == 1
        rows = {m.name: m for m in clinical.current_measurements(store.conn, exam.id)}
        assert rows["av_ava_cm2"].value == pytest.approx(1.57) and rows["av_ava_cm2"].unit == "cm2"
        clinical.add_measurement(store.conn, exam.id, None, "lvot_diam_mm", 16.0, "mm", "echo_2d", "1.0.0", (0,),
                                 source="edited", supersedes=rows["lvot_diam_mm"].id)
        derive_ava(store.conn, exam.id, None)
        rows = {m.name: m for m in clinical.current_measurements(store.conn, exam.id)}
        assert rows["av_ava_cm2"].value == pytest.approx(1.01)
    store.close()


def test_report_rows_groups_codes_and_case_table():
    from types import SimpleNamespace

    from device.lv.casetable import interpret, load_case_table
    from device.reporting.echo_sections import structure_of
    from device.reports.codes import concept_for

    for name in (*aorta.NAMES, "av_ava_cm2"):
        row = SimpleNamespace(group="other", name=name, base=name)
        assert structure_of(row, None) == ("av_doppler" if name == "av_ava_cm2" else "aorta")
    assert concept_for("echo", "ao_stj_mm").code == "79955-1" and concept_for("echo", "av_ava_cm2").code == "79958-5"
    got = {i.measurement: i.interpretation for i in interpret(
        {"ao_sinus_mm": 39.0, "av_ava_cm2": 0.9, "av_ava_index_cm2_m2": 0.7}, "female", load_case_table(None))}
    assert got == {"ao_sinus_mm": "dilated", "av_ava_cm2": "severe aortic stenosis",
                   "av_ava_index_cm2_m2": "moderate aortic stenosis"}
