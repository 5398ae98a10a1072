"""The cues that may accept a printout as given when no calibration pulse settles its orientation
(orientation.as_given_votes / upright_as_given): each sees some turns only, so two that see different turns must
agree, and a single cue never decides."""

from __future__ import annotations

import numpy as np
import pytest

from device.ecg import orientation
from device.ecg.types import FS_HZ, LEADS
from device.sim.ecg_paper import synthetic_ecg

GRID = (("I", "aVR", "V1", "V4"), ("II", "aVL", "V2", "V5"), ("III", "aVF", "V3", "V6"))
SEG = int(2.5 * FS_HZ)


def read_3x4(sig: np.ndarray, turn: str) -> np.ndarray:
    """What the reader gets from a 3x4 page of ``sig`` fed ``turn`` and read as upright."""
    out = np.full_like(sig, np.nan)
    for r in range(3):
        for c in range(4):
            rr, cc, inv, rev = {"upright": (r, c, 1, False), "mirrored": (r, 3 - c, 1, True),
                                "rotated 180": (2 - r, 3 - c, -1, True), "upside down": (2 - r, c, -1, False)}[turn]
            src = sig[cc * SEG:(cc + 1) * SEG, LEADS.index(GRID[rr][cc])] * inv
            out[c * SEG:(c + 1) * SEG, LEADS.index(GRID[r][c])] = src[::-1] if rev else src
    return out


@pytest.mark.parametrize("seed", range(5))
def test_upright_page_gets_both_cues_and_turned_pages_do_not(seed):
    sig = synthetic_ecg(np.random.default_rng(seed))
    up = orientation.as_given_votes(read_3x4(sig, "upright"), 0, 0)
    assert up == {"limb leads": 1, "QRS polarity": 1, "lead names": 0}
    assert orientation.upright_as_given(up)
    for turn in ("mirrored", "rotated 180", "upside down"):
        votes = orientation.as_given_votes(read_3x4(sig, turn), 0, 0)
        assert not orientation.upright_as_given(votes), (turn, votes)
    # each cue is blind to some turn: the limb leads to an upside-down page, the polarity to a mirror image
    assert orientation.as_given_votes(read_3x4(sig, "upside down"), 0, 0)["QRS polarity"] == -1
    assert orientation.as_given_votes(read_3x4(sig, "mirrored"), 0, 0)["limb leads"] == -1


def test_single_cue_or_one_read_name_never_decides():
    assert not orientation.upright_as_given({"limb leads": 1, "QRS polarity": 0, "lead names": 0})
    assert not orientation.upright_as_given({"limb leads": 0, "QRS polarity": 1, "lead names": 0})
    # polarity and one read name: nothing sees a mirror image ("I" reads the same mirrored)
    sig = read_3x4(synthetic_ecg(np.random.default_rng(9)), "mirrored")
    votes = orientation.as_given_votes(sig, 1, 0)
    assert votes["lead names"] == 0
    assert not orientation.upright_as_given({"limb leads": 0, "QRS polarity": 1, "lead names": 0})
    assert orientation.upright_as_given({"limb leads": 0, "QRS polarity": 1, "lead names": 1})
    assert not orientation.upright_as_given({"limb leads": 1, "QRS polarity": 1, "lead names": -1})


def test_no_printed_limb_leads_gives_no_vote():
    sig = np.full((5000, 12), np.nan, np.float32)
    assert np.isnan(orientation.limb_relations(sig)) and np.isnan(orientation.qrs_polarity(sig))
    assert orientation.as_given_votes(sig, 0, 0) == {"limb leads": 0, "QRS polarity": 0, "lead names": 0}


def test_limb_leads_do_not_vote_when_a_turned_reading_fits_nearly_as_well():
    """Ambiguous evidence is no evidence: ECG-Image-Kit ecg00035 fed turned 180 degrees fit the limb leads 0.71 as
    given and 0.58 read mirrored, the QRS polarity agreed (0.49), and the page was read as given. The limb leads now
    vote for the page as given only when it fits CUE_LIMB_MARGIN better than read mirrored or turned 180 degrees."""
    sig = read_3x4(synthetic_ecg(np.random.default_rng(2)), "upright")
    limb = orientation.limb_relations(sig)
    assert limb >= orientation.CUE_LIMB_FOR
    assert orientation.as_given_votes(sig, 0, 0, limb - 0.5)["limb leads"] == 1
    ambiguous = orientation.as_given_votes(sig, 0, 0, limb - 0.1)
    assert ambiguous["limb leads"] == 0 and ambiguous["QRS polarity"] == 1
    assert not orientation.upright_as_given(ambiguous)
