"""The subcostal IVC measurer (device/echo/ivc_sc.py) on a simulated breathing IVC with known lumen, a blank clip,
and the ASE RA-pressure rule."""

from __future__ import annotations

import numpy as np
import pytest

from device.echo import ivc_sc
from device.echo.measures2d import Clip2D, caliper_mm, measure_clip
from device.eval.echo_2d_ivc import ivc_clip


def test_breathing_ivc_measured_within_3_mm_and_calipers_are_their_values():
    clip, tmax, tmin = ivc_clip(0, vary=False)
    d = measure_clip(clip)
    v = d["values"]
    assert v["ivc_max_mm"] == pytest.approx(tmax, abs=3.0)
    assert v["ivc_min_mm"] == pytest.approx(tmin, abs=3.0)
    assert v["ivc_max_mm"] - v["ivc_min_mm"] > 4.0           # the breath is seen (truth: 6.8 mm)
    assert v["ivc_collapse_pct"] == pytest.approx(100 * (v["ivc_max_mm"] - v["ivc_min_mm"]) / v["ivc_max_mm"])
    assert v["ivc_ra_pressure_mmhg"] == 8.0                   # 17-19 mm collapsing 36-45 %: the middle band
    for m in d["measures"]:
        if m["kind"] == "caliper":
            assert m["value"] == pytest.approx(caliper_mm(m["points"], clip.mm_per_px), abs=0.02)  # points kept to 0.01 px


def test_short_clip_refuses_the_minimum_and_the_collapse():
    clip, _, _ = ivc_clip(0, n=8, vary=False)                  # 1.3 s: less than a breath
    d = measure_clip(clip)
    rec = {m["name"]: m for m in d["measures"]}
    assert "ivc_max_mm" in d["values"] and "ivc_min_mm" not in d["values"]
    assert "whole breath" in rec["ivc_min_mm"]["reason"]
    assert rec["ivc_collapse_pct"]["value"] is None


def test_blank_clip_is_refused_with_a_reason():
    d = measure_clip(Clip2D(np.zeros((10, 240, 320), np.uint8), (0.4, 0.4), "SC-IVC", fps=10.0))
    assert d["status"] == "refused" and d["values"] == {}
    assert d["reason"]


@pytest.mark.parametrize("mx,collapse,want", [(18, 60, 3.0), (18, 40, 8.0), (24, 60, 8.0), (24, 30, 15.0)])
def test_ra_pressure_rule(mx, collapse, want):
    assert ivc_sc.ra_pressure_mmhg(mx, collapse) == want


def test_stored_ivc_clip_gives_rows_codes_group_and_interpretations(tmp_path):
    from types import SimpleNamespace

    from device.domain.codecs import encode_clip
    from device.lv.casetable import interpret, load_case_table
    from device.reporting.echo_sections import structure_of
    from device.reports.codes import concept_for
    from device.services.echo_measure import measure_capture
    from device.store import Store, clinical

    clip, _, _ = ivc_clip(1, vary=False)
    store = Store.open(tmp_path)
    from device.store.db import Tx
    with Tx(store.conn):
        p = clinical.upsert_patient(store.conn, "IVC1", "Vena Cava", "M")
        exam = clinical.create_exam(store.conn, p, "echo", None, [])
        cap = clinical.add_capture(store.conn, store.blobs, exam.id, "clip", encode_clip(clip.frames, clip.fps),
                                   "application/x-cardiocart-clip", label="SC-IVC", quality=0.9,
                                   meta={"mm_per_px": list(clip.mm_per_px), "fps": clip.fps})
    table = load_case_table(None)
    measure_capture(store.conn, store.blobs, cap.id, table=table)      # a 2-D-only view: no LV model is loaded
    rows = {m.name: m for m in clinical.current_measurements(store.conn, exam.id)}
    store.close()
    assert {"ivc_max_mm", "ivc_min_mm", "ivc_collapse_pct", "ivc_ra_pressure_mmhg"} <= set(rows)
    assert rows["ivc_max_mm"].model_name == "echo_2d" and rows["ivc_collapse_pct"].unit == "%"
    assert {structure_of(SimpleNamespace(name=n, base=n, group="other"), None) for n in rows} == {"ivc"}
    assert concept_for("echo", "ivc_max_mm").code == "79967-6" and concept_for("echo", "ivc_min_mm").is_local
    got = {i.measurement: i.interpretation for i in interpret({n: r.value for n, r in rows.items()}, "male", table)}
    assert got["ivc_max_mm"] == "normal" and got["ivc_ra_pressure_mmhg"] == "intermediate (8 mmHg)"
    assert got["ivc_collapse_pct"] == "reduced collapse (< 50 %)"


