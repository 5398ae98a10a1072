"""Colour-Doppler regurgitant jets (issue 14 part 3): simulator truth vs reader, refusals, grading table, CLI."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from device.echo.jets import read_jets
from device.echo.jets_rules import RULES, criterion_score, grade
from device.sim.echo_colour_jets import jet_frame


@pytest.mark.parametrize("seed,target", [(3, "moderate"), (21, "severe"), (8, "mild")])
def test_simulated_mr_jet_area_vc_and_grade(seed, target):
    rgb, t = jet_frame(np.random.default_rng(seed), "MR", target, p_noisy=0.0)
    cs, _ = cv2.findContours(t.chamber.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    r = read_jets(rgb, t.mm_per_px, "A4C", atrium=max(cs, key=cv2.contourArea).reshape(-1, 2))
    assert r.refused is None
    mr = [j for j in r.records if j.valve == "MR"]
    assert len(mr) == 1, [j.valve for j in r.records]
    v = mr[0].values
    assert abs(v["jet_area_cm2"] - t.jet_area_cm2) <= 0.3 * t.jet_area_cm2 + 0.3
    assert v["vc_mm"] is not None and abs(v["vc_mm"] - t.vc_mm) <= 2.5
    assert abs(v["jet_atrium_pct"] - t.jet_atrium_pct) <= 0.3 * t.jet_atrium_pct + 3   # as the area
    assert mr[0].grade == t.grade and "ASE 2017" in mr[0].rule and len(mr[0].outline) >= 4


def test_greyscale_frame_is_refused_no_colour_box():
    rgb, t = jet_frame(np.random.default_rng(4), "MR", "severe", p_noisy=0.0)
    grey = np.repeat(rgb.mean(axis=2, keepdims=True).astype(np.uint8), 3, axis=2)
    r = read_jets(grey, t.mm_per_px, "A4C")
    assert r.refused is not None and r.refused.startswith("no colour box") and not r.records


def test_noisy_colour_is_refused_and_no_jet_grades_none():
    rgb, t = jet_frame(np.random.default_rng(5), "MR", "none", p_noisy=1.0)
    assert read_jets(rgb, t.mm_per_px, "A4C").refused.startswith("colour too noisy")
    rgb, t = jet_frame(np.random.default_rng(5), "MR", "none", p_noisy=0.0)
    r = read_jets(rgb, t.mm_per_px, "A4C")
    assert r.refused is None and [j.grade for j in r.records] == ["none"]


def test_grading_table_boundaries():
    by = {(c.valve, c.measure): c for c in RULES}
    vc = by[("MR", "vc_mm")]
    assert [criterion_score(vc, x) for x in (2.9, 3.0, 6.9, 7.0)] == [1, 2, 2, 3]      # <3 mild, >=7 severe
    area = by[("MR", "jet_area_cm2")]
    assert [criterion_score(area, x) for x in (3.9, 4.0, 10.0, 10.1)] == [1, 2, 2, 3]  # <4 mild, >10 severe
    ar_vc = by[("AR", "vc_mm")]
    assert [criterion_score(ar_vc, x) for x in (6.0, 6.1)] == [2, 3]                    # AR VC >6 severe
    assert criterion_score(by[("AR", "jet_outflow_pct")], 65.0) == 3                    # AR width/LVOT >=65 %
    assert grade("TR", {"jet_area_cm2": 4.0, "vc_mm": 7.0})[0] == "moderate"            # mean 2.0
    assert grade("MR", {"jet_area_cm2": 3.0, "vc_mm": 5.0})[0] == "moderate"            # mean 1.5 rounds up
    assert grade("MR", {"jet_area_cm2": 3.0, "vc_mm": 2.0, "jet_atrium_pct": 30})[0] == "mild"   # mean 1.33
    assert grade("PR", {})[0] == ""


def test_cli_json_and_one_line_error_on_bad_file(tmp_path, capsys):
    from device.__main__ import main

    rgb, t = jet_frame(np.random.default_rng(3), "MR", "moderate", p_noisy=0.0)
    png = tmp_path / "mr.png"
    cv2.imwrite(str(png), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    ov = tmp_path / "ov.png"
    assert main(["echo", "jets", str(png), "--mm-per-px", str(t.mm_per_px), "--json", "--overlay", str(ov)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["jets"][0]["valve"] == "MR" and out["model"] == "echo_jets 1.0.0" and out["disclaimer"]
    drawn = cv2.cvtColor(cv2.imread(str(ov)), cv2.COLOR_BGR2RGB)
    yellow = [tuple(drawn[y, x]) == (255, 255, 0) for x, y in out["jets"][0]["outline"]]
    assert sum(yellow) >= 0.5 * len(yellow)                       # the jet's outline is drawn on the frame
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    rc = main(["echo", "jets", str(bad), "--mm-per-px", "0.5"])
    err = capsys.readouterr().err.strip()
    assert rc != 0 and len(err.splitlines()) == 1 and "Traceback" not in err


def test_use_case_stores_rows_and_finding(tmp_path):
    from device.domain.codecs import encode_clip
    from device.store import Store, clinical
    from device.store.db import Tx
    from device.usecases.echo_jets import read_capture

    rgb, t = jet_frame(np.random.default_rng(3), "MR", "moderate", p_noisy=0.0)
    s = Store.open(tmp_path)
    try:
        with Tx(s.conn) as c:
            eid = clinical.create_exam(c, clinical.upsert_patient(c, "JET001", "Li, Wei", "M", "1960-01-02"),
                                       "echo", None).id
            cap = clinical.add_capture(c, s.blobs, eid, "clip", encode_clip(np.stack([rgb, rgb]), 30.0),
                                       "application/x-cardiocart-clip", "A4C", None, {"mm_per_px": t.mm_per_px})
        out = read_capture(s.conn, s.blobs, cap.id, atrium=t.chamber)
        cur = {m.name: m for m in clinical.current_measurements(s.conn, eid)}
        assert out["status"] == "measured"
        assert cur["mr_jet_area_cm2"].value == pytest.approx(t.jet_area_cm2, abs=0.3 * t.jet_area_cm2 + 0.3)
        assert cur["mr_grade"].value == 2 and cur["mr_jet_area_cm2"].unit == "cm2"
        assert {"mr_vc_mm", "mr_jet_la_pct"} <= set(cur) and cur["mr_grade"].model_name == "echo_jets"
        f = [f for f in clinical.list_findings(s.conn, eid) if f["kind"] == "colour_jets"]
        assert f and f[0]["detail"]["jets"][0]["rule"].startswith("MR:")
    finally:
        s.close()


def test_jet_rows_go_to_the_valves_group_with_case_table_grades():
    from types import SimpleNamespace

    from device.lv.casetable import interpret, load_case_table
    from device.reporting.echo_sections import structure_of
    from device.reports.codes import concept_for

    assert [concept_for("echo", n).code for n in ("mr_vc_mm", "tr_vc_mm", "ar_vc_mm", "ar_jet_lvot_pct")] == \
        ["80061-5", "79933-8", "79948-6", "79944-5"]                  # LOINC (DICOM CID 12300)
    assert concept_for("echo", "mr_grade").is_local and concept_for("echo", "mr_jet_area_cm2").is_local

    def row(name):
        return SimpleNamespace(name=name, base=name, group="other")

    assert [structure_of(row(n), None) for n in ("mr_jet_area_cm2", "tr_vc_mm", "ar_grade", "tr_vmax_m_s")] == \
        ["valves", "valves", "valves", "tr_doppler"]
    got = {i.measurement: i.interpretation for i in interpret({"mr_jet_area_cm2": 10.0, "mr_vc_mm": 7.0,
                                                                "mr_grade": 3}, "female", load_case_table())}
    assert got == {"mr_jet_area_cm2": "moderate MR (jet area)", "mr_vc_mm": "severe MR (vena contracta)",
                   "mr_grade": "severe MR"}


@pytest.mark.parametrize("valve,seed", [("AR", 2), ("PR", 2), ("TR", 2)])
def test_other_valves_found_from_view_and_side(valve, seed):
    from device.sim.echo_colour_jets import OUTFLOW_MM

    rgb, t = jet_frame(np.random.default_rng(seed), valve, "moderate", p_noisy=0.0)
    r = read_jets(rgb, t.mm_per_px, t.view, outflow_diam_mm=OUTFLOW_MM.get(valve))
    got = {j.valve: j for j in r.records}
    assert r.refused is None and valve in got, (r.refused, list(got))
    assert abs(got[valve].values["jet_area_cm2"] - t.jet_area_cm2) <= 0.3 * t.jet_area_cm2 + 0.3
    if valve in ("AR", "PR"):
        assert abs(got[valve].values["jet_outflow_pct"] - t.jet_outflow_pct) <= 20
