"""Aortic-root diameter from the PLAX image (device/lv/aortic_root.py) on drawn scenes with known geometry."""

import cv2
import numpy as np
import pytest

from device.lv import CAVITY, LEFT_ATRIUM, MYOCARDIUM
from device.lv.aortic_root import aortic_root_from_image
from device.lv.plax import _lv_line, plax_linear

SP = (0.4, 0.4)   # mm per pixel


def scene(lumen_mm=24.0, wall_mm=2.4, tilt_deg=0.0, tissue=60, seed=0):
    """A PLAX-like drawing: LV left, LA lower right, the aortic root (dark lumen between two bright walls) above
    the LA, tilted by tilt_deg. Returns (image uint8, label mask, the wall-peak-to-wall-peak distance in mm)."""
    h, w = 400, 520
    img = np.full((h, w), 25, np.float32)
    mask = np.zeros((h, w), np.uint8)
    cv2.ellipse(img, (200, 190), (150, 70), 0, 0, 360, tissue, -1)           # LV myocardium
    cv2.ellipse(mask, (200, 190), (150, 70), 0, 0, 360, MYOCARDIUM, -1)
    cv2.ellipse(img, (200, 190), (125, 45), 0, 0, 360, 5, -1)                # LV cavity
    cv2.ellipse(mask, (200, 190), (125, 45), 0, 0, 360, CAVITY, -1)
    cv2.circle(img, (410, 290), 45, 5, -1)                                    # LA
    cv2.circle(mask, (410, 290), 45, LEFT_ATRIUM, -1)
    lum_px, wall_px = lumen_mm / SP[0], wall_mm / SP[0]
    centre = np.array([410.0, 290 - 45 - 10 - wall_px - lum_px / 2])         # root centre above the LA
    a = np.radians(tilt_deg)
    d = np.array([np.cos(a), np.sin(a)])
    n = np.array([-d[1], d[0]])
    for off, val in ((lum_px / 2 + wall_px, tissue * 2.2), (lum_px / 2, 5)):   # wall band, then lumen inside it
        quad = np.array([centre - 90 * d - off * n, centre + 90 * d - off * n, centre + 90 * d + off * n,
                         centre - 90 * d + off * n], np.int32)
        cv2.fillPoly(img, [quad], val)
    rng = np.random.default_rng(seed)
    img = np.clip(img * rng.gamma(4.0, 0.25, img.shape) + rng.normal(0, 2, img.shape), 0, 255)
    return img.astype(np.uint8), mask, lumen_mm + wall_mm


def measure(img, mask):
    o, perp, ax = _lv_line(mask, SP, 0.33)
    return aortic_root_from_image(img, mask, SP, o, perp, ax)


@pytest.mark.parametrize("lumen, tilt", [(24.0, 0.0), (32.0, 0.0), (20.0, 10.0), (28.0, -8.0)])
def test_diameter_follows_the_drawn_root(lumen, tilt):
    img, mask, peak_to_peak = scene(lumen, tilt_deg=tilt)
    r = measure(img, mask)
    assert r.diameter_mm is not None, r.reason
    assert r.diameter_mm == pytest.approx(peak_to_peak, abs=1.5)
    (x0, y0), (x1, y1) = r.caliper
    assert np.hypot((x1 - x0) * SP[1], (y1 - y0) * SP[0]) == pytest.approx(r.diameter_mm, abs=0.01)
    assert y0 > y1 or y1 > y0                      # the caliper crosses the root, roughly up-down


def test_plax_linear_uses_the_image():
    img, mask, peak_to_peak = scene(26.0)
    with_image = plax_linear(mask, None, SP, ed_image=img)
    without = plax_linear(mask, None, SP)
    assert with_image.aortic_root_mm == pytest.approx(peak_to_peak, abs=1.5)
    assert without.aortic_root_mm is None          # no root label, no image: not invented
    assert with_image.lvidd_mm == without.lvidd_mm


def test_refused_without_atrium_contrast_or_lumen():
    img, mask, _ = scene()
    no_la = mask.copy()
    no_la[no_la == LEFT_ATRIUM] = 0
    r = measure(img, no_la)
    assert r.diameter_mm is None and "left atrium" in r.reason
    flat = np.full_like(img, 40)
    r = measure(flat, mask)
    assert r.diameter_mm is None and "grey levels" in r.reason
    img2, mask2, _ = scene()
    img2[:250, 330:] = 60                          # the root filled with tissue: no lumen
    r = measure(img2, mask2)
    assert r.diameter_mm is None and "lines" in r.reason
