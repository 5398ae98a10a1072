"""The 2-D echo measurement registry (device.echo.measures2d) and its store side (device.services.echo_measure2d):
values from calipers and contours in mm / mm2 with anisotropic pixels, derived values following an edit, a refusal
when nothing is measured, and edits stored as "edited" rows that a re-measurement never replaces."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from device.echo import measures2d
from device.echo.measures2d import Clip2D, Measure2D, apply_edit, measure_clip
from device.errors import InputError


def _fake_module(name: str = "fake_measures2d_test") -> str:
    mod = types.ModuleType(name)

    def width(clip: Clip2D) -> list[Measure2D]:
        # a bright bar: its two ends are the caliper (a real measurer finds edges; this one reads a known image)
        cols = np.where(clip.frames[0].max(axis=0) > 128)[0]
        if len(cols) == 0:
            return [Measure2D("bar_width_mm", None, "no bar in the image")]
        return [Measure2D("bar_width_mm", (cols[-1] - cols[0]) * clip.mm_per_px[1], points=((cols[0], 5.0),
                          (cols[-1], 5.0)), frame=0, phase="ed", method="edge to edge")]

    def square(clip: Clip2D) -> list[Measure2D]:
        if clip.frames[0].max() <= 128:
            return [Measure2D("box_area_mm2", None, "no box", kind="contour")]
        pts = ((2.0, 2.0), (12.0, 2.0), (12.0, 7.0), (2.0, 7.0))
        return [Measure2D("box_area_mm2", 10 * 5 * clip.mm_per_px[0] * clip.mm_per_px[1], kind="contour",
                          points=pts, frame=1)]

    mod.MEASURERS = {"TEST": [width, square]}
    mod.DERIVED = {"TEST": lambda v: {"bar_ratio_pct": 100 * v["bar_width_mm"] / 20.0
                                      if "bar_width_mm" in v else None}}
    sys.modules[name] = mod
    return name


@pytest.fixture
def registry(monkeypatch):
    monkeypatch.setattr(measures2d, "MODULES", (_fake_module(),))
    frames = np.zeros((3, 20, 30), np.uint8)
    frames[:, 3:8, 4:14] = 200                  # columns 4..13: 9 px between the ends
    return frames


def test_measure_clip_values_units_and_derived(registry):
    d = measure_clip(Clip2D(registry, (0.5, 0.4), "TEST"))
    assert measures2d.views() == ("TEST",)
    assert d["status"] == "measured" and d["image_size"] == [20, 30]
    assert d["values"]["bar_width_mm"] == pytest.approx(9 * 0.4)
    assert d["values"]["box_area_mm2"] == pytest.approx(50 * 0.5 * 0.4)
    assert d["values"]["bar_ratio_pct"] == pytest.approx(100 * 3.6 / 20)
    rec = {m["name"]: m for m in d["measures"]}
    assert measures2d.value_of(rec["bar_width_mm"], (0.5, 0.4)) == pytest.approx(3.6)
    assert measures2d.value_of(rec["box_area_mm2"], (0.5, 0.4)) == pytest.approx(10.0)


def test_edit_recomputes_value_and_derived_values(registry):
    d = measure_clip(Clip2D(registry, (0.5, 0.4), "TEST"))
    e = apply_edit(d, "bar_width_mm", [[4, 5], [14, 5 + 10]])      # 10 columns x 0.4, 10 rows x 0.5
    assert e["values"]["bar_width_mm"] == pytest.approx(np.hypot(4.0, 5.0), abs=1e-3)
    assert e["values"]["bar_ratio_pct"] == pytest.approx(100 * np.hypot(4.0, 5.0) / 20, abs=1e-2)
    assert "edited" in {m["name"]: m for m in e["measures"]}["bar_width_mm"]["method"]
    assert d["values"]["bar_width_mm"] == pytest.approx(3.6)        # the original is not changed (pure)
    with pytest.raises(InputError, match="computed from other"):
        apply_edit(d, "bar_ratio_pct", [[0, 0], [1, 1]])
    with pytest.raises(InputError, match="two points|2 finite"):
        apply_edit(d, "bar_width_mm", [[0, 0], [1, 1], [2, 2]])
    with pytest.raises(InputError, match="not a measurement"):
        apply_edit(d, "rv_basal_mm", [[0, 0], [1, 1]])


def test_nothing_measured_is_a_refusal_with_reasons_and_a_caliper_can_be_placed(registry):
    d = measure_clip(Clip2D(np.zeros((2, 20, 30), np.uint8), (0.5, 0.5), "TEST"))
    assert d["status"] == "refused" and d["values"] == {}
    assert "no bar in the image" in d["reason"] and "no box" in d["reason"]
    e = apply_edit(d, "bar_width_mm", [[0, 0], [10, 0]])             # placed by hand on a refused clip
    assert e["status"] == "measured" and e["values"]["bar_width_mm"] == pytest.approx(5.0)


def test_unknown_view_and_colour_frames(registry):
    with pytest.raises(InputError, match="no 2-D measurement"):
        measure_clip(Clip2D(registry, (0.5, 0.5), "SSN"))
    rgb = np.repeat(registry[..., None], 3, axis=3)
    assert measure_clip(Clip2D(rgb, (0.5, 0.4), "TEST"))["values"]["bar_width_mm"] == pytest.approx(3.6)


def test_store_measure_edit_and_remeasure_keeps_the_edit(registry, tmp_path, monkeypatch):
    from device.domain.codecs import encode_clip
    from device.echo import validity
    # the test clip is a drawing, not echo: its validity check (tested in test_echo_ivc_sc) is passed here
    monkeypatch.setattr(validity, "echo_clip_validity", lambda frames, sector_mask=None: validity.EchoValidity(
        True, "", ()))
    from device.lv.casetable import load_case_table
    from device.services.echo_measure import measure_exam
    from device.services.echo_measure2d import edit_2d, findings_2d
    from device.store import Store, clinical, users
    from device.store.db import Tx

    store = Store.open(tmp_path)
    with Tx(store.conn):
        uid = users.create_user(store.conn, "sono2d", "Sono", "sonographer", "482913").id
        p = clinical.upsert_patient(store.conn, "M2D1", "Two D", "F")
        exam = clinical.create_exam(store.conn, p, "echo", None, [])
        cap = clinical.add_capture(store.conn, store.blobs, exam.id, "clip", encode_clip(registry, 20.0),
                                   "application/x-cardiocart-clip", label="TEST", quality=0.9,
                                   meta={"mm_per_px": [0.5, 0.4], "fps": 20.0})
    table = load_case_table(None)
    measure_exam(store.conn, store.blobs, exam.id, table=table)
    f = findings_2d(store.conn, exam.id)[cap.id]
    assert f["detail"]["values"]["bar_width_mm"] == pytest.approx(3.6)
    rows = {m.name: m for m in clinical.current_measurements(store.conn, exam.id)}
    assert rows["bar_width_mm"].source == "auto" and rows["bar_width_mm"].unit == "mm"
    assert rows["box_area_mm2"].unit == "mm2" and rows["bar_width_mm"].model_name == "echo_2d"
    out = edit_2d(store.conn, exam.id, f["id"], "bar_width_mm", [[4, 5], [12, 5]], uid, table)
    assert out["changed"] == ["bar_ratio_pct", "bar_width_mm"]
    rows = {m.name: m for m in clinical.current_measurements(store.conn, exam.id)}
    assert rows["bar_width_mm"].source == "edited" and rows["bar_width_mm"].value == pytest.approx(3.2)
    measure_exam(store.conn, store.blobs, exam.id, table=table, remeasure=True)
    rows = {m.name: m for m in clinical.current_measurements(store.conn, exam.id)}
    assert rows["bar_width_mm"].source == "edited" and rows["bar_width_mm"].value == pytest.approx(3.2)
    from device.errors import UserError
    with pytest.raises(UserError, match="changed meanwhile"):
        edit_2d(store.conn, exam.id, f["id"], "bar_width_mm", [[4, 5], [12, 5]], uid, table)
    store.close()
