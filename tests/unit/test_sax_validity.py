"""Issue 13, ``lv sax``: a series whose 'LV cavity' keeps one size in every frame (a still picture or an organ that
does not beat, e.g. a brain-like slice once gave 6 'measured' frames) is refused; a beating one is not."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from device.errors import InputError
from device.lv import CAVITY, MYOCARDIUM
from device.lv.sax_validity import cavity_area_change, check_sax_motion


def _ring(r_px: int) -> np.ndarray:
    m = np.zeros((128, 128), np.uint8)
    cv2.circle(m, (64, 64), r_px + 6, MYOCARDIUM, -1)
    cv2.circle(m, (64, 64), r_px, CAVITY, -1)
    return m


def test_a_still_cavity_is_refused_and_a_beating_one_is_not():
    still = [_ring(20)] * 6
    beating = [_ring(r) for r in (24, 22, 19, 17, 19, 22)]
    assert cavity_area_change(still) == 0.0 and cavity_area_change(beating) > 0.4
    with pytest.raises(InputError, match="same size in every frame"):
        check_sax_motion([still, still])
    check_sax_motion([still, beating])        # one slice position that beats is enough (an apex may barely move)


def test_single_images_and_frames_without_cavity_are_not_judged():
    check_sax_motion([[_ring(20)], [_ring(20)]])
    check_sax_motion([[_ring(20), np.zeros((128, 128), np.uint8), _ring(20)]])
