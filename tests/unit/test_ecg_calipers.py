"""Interval calipers and the robust global QT (issue 18 point 3)."""

from __future__ import annotations

import numpy as np
import pytest

from device.ecg.calipers import CaliperError, Calipers, _inliers, global_fiducials, intervals_from_calipers
from device.ecg.measure import _fiducials

FS, PRE, POST = 500.0, 0.3, 0.55
NAMES = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")


def _g(t, mu, sd, a):
    return a * np.exp(-0.5 * ((t - mu) / sd) ** 2)


def _beat(shift_s: float = 0.0, gain: float = 1.0) -> np.ndarray:
    t = np.arange(int((PRE + POST) * FS)) / FS - PRE - shift_s
    return gain * (_g(t, -0.16, 0.02, 0.15) - _g(t, -0.02, 0.008, 0.15) + _g(t, 0.0, 0.012, 1.0)
                   - _g(t, 0.025, 0.01, 0.25) + _g(t, 0.26, 0.045, 0.3))


def _beats(perturb: str | None = None, shift_s: float = 0.0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    out = {}
    for k, n in enumerate(NAMES):
        b = _beat(shift_s if n == perturb else 0.0, gain=0.7 + 0.05 * k)
        out[n] = b + rng.normal(0, 0.003, b.size)
    return out


def test_intervals_from_calipers_named_formula():
    c = Calipers(p_onset_s=-0.2, qrs_onset_s=-0.04, qrs_offset_s=0.06, t_end_s=0.36)
    b = intervals_from_calipers(c, rr_ms=1000.0)
    assert b.pr_ms == pytest.approx(160.0) and b.qrs_ms == pytest.approx(100.0) and b.qt_ms == pytest.approx(400.0)
    assert b.qtc_ms == pytest.approx(400.0) and b.qtc_formula == "bazett"
    f = intervals_from_calipers(c, rr_ms=640.0, formula="fridericia")
    assert f.qtc_ms == pytest.approx(400.0 / 0.64 ** (1 / 3)) and f.qtc_formula == "fridericia"
    assert intervals_from_calipers(c, rr_ms=640.0).qtc_ms == pytest.approx(500.0)
    # moving the T-end caliper 40 ms later adds 40 ms to QT
    c2 = Calipers(c.p_onset_s, c.qrs_onset_s, c.qrs_offset_s, 0.40)
    assert intervals_from_calipers(c2, 1000.0).qt_ms == pytest.approx(440.0)


@pytest.mark.parametrize("bad", [Calipers(-0.2, 0.05, 0.04, 0.3), Calipers(-0.01, -0.04, 0.06, 0.3),
                                 Calipers(-0.2, -0.04, 0.06, 0.05)])
def test_calipers_out_of_order_refused(bad):
    with pytest.raises(CaliperError):
        intervals_from_calipers(bad, rr_ms=800.0)


def test_robust_global_qt_bounded_when_one_lead_box_moves():
    fid0 = global_fiducials(_beats(), FS, PRE)
    assert fid0 is not None and fid0.calipers.t_end_s is not None
    qt0 = intervals_from_calipers(fid0.calipers, 1000.0).qt_ms
    assert 300 < qt0 < 480
    # V6's box moved 2 mm (= 80 ms at 25 mm/s): its beat is shifted against the others
    fid1 = global_fiducials(_beats("V6", 0.08), FS, PRE)
    qt1 = intervals_from_calipers(fid1.calipers, 1000.0).qt_ms
    assert abs(qt1 - qt0) < 15.0
    assert "V6" in fid1.leads_rejected


def test_naive_global_without_outlier_rejection_is_fragile():
    """The fragility the rejection removes: earliest onset / latest T end over all leads swings with one lead."""
    def naive(beats):
        f = [_fiducials(b, FS, PRE) for b in beats.values()]
        return (max(x[3] for x in f if x[3] is not None) - min(x[1] for x in f)) * 1000.0
    assert abs(naive(_beats("V6", 0.08)) - naive(_beats())) > 60.0


def test_inliers_rejects_one_outlier_only():
    vals = {"a": 0.30, "b": 0.31, "c": 0.305, "d": 0.298, "e": 0.55}
    assert _inliers(vals) == {"a", "b", "c", "d"}
    assert _inliers({"a": 0.3, "b": 0.9}) == {"a", "b"}


def _signals(perturb: str | None, shift_s: float, flat_t_in_ii: bool = False) -> np.ndarray:
    """10 s, 12 leads, RR 1 s: each lead's median beat is ``_beats`` tiled (lead II without T wave if asked)."""
    beats = _beats(perturb, shift_s)
    n = int(10 * FS)
    out = np.zeros((n, len(NAMES)))
    for j, name in enumerate(NAMES):
        b = beats[name].copy()
        if flat_t_in_ii and name == "II":
            t = np.arange(b.size) / FS - PRE
            b = b - (0.7 + 0.05 * j) * _g(t, 0.26, 0.045, 0.3)
        for k in range(1, 9):
            r = int(k * FS)
            out[r - int(PRE * FS): r - int(PRE * FS) + b.size, j] += b
    return out


@pytest.mark.parametrize("flat_t_in_ii", [False, True])
def test_measure_qt_bounded_when_one_lead_shifts(flat_t_in_ii):
    from device.ecg.measure import measure

    base = measure(_signals(None, 0.0, flat_t_in_ii), FS, NAMES)
    moved = measure(_signals("V6", 0.08, flat_t_in_ii), FS, NAMES)
    assert base.qt_ms is not None and moved.qt_ms is not None
    assert 300 < base.qt_ms < 480
    assert abs(moved.qt_ms - base.qt_ms) < 15.0


def test_median_beats_align_on_r_and_unmoved_markers_reproduce_the_intervals():
    """The beats the page draws: every lead, R at pre_s, the automatic QRS onset just before R; markers laid off
    from it with measure()'s intervals give back those intervals when saved unmoved."""
    from device.ecg.calipers import marker_positions, median_beats
    from device.ecg.measure import measure
    from device.sim import ecg_paper

    x = ecg_paper.synthetic_ecg(np.random.default_rng(4), hr_bpm=72)
    mb = median_beats(x, FS, NAMES)
    assert mb is not None and set(mb.beats) == set(NAMES) and mb.rhythm_lead == "II"
    r = int(mb.pre_s * FS)
    ii = mb.beats["II"]
    assert ii.size == int((0.3 + 0.55) * FS) and abs(int(np.argmax(np.abs(ii))) - r) <= 3
    assert -0.08 < mb.qrs_onset_s < 0.0
    m = measure(x, FS, NAMES)
    pos = marker_positions(mb.qrs_onset_s, m.pr_ms, m.qrs_ms, m.qt_ms)
    iv = intervals_from_calipers(Calipers(*(None if v is None else v / 1000.0 for v in pos.values())), m.rr_ms)
    assert iv.pr_ms == pytest.approx(m.pr_ms) and iv.qrs_ms == pytest.approx(m.qrs_ms)
    assert iv.qt_ms == pytest.approx(m.qt_ms) and iv.qtc_ms == pytest.approx(m.qtc_bazett_ms)


def test_median_beats_none_without_two_beats():
    from device.ecg.calipers import median_beats

    assert median_beats(np.zeros((5000, 12)), FS, NAMES) is None              # flat: no beats
    assert median_beats(np.full((5000, 12), np.nan), FS, NAMES) is None       # nothing printed
    assert median_beats(np.zeros((400, 12)), FS, NAMES) is None               # under 2 s
    assert median_beats(np.zeros((5000, 3)), FS, NAMES) is None               # leads do not match
