"""Right heart, atria and TAPSE on apical clips (device/echo/right_heart.py) and the LA biplane volume
(device/services/la_biplane.py): a simulated A4C against the simulator's chambers, values equal to their points,
refusals with reasons, and the area-length arithmetic and BSA indexing."""

from __future__ import annotations

import numpy as np
import pytest

from device.echo import measures2d
from device.echo.measures2d import Clip2D, measure_clip
from device.eval.echo_2d_chambers import sim_clip, true_values
from device.services.la_biplane import la_biplane_ml, la_values


@pytest.fixture(scope="module")
def a4c():
    clip, phases = sim_clip("A4C", 1)          # a development seed (the evaluation uses 5000+)
    return clip, phases, measure_clip(clip)


def test_registered_for_both_apical_views():
    assert {"A4C", "A2C"} <= set(measures2d.views())


def test_simulated_a4c_within_tolerance_of_truth(a4c):
    clip, phases, d = a4c
    assert d["status"] == "measured"
    recs = {m["name"]: m for m in d["measures"]}
    ed, es = recs["rv_basal_mm"]["frame"], recs["la_a4c_area_mm2"]["frame"]
    assert recs["tapse_mm"]["frame"] == ed and recs["tapse_mm"]["frame2"] == es
    truth = true_values("A4C", phases[ed], phases[es])
    v = d["values"]
    assert v["rv_basal_mm"] == pytest.approx(truth["rv_basal_mm"], abs=4.0)
    assert v["rv_mid_mm"] == pytest.approx(truth["rv_mid_mm"], abs=4.0)
    assert v["la_a4c_area_mm2"] == pytest.approx(truth["la_a4c_area_mm2"], rel=0.2)
    assert v["tapse_mm"] == pytest.approx(truth["tapse_mm"], abs=1.5)
    assert "A4C clip (no separate RV-focused view)" in recs["rv_basal_mm"]["method"]


def test_each_value_equals_its_points(a4c):
    clip, _, d = a4c
    for m in d["measures"]:
        if m["value"] is not None:
            assert measures2d.value_of(m, clip.mm_per_px) == pytest.approx(m["value"], abs=1e-2), m["name"]
            assert len(m["points"]) == (2 if m["kind"] == "caliper" else len(m["points"])) >= 2


def test_blank_clip_refuses_every_value_with_a_reason():
    blank = np.zeros((6, 120, 160), np.uint8)
    for view, n in (("A4C", 7), ("A2C", 2)):
        d = measure_clip(Clip2D(blank, (0.5, 0.5), view))
        mine = [m for m in d["measures"] if m["name"].startswith(("rv_", "ra_", "la_a", "tapse"))]
        assert d["status"] == "refused" and len(mine) == n
        assert all(m["value"] is None and m["reason"] for m in mine)


def test_la_biplane_area_length_and_index():
    # 0.85 * 20 cm2 * 18 cm2 / 4.0 cm (the shorter length) = 76.5 mL
    assert la_biplane_ml(2000, 1800, 50, 40) == pytest.approx(76.5)
    v = la_values({"la_a4c_area_mm2": 2000, "la_a4c_length_mm": 50}, {"la_a2c_area_mm2": 1800,
                  "la_a2c_length_mm": 40}, 1.8)
    assert v == pytest.approx({"la_volume_ml": 76.5, "la_volume_index_ml_m2": 42.5})
    assert "la_volume_index_ml_m2" not in la_values({"la_a4c_area_mm2": 2000, "la_a4c_length_mm": 50},
                                                    {"la_a2c_area_mm2": 1800, "la_a2c_length_mm": 40}, None)
    assert la_values({"la_a4c_area_mm2": 2000}, {"la_a2c_area_mm2": 1800, "la_a2c_length_mm": 40}, 1.8) == {}


def test_store_la_biplane_rows_from_the_a4c_and_a2c_findings(a4c, tmp_path):
    from device.domain.codecs import encode_clip
    from device.lv.casetable import load_case_table
    from device.services.echo_measure2d import measure_2d
    from device.services.la_biplane import update_la_biplane
    from device.store import Store, clinical
    from device.store.db import Tx

    a2c, _ = sim_clip("A2C", 0)
    store = Store.open(tmp_path)
    with Tx(store.conn):
        p = clinical.upsert_patient(store.conn, "RH1", "Right Heart", "F")
        exam = clinical.create_exam(store.conn, p, "echo", None, [], height_cm=170, weight_kg=70)
        caps = [clinical.add_capture(store.conn, store.blobs, exam.id, "clip", encode_clip(c.frames, 20.0),
                                     "application/x-cardiocart-clip", label=c.view, quality=0.9,
                                     meta={"mm_per_px": list(c.mm_per_px), "fps": 20.0}) for c in (a4c[0], a2c)]
    table = load_case_table(None)
    for cap in caps:
        measure_2d(store.conn, store.blobs, exam, cap, table)
    with Tx(store.conn):
        vals = update_la_biplane(store.conn, clinical.get_exam(store.conn, exam.id), table)
    rows = {m.name: m for m in clinical.current_measurements(store.conn, exam.id)}
    v4, v2 = rows["la_a4c_area_mm2"].value, rows["la_a2c_area_mm2"].value
    want = la_biplane_ml(v4, v2, rows["la_a4c_length_mm"].value, rows["la_a2c_length_mm"].value)
    assert rows["la_volume_ml"].value == pytest.approx(want) == pytest.approx(vals["la_volume_ml"])
    assert rows["la_volume_index_ml_m2"].unit == "mL/m2"
    assert rows["la_volume_index_ml_m2"].value == pytest.approx(want / (170 * 70 / 3600) ** 0.5)
    # a sonographer moves the A4C LA length caliper: the biplane volume follows, as the person's
    from device.services.echo_measure2d import edit_2d, findings_2d
    from device.store import users
    with Tx(store.conn):
        uid = users.create_user(store.conn, "sonola", "Sono", "sonographer", "482913").id
    f4 = findings_2d(store.conn, exam.id)[caps[0].id]
    m = next(x for x in f4["detail"]["measures"] if x["name"] == "la_a4c_length_mm")
    (x0, y0), (x1, y1) = m["points"]
    edit_2d(store.conn, exam.id, f4["id"], "la_a4c_length_mm", [[x0, y0], [x0 + (x1 - x0) * 1.2,
                                                                  y0 + (y1 - y0) * 1.2]], uid, table)
    now = {r.name: r for r in clinical.current_measurements(store.conn, exam.id)}
    assert now["la_a4c_length_mm"].source == "edited" and now["la_volume_ml"].source == "edited"
    assert now["la_volume_ml"].value == pytest.approx(la_biplane_ml(v4, v2, now["la_a4c_length_mm"].value,
                                                                    rows["la_a2c_length_mm"].value))
    store.close()
