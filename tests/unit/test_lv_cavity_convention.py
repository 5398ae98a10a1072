"""Short-axis cavity convention (issue 16 part 2): the expert contours go round papillary muscles; "hull" does too."""

import numpy as np
import pytest

from device.errors import InputError
from device.lv import CAVITY, MYOCARDIUM
from device.lv.segment import CAVITY_CONVENTIONS, SAX_CAVITY, _clean_sax, convex_fill, segment_sax


def _lv_with_papillary(n=128):
    yy, xx = np.mgrid[:n, :n]
    r = np.hypot(yy - 64, xx - 64)
    mask = np.zeros((n, n), np.uint8)
    mask[r < 36] = MYOCARDIUM
    mask[r < 28] = CAVITY
    pap = np.hypot(yy - 64, xx - 87) < 6          # a papillary muscle on the wall, labelled myocardium
    mask[pap & (r < 28)] = MYOCARDIUM
    return mask, r < 28, pap & (r < 28)


def test_hull_takes_in_the_papillary_muscle_and_keeps_the_wall():
    mask, disc, pap = _lv_with_papillary()
    holes, hull = _clean_sax(mask, "holes"), _clean_sax(mask, "hull")
    assert (holes[pap] == MYOCARDIUM).all()
    assert (hull[pap] == CAVITY).mean() > 0.6          # the notch is closed by the hull
    assert abs(int((hull == CAVITY).sum()) - int(disc.sum())) < abs(int((holes == CAVITY).sum()) - int(disc.sum()))
    ring = (mask == MYOCARDIUM) & ~disc
    # outside the endocardium only the hull's digital edge (pixels its polygon crosses) changes
    assert (hull[ring] != MYOCARDIUM).sum() < 0.02 * ring.sum()
    assert ((hull == CAVITY) & ~disc).sum() < 0.02 * disc.sum()


def test_convex_fill_of_empty_and_convex_masks():
    assert not convex_fill(np.zeros((10, 10), bool)).any()
    sq = np.zeros((20, 20), bool)
    sq[5:15, 5:15] = True
    np.testing.assert_array_equal(convex_fill(sq), sq)


def test_unknown_convention_is_refused_and_default_is_listed():
    assert SAX_CAVITY in CAVITY_CONVENTIONS
    mask, _, _ = _lv_with_papillary()
    with pytest.raises(InputError, match="cavity convention"):
        _clean_sax(mask, "blob")
    with pytest.raises(InputError, match="cavity convention"):
        segment_sax(np.zeros((1, 64, 64)), None, 1.4, cavity="blob")
