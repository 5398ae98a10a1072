"""'Is this an echo clip?' (device/echo/validity.py) on simulated B-mode clips (pass) and on drawn wrong inputs:
an MRI-like cine, a cartoon pulsing ring, a flat cartoon inside a fan, pixel noise, noise inside a fan, blank and
frozen clips, and unrelated frames (refused, each with its reason)."""

from __future__ import annotations

from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from device.echo.validity import THRESHOLDS, echo_clip_validity, fan_taper, view_model_says_not_echo

sim = pytest.importorskip("models.training.lv_seg_sim", reason="needs the echo simulator (device/sim)")

H, W = 480, 640


@pytest.fixture(scope="module")
def sim_a4c():
    return sim.sim_clip("A4C", 16, seed=11)


def fan_mask(h: int = H, w: int = W, half_deg: float = 40.0) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    ang = np.degrees(np.arctan2(xx - w / 2, yy + 5.0))
    r = np.hypot(xx - w / 2, yy + 5.0)
    return (np.abs(ang) < half_deg) & (r < 0.92 * h) & (r > 15)


def ring(t: int = 16) -> np.ndarray:
    out = []
    for k in range(t):
        f = np.zeros((H, W), np.uint8)
        r = int(90 + 25 * np.cos(2 * np.pi * k / t))
        cv2.circle(f, (W // 2, H // 2), r + 18, 200, -1)
        cv2.circle(f, (W // 2, H // 2), r, 20, -1)
        out.append(f)
    return np.stack(out)


def mri_like(t: int = 16, seed: int = 0) -> np.ndarray:
    """A short-axis MR cine look: rectangular field of view, a body oval, bright blood pool that beats, uint16."""
    rng = np.random.default_rng(seed)
    h = w = 256
    yy, xx = np.mgrid[0:h, 0:w]
    out = []
    for k in range(t):
        f = np.zeros((h, w), np.float32)
        f[((xx - w / 2) / (0.42 * w)) ** 2 + ((yy - h / 2) / (0.35 * h)) ** 2 < 1] = 300
        r = 22 + 8 * np.cos(2 * np.pi * k / t)
        d = np.hypot(xx - w / 2 + 10, yy - h / 2 + 5)
        f[d < r + 9] = 120
        f[d < r] = 900
        out.append(cv2.GaussianBlur(f, (0, 0), 1.5) + np.abs(rng.normal(0, 20, (h, w))))
    return np.stack(out).astype(np.uint16)


def flat_cartoon_in_fan(t: int = 16) -> np.ndarray:
    """A drawn fan with a flat grey 'myocardium' and a dark beating 'cavity': fan shape right, no speckle."""
    fan = fan_mask()
    out = []
    for k in range(t):
        f = np.where(fan, 90, 0).astype(np.uint8)
        a = int(60 + 15 * np.cos(2 * np.pi * k / t))
        cv2.ellipse(f, (W // 2, 230), (a + 20, 130), 0, 0, 360, 170, -1)
        cv2.ellipse(f, (W // 2, 230), (a, 110), 0, 0, 360, 10, -1)
        out.append(np.where(fan, f, 0).astype(np.uint8))
    return np.stack(out)


def test_simulated_bmode_clip_passes(sim_a4c):
    r = echo_clip_validity(sim_a4c[0])
    assert r.ok and r.reason == "" and r.failed == ()
    s = r.scores
    assert s["fan_taper"] < THRESHOLDS["max_fan_taper"][0]
    assert s["speckle_frac"] > THRESHOLDS["min_speckle_frac"][0] and s["speckle_corr"] > THRESHOLDS["min_speckle_corr"][0]
    assert s["moving_pairs"] > 0.5 and s["temporal_corr"] > THRESHOLDS["min_temporal_corr"][0]
    assert r.fan_mask is not None and r.fan_mask.shape == sim_a4c[0].shape[1:]
    # colour (RGB) frames of the same clip give the same answer
    assert echo_clip_validity(np.repeat(sim_a4c[0][..., None], 3, axis=3)).ok


@pytest.mark.parametrize("name, frames, failed, words", [
    ("mri", mri_like(), "fan", "not an ultrasound fan"),
    ("ring", ring(), "fan", "not an ultrasound fan"),
    ("cartoon_in_fan", flat_cartoon_in_fan(), "speckle", "no ultrasound speckle"),
    ("noise", np.random.default_rng(1).integers(0, 256, (12, H, W), dtype=np.uint8), "fan", "no ultrasound fan"),
    ("blank", np.zeros((12, H, W), np.uint8), "blank", "blank"),
])
def test_wrong_inputs_refused_with_reason(name, frames, failed, words):
    r = echo_clip_validity(frames)
    assert not r.ok, name
    assert r.failed[0] == failed, (name, r.failed, r.scores)
    assert r.reason.startswith("not an echo clip: ") and words in r.reason and "\n" not in r.reason


def test_noise_inside_a_fan_is_not_speckle():
    fan = fan_mask()
    rng = np.random.default_rng(3)
    frames = np.stack([np.where(fan, rng.integers(20, 200, (H, W)), 0) for _ in range(10)]).astype(np.uint8)
    r = echo_clip_validity(frames)
    assert not r.ok and r.failed[0] == "speckle" and "pixel noise" in r.reason
    assert r.scores["speckle_corr"] < THRESHOLDS["min_speckle_corr"][0]


def test_frozen_clip_refused(sim_a4c):
    frozen = np.repeat(sim_a4c[0][:1], 12, axis=0)
    r = echo_clip_validity(frozen)
    assert not r.ok and r.failed == ("frozen",) and "do not change" in r.reason


def test_unrelated_frames_refused():
    """Speckle-like grain (smoothed noise) inside a fan, drawn afresh for each frame: grain and fan right, but
    consecutive frames share nothing (noise or a slide show, not a beating heart)."""
    fan = fan_mask()
    rng = np.random.default_rng(5)
    frames = []
    for _ in range(10):
        g = cv2.GaussianBlur(rng.normal(0, 1, (H, W)).astype(np.float32), (0, 0), 1.2)
        frames.append(np.where(fan, np.clip(100 + 60 * g / g.std(), 0, 255), 0).astype(np.uint8))
    r = echo_clip_validity(np.stack(frames))
    assert not r.ok and r.failed == ("incoherent",), (r.failed, r.scores)


def test_given_sector_mask_is_used(sim_a4c):
    """A caller that knows the fan (DICOM regions) passes it: a box-shaped 'fan' is not a sector and is refused."""
    box = np.zeros(sim_a4c[0].shape[1:], bool)
    box[40:440, 100:540] = True
    assert fan_taper(box) == pytest.approx(1.0)
    r = echo_clip_validity(sim_a4c[0], sector_mask=box)
    assert not r.ok and "fan" in r.failed


def test_view_model_uncertain_or_other_counts_as_not_echo():
    ok = SimpleNamespace(view="A4C", uncertain=False)
    unsure = SimpleNamespace(view="A4C", uncertain=True)
    other = SimpleNamespace(view="OTHER", uncertain=False)
    assert view_model_says_not_echo([ok] * 6 + [unsure] * 4) is None
    reason = view_model_says_not_echo([ok] * 3 + [unsure] * 3 + [other] * 4)
    assert reason is not None and "7 of 10" in reason
    assert view_model_says_not_echo([]) is None


@pytest.mark.parametrize("frames", [np.zeros((0, 64, 64)), np.zeros((4, 0, 64, 3)), np.zeros((3, 40, 40, 2)),
                                    np.ones((5, 40, 40), complex), np.full((3, 64, 64), np.nan),
                                    np.zeros((2, 3, 40, 40, 3)), np.array([[1, 2], [3, 4]])])
def test_degenerate_arrays_are_refused_not_raised(frames):
    r = echo_clip_validity(frames)
    assert not r.ok and r.reason and r.failed


def test_low_gain_compressed_and_smoothed_echo_still_passes(sim_a4c):
    """What differs between machines must not make a real clip 'not echo': low gain, JPEG, persistence-like blur."""
    frames = sim_a4c[0]

    def jpeg(f, q):
        return cv2.imdecode(cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, q])[1], cv2.IMREAD_UNCHANGED)
    for name, x in (("dark", (frames * 0.4).astype(np.uint8)),
                    ("jpeg q20", np.stack([jpeg(f, 20) for f in frames])),
                    ("blur 1.2 px", np.stack([cv2.GaussianBlur(f, (0, 0), 1.2) for f in frames])),
                    ("half size", np.stack([cv2.resize(f, (320, 240), interpolation=cv2.INTER_AREA) for f in frames]))):
        r = echo_clip_validity(x)
        assert r.ok, (name, r.failed, r.scores)
    r = echo_clip_validity(flat_cartoon_in_fan())
    assert r.scores["speckle_peaks"] < THRESHOLDS["min_speckle_peaks"][0]
