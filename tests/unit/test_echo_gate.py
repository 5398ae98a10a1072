"""The standard-view gate, guidance hints, quality smoothing and protocol: timed sequences in, events out."""

from __future__ import annotations

import numpy as np
import pytest

from device.echo.gate import GateParams, StandardViewGate
from device.echo.guidance import GuidanceSmoother, hint_for
from device.echo.prep import ViewOutput
from device.echo.protocol import ExamProtocol
from device.echo.quality import QualitySmoother
from device.errors import InputError

LABELS = ("PLAX", "A4C", "OTHER")
MS = 1_000_000


def out(view: str, q: float, guide: str = "rotate_cw") -> ViewOutput:
    p = np.full(len(LABELS), 0.02)
    p[LABELS.index(view)] = 0.96
    return ViewOutput(view, 0.96, p, q, guide, 0.9)


def run(gate, seq, target="A4C", dt_ms=33):
    """seq: list of (n_frames, ViewOutput|None, bad). Returns (states, events) over all frames."""
    t, states, events = 0, [], []
    for n, o, bad in seq:
        for _ in range(n):
            s, ev = gate.update(t, o, target, bad_signal=bad)
            states.append(s)
            events += ev
            t += dt_ms * MS
    return states, events


def test_standard_view_after_holding_quality():
    g = StandardViewGate(LABELS, GateParams(quality_threshold=0.6, hold_s=1.0))
    states, events = run(g, [(60, out("A4C", 0.9), False)])
    std = [e for e in events if e.kind == "standard_view"]
    assert len(std) == 1 and std[0].tone == "standard" and std[0].view == "A4C"
    t_std = std[0].t_mono_ns / 1e9
    assert 0.9 <= t_std <= 1.5  # smoothing + 1 s hold
    assert states[-1].status == "standard" and states[-1].hold_frac == 1.0


def test_alarm_with_hint_when_quality_stays_low():
    g = StandardViewGate(LABELS, GateParams(alarm_after_s=1.0, alarm_repeat_s=3.0))
    states, events = run(g, [(150, out("A4C", 0.2, "slide_apex"), False)])
    alarms = [e for e in events if e.kind == "alarm"]
    assert alarms and alarms[0].tone == "alarm" and alarms[0].hint.code == "slide_apex"
    assert "apex" in alarms[0].text_en
    assert 2 <= len(alarms) <= 3  # ~5 s: first after 1 s, then every 3 s
    assert not [e for e in events if e.kind == "standard_view"]
    assert states[-1].hint.arrow == "slide-apex"


def test_wrong_view_asks_for_the_target():
    g = StandardViewGate(LABELS, GateParams(alarm_after_s=0.5))
    states, events = run(g, [(40, out("PLAX", 0.95), False)], target="A4C")
    assert states[-1].status == "searching" and states[-1].hint.code == "find_view"
    assert any(e.kind == "alarm" and "A4C" in e.text_en for e in events)


def test_no_signal_then_back_then_no_heart():
    g = StandardViewGate(LABELS, GateParams(no_signal_after_s=0.5, no_heart_after_s=1.0))
    states, events = run(g, [(30, None, True), (5, out("A4C", 0.9), False), (45, out("OTHER", 0.0), False)])
    kinds = [e.kind for e in events]
    assert kinds.count("no_signal") == 1 and "signal_back" in kinds and kinds.count("no_heart") == 1
    assert kinds.index("no_signal") < kinds.index("signal_back") < kinds.index("no_heart")
    assert states[0].status == "no_signal" and states[-1].status == "not_echo"  # "no_heart" before issue 12
    assert next(e for e in events if e.kind == "no_heart").tone is None  # not an echo view: said, no tone


def test_hysteresis_keeps_a_standard_view_through_a_small_dip():
    g = StandardViewGate(LABELS, GateParams(quality_threshold=0.6, hysteresis=0.1, hold_s=0.5))
    states, events = run(g, [(40, out("A4C", 0.8), False), (30, out("A4C", 0.56), False)])
    assert states[-1].status == "standard"
    assert [e.kind for e in events].count("standard_view") == 1


def test_quality_smoother_time_constant_and_gap_reset():
    s = QualitySmoother(tau_s=0.5, reset_gap_s=1.0)
    assert s.update(0, 0.0) == 0.0
    v = s.update(int(0.5e9), 1.0)
    assert v == pytest.approx(1 - np.exp(-1))
    assert s.update(int(3e9), 0.2) == pytest.approx(0.2)  # after a gap it restarts


def test_guidance_smoother_majority_and_hint_texts():
    gs = GuidanceSmoother(n=5)
    for code in ("tilt_up", "tilt_up", "rock_toward_marker", "tilt_up", "depth_more"):
        h = gs.update(code, 0.8)
    assert h.code == "tilt_up" and h.text_zh and h.arrow == "up"
    assert hint_for("no_such_move").code == "hold"


def test_protocol_advances_and_is_editable():
    p = ExamProtocol(["PLAX", "A4C", "A2C"])
    assert p.target == "PLAX"
    assert not p.mark_captured("A2C", 0.8)  # not the target: recorded, no advance
    assert p.mark_captured("PLAX", 0.7) and p.target == "A4C"
    assert p.skip() == "A4C" or p.views[-1] == "A4C"
    p.select("PLAX")
    assert p.target == "PLAX"
    p.mark_captured("PLAX", 0.9)
    p.mark_captured("A4C", 0.9)
    assert p.done and [i.captured for i in p.items()] == [True, True, True]
    with pytest.raises(InputError, match="valid"):
        p.set_views(["A4C", "A7C"])


def _unsure(q: float = 0.1) -> ViewOutput:
    o = out("PLAX", q)
    return ViewOutput(o.view, 0.5, o.view_probs, q, o.guidance, 0.9, uncertain=True, ood_score=1.0)


def test_brief_abstention_does_not_restart_the_search_alarm_but_a_long_one_does():
    # searching (another view shown) with one uncertain frame every 0.5 s: the alarm still sounds after alarm_after_s
    p = GateParams(alarm_after_s=1.5, abstain_grace_s=0.5)
    blips = [(14, out("PLAX", 0.8), False), (1, _unsure(), False)] * 5
    states, events = run(StandardViewGate(LABELS, p), blips)
    alarms = [e for e in events if e.kind == "alarm"]
    assert alarms and 1.5 <= alarms[0].t_mono_ns / 1e9 < 1.7
    assert all(s.status == "uncertain" for s in states[14::15])        # the uncertain frames are still shown so
    # unsure for 0.66 s (> grace) in the middle of the search: the timer restarts, no alarm before 1.5 s of search again
    states, events = run(StandardViewGate(LABELS, p), [(30, out("PLAX", 0.8), False), (20, _unsure(), False),
                                                       (60, out("PLAX", 0.8), False)])
    alarms = [e for e in events if e.kind == "alarm"]
    assert alarms and alarms[0].t_mono_ns / 1e9 >= 50 * 0.033 + 1.5 - 0.04   # search restarted at frame 50
