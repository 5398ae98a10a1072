"""The echo-view layout cue (device/echo/view_layout.py): where the dark pools lie in the fan."""
import time

import numpy as np
import pytest

from device.echo.prep import crop_fan
from device.echo.screen import find_sector
from device.echo.view_layout import DIM, N_A, N_R, fan_mask, layout_vector, layout_vectors


def _fan(size: int = 128) -> np.ndarray:
    """Bool sector mask: apex top centre, +-40 degrees, radius = size."""
    yy, xx = np.mgrid[0:size, 0:size].astype(float)
    dx, dy = xx - size / 2, yy + 0.5
    return (np.hypot(dx, dy) < size - 1) & (np.abs(np.degrees(np.arctan2(dx, dy))) < 40)


def _crop(pools: list[tuple[float, float]], tissue: int = 120) -> np.ndarray:
    """A fan of grey tissue with tall black pools (chambers) at (x, y) pixel centres, semi-axes 12 x 26 px, outside
    the fan 0."""
    m = _fan()
    yy, xx = np.mgrid[0:128, 0:128]
    img = np.full((128, 128), tissue, np.float64)
    img += np.random.default_rng(0).normal(0, 12, img.shape)   # speckle-like noise
    for x, y in pools:
        img[((xx - x) / 12) ** 2 + ((yy - y) / 26) ** 2 < 1] = 4
    img[~m] = 0
    return np.clip(img, 0, 255).astype(np.uint8)


def test_septum_score_sign_two_pools_beside_a_band_vs_one_central_pool():
    four = layout_vector(_crop([(38, 76), (90, 76)]))     # two chambers either side of a bright central band
    two = layout_vector(_crop([(64, 76)]))                # one central chamber
    assert four.shape == (DIM,) and four.dtype == np.float32
    assert four[-1] < -0.1 < 0.1 < two[-1]
    assert round(four[N_R * N_A] * 4) == 2 and round(two[N_R * N_A] * 4) == 1   # number of large pools
    assert four[-2] > 0.8   # left-right symmetric layout


def test_gain_and_gamma_do_not_move_the_layout_much():
    c = _crop([(46, 70), (82, 60)])
    dim = np.clip((c.astype(float) / 255) ** 1.6 * 180, 0, 255).astype(np.uint8)
    dim[c == 0] = 0
    a, b = layout_vector(c), layout_vector(dim)
    assert np.abs(a[: N_R * N_A] - b[: N_R * N_A]).max() < 0.1
    assert abs(a[-1] - b[-1]) < 0.05


def test_fan_mask_keeps_black_pools_inside_and_blank_crop_gives_zeros():
    c = _crop([(64, 70)])
    m = fan_mask(c)
    assert m[70, 64] and not m[5, 5]
    assert not layout_vector(np.zeros((128, 128), np.uint8)).any()
    assert layout_vectors(np.zeros((0, 128, 128), np.uint8)).shape == (0, DIM)
    with pytest.raises(ValueError, match="2-D grey crop"):
        layout_vector(np.zeros((128, 128, 3), np.uint8))


def test_simulated_a4c_has_a_lower_septum_score_than_a2c_and_is_fast():
    from device.sim.echo_machine import machine_samples

    scores = {}
    crops = []
    for view in ("A4C", "A2C"):
        rng = np.random.default_rng(7)
        v = []
        for _ in range(12):
            for img, _tr, _info in machine_samples(rng, view=view, n_variants=1):
                crops.append(crop_fan(img, find_sector(img), 128))
                v.append(layout_vector(crops[-1])[-1])
        scores[view] = float(np.mean(v))
    assert scores["A4C"] < scores["A2C"] - 0.02
    t0 = time.perf_counter()
    layout_vectors(np.stack(crops))
    assert (time.perf_counter() - t0) / len(crops) < 0.01   # ~0.4 ms measured on one idle core; loose on a shared box


def test_recipe_option_spreads_apical_mass_only_when_the_top_class_is_apical():
    from device.sim.echo_views import VIEWS
    from models.training.echo_view_layout import APICAL, combine_apical

    base = np.full((2, len(VIEWS)), 0.02)
    base[0, VIEWS.index("A2C")] = 1 - 0.02 * (len(VIEWS) - 1)    # apical top class
    base[1, VIEWS.index("PLAX")] = 1 - 0.02 * (len(VIEWS) - 1)   # not apical
    sub = np.array([[0.7, 0.1, 0.1, 0.1], [0.7, 0.1, 0.1, 0.1]])
    out = combine_apical(base, sub)
    idx = [VIEWS.index(v) for v in APICAL]
    assert VIEWS[int(out[0].argmax())] == "A4C"
    np.testing.assert_allclose(out[0, idx].sum(), base[0, idx].sum())
    np.testing.assert_allclose(out.sum(axis=1), 1.0)
    np.testing.assert_array_equal(out[1], base[1])
