"""The sonographer's checks before EF (device/lv/validity.py) on drawn LV masks: a beating elongated cavity inside
a fan passes with ED/ES one systole apart; each failure (missing frame, round blob, wrapped trace, cut by the fan,
no beat, jumping trace, implausible rate, ED/ES not one systole apart, turning axis, no or wrong calibration) is
refused with its reason."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from device.lv import CAVITY, MYOCARDIUM
from device.lv.validity import (THRESHOLDS, ClipTiming, beat_period_frames, lv_clip_validity, pick_ed_es)

H, W = 240, 320
SP = (0.5, 0.5)                  # mm per pixel: the fan is 120 mm deep


def fan() -> np.ndarray:
    yy, xx = np.mgrid[0:H, 0:W]
    return (np.abs(np.degrees(np.arctan2(xx - W / 2, yy + 5.0))) < 42) & (np.hypot(xx - W / 2, yy + 5.0) < 235)


def lv_mask(half_w: float, half_l: float, angle: float = 0.0, cx: float = W / 2, cy: float = 120) -> np.ndarray:
    m = np.zeros((H, W), np.uint8)
    cv2.ellipse(m, (int(cx), int(cy)), (int(half_w) + 6, int(half_l) + 6), angle, 0, 360, MYOCARDIUM, -1)
    cv2.ellipse(m, (int(cx), int(cy)), (int(half_w), int(half_l)), angle, 0, 360, CAVITY, -1)
    return m


def beating(n: int = 40, period: float = 20.0, systole_frac: float = 0.35, **kw) -> np.ndarray:
    """n frames of an LV whose width and length follow a beat: ED at frame 0 of each period, ES a systole later."""
    out = []
    for i in range(n):
        ph = (i % period) / period
        s = ph / systole_frac if ph < systole_frac else 1 - (ph - systole_frac) / (1 - systole_frac)
        out.append(lv_mask(30 - 9 * s, 70 - 10 * s, **kw))     # width 60->42 px, length 140->120 px
    return np.stack(out)


def test_good_clip_passes_with_ed_es_one_systole_apart():
    masks = beating()
    timing = ClipTiming.of(fps=25.0)          # period 20 frames = 0.8 s = 75 /min
    r = lv_clip_validity(masks, SP, fan_mask=fan(), timing=timing)
    assert r.ok, r.reason
    assert r.scores["period_frames"] == pytest.approx(20, abs=1)
    assert r.scores["curve_hr_bpm"] == pytest.approx(75, abs=4)
    assert 0.15 <= (r.es_frame - r.ed_frame) / 20 <= 0.6
    assert r.ed_frame % 20 in (0, 19, 1) and r.es_frame % 20 in (6, 7, 8)
    assert r.as_dict()["ok"] is True


def test_one_missing_frame_refuses():
    masks = beating()
    masks[13] = 0
    r = lv_clip_validity(masks, SP, fan_mask=fan())
    assert not r.ok and r.failed[0] == "shape" and "no LV cavity found on frames 13 of 40" in r.reason
    assert r.reason.startswith("EF not given: ")


def test_round_blob_refused():
    masks = np.stack([lv_mask(40 - 5 * np.sin(i / 3) ** 2, 40 - 5 * np.sin(i / 3) ** 2) for i in range(20)])
    r = lv_clip_validity(masks, SP, fan_mask=fan())
    assert not r.ok and "too round" in r.reason


def test_trace_wrapping_into_another_chamber_refused():
    masks = beating(20)
    for m in masks:                                    # a second lobe joined by a neck: not convex
        cv2.ellipse(m, (W // 2 + 55, 120), (22, 60), 0, 0, 360, CAVITY, -1)
        m[112:128, W // 2 + 20: W // 2 + 40] = CAVITY
    r = lv_clip_validity(masks, SP, fan_mask=fan())
    assert not r.ok and r.failed[0] == "shape"
    assert r.scores["shape_frames"]["solidity"] >= 5 and r.scores["solidity_min"] < THRESHOLDS["min_solidity"][0]


def test_cavity_cut_by_the_fan_edge_refused():
    masks = beating(20, cx=W / 2 + 95, cy=150)        # pushed into the fan's right edge
    r = lv_clip_validity(masks, SP, fan_mask=fan())
    assert not r.ok and r.failed[0] == "shape" and ("fan" in r.reason), r.reason


def test_area_out_of_physiological_range_refused():
    masks = beating(20)
    r = lv_clip_validity(masks, (0.05, 0.05), fan_mask=None)    # the same pixels at 0.05 mm: a 2 cm2 'LV'
    assert not r.ok and "cavity area outside" in r.reason


def test_no_beat_refused():
    masks = np.stack([lv_mask(30, 70)] * 20)
    r = lv_clip_validity(masks, SP, fan_mask=fan())
    assert not r.ok and r.failed[0] == "beat" and "hardly changes" in r.reason


def test_jumping_trace_refused():
    rng = np.random.default_rng(0)
    masks = np.stack([lv_mask(w, 2.2 * w) for w in rng.uniform(20, 34, 30)])
    r = lv_clip_validity(masks, SP, fan_mask=fan())
    assert not r.ok and "jumps from frame to frame" in r.reason
    assert r.scores["roughness"] > THRESHOLDS["max_roughness"][0]


def test_implausible_rate_refused():
    masks = beating(40, period=8.0)
    r = lv_clip_validity(masks, SP, fan_mask=fan(), timing=ClipTiming.of(fps=10.0))   # 8 frames at 10 fps: 75 /min
    assert r.ok, r.reason
    r = lv_clip_validity(masks, SP, fan_mask=fan(), timing=ClipTiming.of(fps=50.0))   # 8 frames at 50 fps: 375 /min
    assert not r.ok and r.failed[0] == "rate" and "not a plausible heart rate" in r.reason


def test_rate_disagreeing_with_dicom_heart_rate_refused():
    masks = beating(40)
    r = lv_clip_validity(masks, SP, fan_mask=fan(), timing=ClipTiming.of(fps=25.0, hr_bpm=120.0))
    assert not r.ok and "the heart rate is 120" in r.reason


def test_ed_es_not_one_systole_apart_refused():
    """A curve whose 'systole' lasts 85 % of the beat (and 680 ms): not a systole."""
    masks = beating(40, systole_frac=0.85)
    r = lv_clip_validity(masks, SP, fan_mask=fan(), timing=ClipTiming.of(fps=25.0))
    assert not r.ok and "phase" in r.failed, (r.failed, r.scores)


def test_turning_long_axis_refused():
    masks = np.stack([lv_mask(30 - 9 * abs(np.sin(np.pi * i / 20)), 70, angle=2.0 * i) for i in range(20)])
    r = lv_clip_validity(masks, SP, fan_mask=fan())
    assert not r.ok and r.failed[0] == "axis" and "long axis turns" in r.reason


def test_calibration_missing_or_wrong_refused():
    masks = beating(20)
    r = lv_clip_validity(masks, None, fan_mask=fan())
    assert not r.ok and r.failed == ("calibration",) and "calibration" in r.reason
    r = lv_clip_validity(masks, (3.0, 3.0), fan_mask=fan())          # the fan would be 70 cm deep
    assert not r.ok and r.failed[0] == "calibration"


def test_pick_ed_es_stays_within_one_beat():
    t = np.arange(60)
    curve = 100 + 30 * np.cos(2 * np.pi * t / 20) + 5 * (t > 40)    # ED each 20 frames, the last beat bigger
    assert beat_period_frames(curve) == pytest.approx(20, abs=1)
    ed, es = pick_ed_es(curve, 20.0)
    assert 0 < es - ed <= 12
    assert beat_period_frames(curve[:25]) is None                   # about one beat: no period from the curve


def test_timing_of_ignores_absent_values():
    assert ClipTiming.of(fps=0, frame_time_ms=None, hr_bpm=0) == ClipTiming(None, None)
    assert ClipTiming.of(frame_time_ms=33.3, hr_bpm=72).frame_time_ms == pytest.approx(33.3)
    assert ClipTiming.of(fps=25.0).frame_time_ms == pytest.approx(40.0)


def test_rate_check_says_when_it_could_not_run():
    masks = beating(40)
    assert lv_clip_validity(masks, SP, fan_mask=fan(), timing=ClipTiming.of(fps=25.0)).scores["rate_checked"] is True
    r = lv_clip_validity(masks, SP, fan_mask=fan())                       # no frame time: rate unknown
    assert r.ok and r.scores["rate_checked"] is False and r.as_dict()["scores"]["rate_checked"] is False


def test_clip_starting_in_systole_pairs_es_with_the_next_ed():
    """A clip shorter than a beat that starts inside systole has no ED before its ES: the ES is paired with the
    next beat's ED (not with frame 0, which is part-way through the contraction)."""
    full = beating(40)
    masks = full[3:19]                                  # starts 3 frames into a 7-frame systole; 16 frames
    r = lv_clip_validity(masks, SP, fan_mask=fan(), timing=ClipTiming.of(fps=25.0))
    assert r.ok, r.reason
    assert r.es_frame == 4 and r.ed_frame > r.es_frame and r.scores["systole_in_clip"] is False
    whole = lv_clip_validity(full[:20], SP, fan_mask=fan(), timing=ClipTiming.of(fps=25.0))
    assert whole.ok and whole.ed_frame < whole.es_frame and whole.scores["systole_in_clip"] is True
    curve = np.r_[np.full(5, 100.0), 100 - 40 * np.sin(np.linspace(0, np.pi, 12)), np.full(5, 100.0)]
    curve[3] = 101.0                                    # a shallow wobble at the start is not an ES
    ed, es = pick_ed_es(curve, None)
    assert es in range(9, 13) and ed < es
