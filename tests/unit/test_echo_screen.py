"""Fan finding and pixel size: simulator screens (known truth) and the real SonoSite cine."""

from __future__ import annotations

import numpy as np
import pytest

from device.echo.prep import crop_fan, model_input
from device.echo.screen import (
    depth_scale_mm_per_px,
    dicom_region_mm_per_px,
    find_sector,
)
from device.sim.echo_probe import random_sample


def test_fan_box_matches_the_simulator():
    rng = np.random.default_rng(11)
    errs = []
    for _ in range(12):
        img, t = random_sample(rng, size=(640, 480))
        s = find_sector(img)
        if s is None:
            continue
        errs.append(np.abs(np.array(s.bbox) - np.array(t.sector_bbox)).max() / 640)
    assert len(errs) >= 10
    assert np.median(errs) < 0.04


def test_black_and_tiny_screens_have_no_fan():
    assert find_sector(np.zeros((480, 640, 3), np.uint8)) is None
    img = np.zeros((480, 640, 3), np.uint8)
    img[10:20, 10:60] = 200  # text only
    assert find_sector(img) is None


def test_depth_scale_gives_the_pixel_size():
    rng = np.random.default_rng(12)
    ok = 0
    for _ in range(8):
        img, t = random_sample(rng, size=(640, 480), view="A4C")
        s = find_sector(img)
        mm = depth_scale_mm_per_px(img, s) if s is not None else None
        ok += mm is not None and abs(mm - t.mm_per_px) / t.mm_per_px < 0.03
    assert ok >= 6


def test_dicom_region_calibration():
    reg = [{"RegionSpatialFormat": 1, "PhysicalUnitsXDirection": 3, "PhysicalDeltaX": 0.05, "PhysicalDeltaY": 0.05,
            "RegionLocationMinX0": 10, "RegionLocationMinY0": 20, "RegionLocationMaxX1": 300,
            "RegionLocationMaxY1": 400}]
    assert dicom_region_mm_per_px(reg) == (pytest.approx(0.5), (10, 20, 301, 401))
    assert dicom_region_mm_per_px([{**reg[0], "RegionSpatialFormat": 3}]) is None  # spectral region: not 2-D
    assert dicom_region_mm_per_px([{**reg[0], "PhysicalDeltaY": 0.1}]) is None  # non-square pixels


def test_model_input_shape_and_range():
    rng = np.random.default_rng(13)
    img, _ = random_sample(rng)
    s = find_sector(img)
    x = model_input(img, s, 96)
    assert x.shape == (1, 1, 96, 96) and x.dtype == np.float32
    assert x.min() >= -1.0 and x.max() <= 1.0
    c = crop_fan(img, s, 64)
    assert c.shape == (64, 64)


def test_real_sonosite_fan_and_scale(shared_data):
    from device.drivers.files import iter_file_frames

    f = next(iter(iter_file_frames(shared_data / "echo-dicom" / "color3d_jpeg_baseline.dcm")))
    s = find_sector(f.pixels)
    assert s is not None
    reg = np.array(f.sector_bbox)
    assert np.abs(np.array(s.bbox) - reg).max() < 0.05 * 640
    mm = depth_scale_mm_per_px(f.pixels, s)
    assert mm == pytest.approx(f.mm_per_px, rel=0.02)