def test_cli_echo_measure_sc_ivc_json_and_refusal(tmp_path, capsys):
    import argparse
    import json

    import cv2

    from device.cli.echo_measure import register_measure
    from device.errors import InputError

    def run(argv):
        parser = argparse.ArgumentParser()
        register_measure(parser.add_subparsers())
        args = parser.parse_args(argv)
        return args.func(args)

    clip, tmax, _ = ivc_clip(0, vary=False)
    video = tmp_path / "ivc.avi"
    w = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), clip.fps, clip.frames.shape[2:0:-1])
    for f in clip.frames:
        w.write(cv2.cvtColor(f, cv2.COLOR_GRAY2BGR))
    w.release()
    mm = f"{clip.mm_per_px[0]:.4f}"
    assert run(["measure", str(video), "--view", "SC-IVC", "--mm-per-px", mm, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    got = {m["name"]: m for m in out["measurements_2d"]}
    assert out["status"] == "measured" and out["model"] == "echo_2d" and "diagnostic" in out["disclaimer"]
    assert abs(got["ivc_max_mm"]["value"] - tmax) < 3 and got["ivc_max_mm"]["unit"] == "mm"
    assert got["ivc_ra_pressure_mmhg"]["unit"] == "mmHg" and len(got["ivc_max_mm"]["points"]) == 2
    blank = tmp_path / "blank.avi"
    w = cv2.VideoWriter(str(blank), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (320, 240))
    for _ in range(10):
        w.write(np.zeros((240, 320, 3), np.uint8))
    w.release()
    with pytest.raises(InputError, match="no SC-IVC measurement"):
        run(["measure", str(blank), "--view", "SC-IVC", "--mm-per-px", "0.4"])


def test_a_clip_that_is_not_echo_is_refused_before_any_measurement(tmp_path):
    from device.domain.codecs import encode_clip
    from device.lv.casetable import load_case_table
    from device.services.echo_measure import measure_capture
    from device.services.echo_measure2d import findings_2d
    from device.store import Store, clinical
    from device.store.db import Tx

    yy, xx = np.mgrid[:240, :320]
    frames = np.stack([((np.hypot(yy - 120, xx - 160) // (8 + k % 3)) % 2 * 200).astype(np.uint8)
                       for k in range(30)])                              # rings: a drawing, not ultrasound
    store = Store.open(tmp_path)
    with Tx(store.conn):
        p = clinical.upsert_patient(store.conn, "IVC2", "Not Echo", "M")
        exam = clinical.create_exam(store.conn, p, "echo", None, [])
        cap = clinical.add_capture(store.conn, store.blobs, exam.id, "clip", encode_clip(frames, 10.0),
                                   "application/x-cardiocart-clip", label="SC-IVC", quality=0.9,
                                   meta={"mm_per_px": [0.4, 0.4], "fps": 10.0})
    measure_capture(store.conn, store.blobs, cap.id, table=load_case_table(None))
    d = findings_2d(store.conn, exam.id)[cap.id]["detail"]
    assert d["status"] == "refused" and d["reason"].startswith("not an echo clip")
    assert clinical.current_measurements(store.conn, exam.id) == []
    store.close()
