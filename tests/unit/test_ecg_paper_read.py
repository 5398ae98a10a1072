"""Digitiser on rendered printouts (clean scan and simulated phone photo) and its failure messages."""

import numpy as np
import pytest

from device.ecg.eval_metrics import lead_snr_db
from device.ecg.reader import read_ecg_image, redigitise
from device.ecg.report import analyse
from device.errors import InputError
from device.sim import ecg_paper


@pytest.fixture(scope="module")
def printed():
    rng = np.random.default_rng(11)
    sig = ecg_paper.synthetic_ecg(rng, hr_bpm=75)
    page = ecg_paper.render(sig, rng=rng)
    return sig, page, ecg_paper.photograph(page.image, rng)


def _truth_as_printed(sig):
    """The true signal masked to what a 3x4 + II printout shows."""
    t = np.full_like(sig, np.nan)
    for r, leads in enumerate(ecg_paper.ROWS_3x4):
        for k, lead in enumerate(leads):
            j = ecg_paper.LEADS.index(lead)
            t[k * 1250 : (k + 1) * 1250, j] = sig[k * 1250 : (k + 1) * 1250, j]
    t[:, 1] = sig[:, 1]
    return t


def test_clean_scan_reads_layout_calibration_and_signal(printed):
    sig, page, _ = printed
    r = read_ecg_image(page.image)
    assert r.layout.name == "3x4+1" and len(r.layout.boxes) == 13
    assert r.calibration.gain_mm_mv == 10.0 and r.calibration.speed_mm_s == 25.0 and r.calibration.pulse_found
    assert r.signals_mv.shape == (5000, 12)
    snr = lead_snr_db(r.signals_mv, _truth_as_printed(sig))
    assert np.median(snr) > 3.0, snr
    # lead I was printed only in the first 2.5 s
    assert np.isfinite(r.lead("I")[:1200]).all() and np.isnan(r.lead("I")[1300:]).all()
    assert analyse(r.signals_mv, 500.0).measurements.hr_bpm == pytest.approx(75, abs=4)


def test_simulated_photo_reads(printed):
    sig, _, photo = printed
    r = read_ecg_image(photo)
    assert r.layout.name == "3x4+1" and r.rectified.paper_found
    snr = lead_snr_db(r.signals_mv, _truth_as_printed(sig))
    assert np.median(snr) > 1.0, snr


def test_redigitise_with_corrected_boxes(printed):
    sig, page, _ = printed
    r = read_ecg_image(page.image)
    only_ii = [b for b in r.layout.boxes if b.lead == "II" and b.t1_s - b.t0_s > 5]
    r2 = redigitise(r, only_ii)
    assert np.isfinite(r2.lead("II")).mean() > 0.9
    assert np.isnan(r2.lead("V1")).all()
    with pytest.raises(InputError):
        redigitise(r, [])


@pytest.mark.parametrize("make,step", [
    (lambda: np.full((900, 1200, 3), 255, np.uint8), "no grid"),
    (lambda: np.zeros((900, 1200, 3), np.uint8), "no paper found"),
])
def test_bad_images_name_the_failed_step(make, step):
    with pytest.raises(InputError) as ei:
        read_ecg_image(make())
    assert ei.value.step == step


def test_blurred_photo_is_refused(printed):
    import cv2

    _, page, _ = printed
    blurred = cv2.GaussianBlur(page.image, (0, 0), 12)
    with pytest.raises(InputError) as ei:
        read_ecg_image(blurred)
    assert ei.value.step == "too blurred"


def test_six_by_two_layout():
    rng = np.random.default_rng(5)
    sig = ecg_paper.synthetic_ecg(rng)
    r = read_ecg_image(ecg_paper.render(sig, rng=rng, layout="6x2").image)
    assert r.layout.name == "6x2" and len(r.layout.boxes) == 12
    truth = np.full_like(sig, np.nan)
    for leads in ecg_paper.ROWS_6x2:
        for k, lead in enumerate(leads):
            j = ecg_paper.LEADS.index(lead)
            truth[k * 2500 : (k + 1) * 2500, j] = sig[k * 2500 : (k + 1) * 2500, j]
    assert np.median(lead_snr_db(r.signals_mv, truth)) > 3.0
