"""Image loading (PDF, TIFF), the SNR metric, and the screening model's inputs."""

import numpy as np
import pytest
from PIL import Image

from device.ecg.eval_metrics import lead_snr_db
from device.ecg.imageio import load_image
from device.ecg.measure import measure
from device.ecg.screen_model import (
    BEAT_LEN,
    IMG_H,
    IMG_W,
    N_BEATS,
    beat_matrix,
    global_image,
)
from device.errors import InputError
from device.sim.ecg_paper import synthetic_ecg


def test_pdf_and_tiff_load(tmp_path):
    arr = (np.random.default_rng(0).random((600, 800, 3)) * 255).astype(np.uint8)
    Image.fromarray(arr).save(tmp_path / "scan.pdf")
    Image.fromarray(arr).save(tmp_path / "scan.tif")
    pdf = load_image(tmp_path / "scan.pdf")
    assert pdf.ndim == 3 and pdf.shape[2] == 3 and pdf.shape[0] > 300
    assert np.array_equal(load_image(tmp_path / "scan.tif"), arr)


def test_tiny_or_missing_images_are_refused(tmp_path):
    Image.fromarray(np.zeros((50, 60, 3), np.uint8)).save(tmp_path / "tiny.png")
    with pytest.raises(InputError):
        load_image(tmp_path / "tiny.png")
    with pytest.raises(InputError):
        load_image(tmp_path / "absent.png")


def test_snr_metric_definition():
    rng = np.random.default_rng(0)
    truth = np.full((5000, 12), np.nan)
    truth[:1250, 0] = np.sin(np.arange(1250) / 20.0)
    out = np.full_like(truth, np.nan)
    noise = rng.normal(0, 0.1, 1250)
    out[:1250, 0] = truth[:1250, 0] + noise + 3.0  # an offset is removed, the noise is not
    snr = lead_snr_db(out, truth)
    expect = 10 * np.log10(np.sum((truth[:1250, 0] - truth[:1250, 0].mean()) ** 2)
                           / np.sum((noise - noise.mean()) ** 2))
    assert snr[0] == pytest.approx(expect, abs=1e-6)
    assert np.isnan(snr[1:]).all()
    # an empty output scores 0 dB (noise = the signal itself)
    assert lead_snr_db(np.full_like(truth, np.nan), truth)[0] == pytest.approx(0.0, abs=1e-9)


def test_beat_matrix_uses_printed_beats_only():
    sig = synthetic_ecg(np.random.default_rng(1), hr_bpm=60)
    printed = np.full_like(sig, np.nan)
    printed[:1250, 0] = sig[:1250, 0]
    printed[:, 1] = sig[:, 1]
    m = measure(printed, 500.0)
    beats, mask = beat_matrix(printed, m.r_peaks_s)
    assert beats.shape == (N_BEATS, BEAT_LEN + 12) and mask.shape == (N_BEATS,)
    n = int(mask.sum())
    assert 8 <= n <= 13  # ~9 lead II beats + 1-2 lead I beats
    leads = beats[:n, BEAT_LEN:].argmax(1)
    assert set(leads.tolist()) <= {0, 1} and (leads == 1).sum() >= 7
    assert not beats[n:].any()


def test_global_image_shape_and_range():
    ink = np.zeros((500, 900), np.float32)
    ink[200:203, 50:850] = 0.8
    g = global_image(ink, (40, 100, 860, 400))
    assert g.shape == (IMG_H, IMG_W) and g.max() == pytest.approx(1.0) and g.min() == 0.0
