"""segment_sax / segment_echo plumbing (equalise, localise, crop, resize, paste back) with a transparent fake model."""

from types import SimpleNamespace

import numpy as np
import pytest

from device.errors import InputError
from device.lv import CAVITY
from device.lv.phantom import sax_cine
from device.lv.segment import fan_bbox, segment_echo, segment_sax


class BrightIsCavity:
    """Cavity where the (equalised, normalised) input is bright; background elsewhere."""

    def __init__(self, params=None, threshold=0.55):
        self.manifest = SimpleNamespace(params=params or {"input_size": 128, "sax_input_size": 96,
                                                          "sax_crop_mm": 120.0},
                                        name="fake", version="0")
        self.tag = "fake 0 test"
        self.threshold = threshold
        self.calls = []

    def run(self, feeds):
        x = feeds["image"]
        self.calls.append(x.shape)
        cav = (x[:, 0] > self.threshold).astype(np.float32)
        probs = np.zeros((x.shape[0], 5) + x.shape[2:], np.float32)
        probs[:, 1] = cav
        probs[:, 0] = 1 - cav
        return {"probs": probs}


def dice(a, b):
    return 2 * (a & b).sum() / (a.sum() + b.sum())


@pytest.mark.parametrize("centre", [(96.0, 100.0), (60.0, 140.0)])
def test_sax_masks_land_where_the_cavity_is(centre):
    frames, truth = sax_cine(6, 192, 1.4, seed=2, centre_rc=centre, rv=False)  # the fake model can't tell RV
    model = BrightIsCavity()
    seg = segment_sax(frames, model, 1.4)
    assert seg.masks.shape == frames.shape and seg.masks.dtype == np.uint8
    assert model.calls[0] == (1, 1, 128, 128) and model.calls[1] == (6, 1, 96, 96)
    for m, t in zip(seg.masks, truth):
        assert dice(m == CAVITY, t == CAVITY) > 0.85
    assert seg.model_tag == "fake 0 test" and seg.frames == tuple(range(6))


def test_sax_refuses_without_calibration_or_cavity():
    frames, _ = sax_cine(3, 128, 1.4)
    with pytest.raises(InputError):
        segment_sax(frames, BrightIsCavity(), None)
    with pytest.raises(InputError, match="no LV cavity"):
        segment_sax(frames, BrightIsCavity(threshold=5.0), 1.4)
    with pytest.raises(InputError):
        segment_sax(np.zeros((2, 3)), BrightIsCavity(), 1.4)


class DarkCavityBrightWall(BrightIsCavity):
    def run(self, feeds):
        x = feeds["image"][:, 0]
        probs = np.zeros((x.shape[0], 5) + x.shape[1:], np.float32)
        probs[:, 1] = x < -0.7
        probs[:, 2] = x > 0.8
        probs[:, 0] = 1 - probs[:, 1] - probs[:, 2]
        return {"probs": probs}


def test_echo_fan_bbox_and_paste_back():
    rng = np.random.default_rng(0)
    frames = np.zeros((5, 120, 160), np.float32)
    frames[:, 20:100, 30:130] = rng.uniform(60, 120, (5, 80, 100))
    frames[:, 35:75, 55:95] = 250.0                      # bright wall
    frames[:, 40:70, 60:90] = 5.0                        # dark blood pool inside it
    assert fan_bbox(frames) == (30, 20, 130, 100)
    seg = segment_echo(frames, DarkCavityBrightWall())
    cav = seg.masks[0] == CAVITY
    assert cav[43:67, 63:87].all() and not cav[:20].any() and not cav[:, :30].any() and not cav[:, 95:].any()
    assert (seg.masks[0] == 2)[36:39, 60:90].all()
    # the same frames through a model that finds a cavity with no wall: dropped, not invented
    assert not segment_echo(frames, BrightIsCavity(threshold=0.9)).masks.any()
    with pytest.raises(InputError, match="no ultrasound"):
        fan_bbox(np.zeros((3, 64, 64)))


def test_implausible_echo_lv_is_dropped():
    from device.lv.segment import plausible_lv
    grey = np.full((60, 60), 100.0)
    mask = np.zeros((60, 60), np.uint8)
    mask[10:50, 10:50] = 2
    mask[20:40, 20:40] = 1
    grey[mask == 2] = 180.0
    grey[mask == 1] = 20.0
    assert plausible_lv(grey, mask)
    assert not plausible_lv(np.full((60, 60), 100.0), mask)      # blood as bright as muscle: not an LV
    mask2 = np.where(mask == 2, 0, mask).astype(np.uint8)
    assert not plausible_lv(grey, mask2)                          # a cavity with no wall
