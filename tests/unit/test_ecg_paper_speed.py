"""Paper speed from the calibration pulse: 0.2 s is 5 mm at 25 mm/s and 10 mm at 50 mm/s."""

from __future__ import annotations

import numpy as np
import pytest

from device.ecg.api import read_and_analyse
from device.ecg.reader import speed_from_pulses
from device.sim import ecg_paper


def test_speed_from_pulse_widths():
    assert speed_from_pulses([5.1, 4.9, 5.0]) == 25.0
    assert speed_from_pulses([10.2, 9.8, 10.0, 5.0]) == 50.0
    assert speed_from_pulses([]) == 25.0


@pytest.mark.parametrize("speed", [25.0, 50.0])
def test_printed_speed_is_read_and_used(speed):
    sig = ecg_paper.synthetic_ecg(np.random.default_rng(4), hr_bpm=80)
    page = ecg_paper.render(sig, speed_mm_s=speed, rng=np.random.default_rng(1))
    img = ecg_paper.photograph(page.image, np.random.default_rng(4))
    r = read_and_analyse(img)
    assert r.reading.calibration.speed_mm_s == speed
    assert r.reading.calibration.pulse_found
    assert abs(r.analysis.measurements.hr_bpm - 80) < 3
