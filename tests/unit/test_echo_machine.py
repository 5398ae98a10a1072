"""Randomised-machine simulator screens (view model v2 training data): label kept, colour Doppler drawn, non-echo
pictures, and the cart's fan finder still finds the fan on other vendors' layouts."""

from __future__ import annotations

import numpy as np

from device.echo.screen import find_sector, to_grey
from device.sim.echo_machine import machine_samples, random_machine_geom
from device.sim.echo_nonecho import NON_ECHO_KINDS, non_echo
from device.sim.echo_render import BModeRenderer
from device.sim.echo_vendor import VENDORS, colour_doppler_box, draw_vendor_overlay


def test_variants_share_the_scan_and_keep_the_label():
    rng = np.random.default_rng(1)
    out = machine_samples(rng, view="A4C", n_variants=3, size=(320, 240))
    assert len(out) == 3
    for img, truth, info in out:
        assert img.shape == (240, 320, 3) and img.dtype == np.uint8
        assert truth.view == "A4C" and 0.0 <= truth.quality <= 1.0 and info.kind == ""
    assert not np.array_equal(out[0][0], out[1][0])   # a different machine look


def test_fan_is_found_on_most_vendor_screens():
    rng = np.random.default_rng(7)
    found = 0
    for i in range(12):
        img, truth, _ = machine_samples(rng, view=("PLAX", "A4C", "PSAX-MV")[i % 3], n_variants=1,
                                        size=(400, 300))[0]
        sec = find_sector(img)
        if sec is not None:
            x0, y0, x1, y1 = sec.bbox
            tx0, ty0, tx1, ty1 = truth.sector_bbox
            found += abs((x1 - x0) - (tx1 - tx0)) < 0.35 * (tx1 - tx0)
    assert found >= 9


def test_colour_box_adds_flow_inside_the_fan_only():
    rng = np.random.default_rng(3)
    geom = random_machine_geom(rng, (320, 240))
    r = BModeRenderer(geom, seed=1)
    grey = (r.fan * 40).astype(np.uint8)         # a dark fan: all "blood"
    rgb = np.repeat(grey[:, :, None], 3, axis=2)
    colour_doppler_box(rgb, geom, rng)
    sat = rgb.max(axis=2).astype(int) - rgb.min(axis=2)
    coloured = sat > 60
    x0, y0, x1, y1 = geom.bbox()
    inside = coloured[:, : int(0.88 * 320)]       # the colour scale bar sits at the right edge
    assert inside.sum() > 100 and (inside & ~r.fan_mask[:, : int(0.88 * 320)]).sum() < 0.05 * inside.sum()
    assert (to_grey(rgb)[coloured] == 0).all()    # the cart drops colour pixels before the model


def test_vendor_overlays_draw_outside_the_fan():
    rng = np.random.default_rng(4)
    geom = random_machine_geom(rng, (400, 300))
    for v in VENDORS[:-1]:
        if v == "sonosite":
            continue
        rgb = np.zeros((300, 400, 3), np.uint8)
        draw_vendor_overlay(rgb, geom, v, rng)
        assert rgb.any(), v


def test_non_echo_pictures():
    rng = np.random.default_rng(0)
    for k in NON_ECHO_KINDS:
        img = non_echo(k, 240, 320, rng)
        assert img.shape == (240, 320, 3) and img.dtype == np.uint8 and img.std() > 2, k
    out = machine_samples(np.random.default_rng(11), view="OTHER", n_variants=2, size=(320, 240))
    assert all(t.view == "OTHER" and t.quality == 0.0 for _, t, _ in out)


def test_deep_scans_image_a_smaller_heart():
    d0 = [machine_samples(np.random.default_rng(i), view="A4C", n_variants=1, size=(320, 240))[0][1].depth_mm
          for i in range(6)]
    d1 = [machine_samples(np.random.default_rng(i), view="A4C", n_variants=1, size=(320, 240), p_deep=1.0)[0][1]
          .depth_mm for i in range(6)]
    assert np.mean(d1) > 1.15 * np.mean(d0)
