"""Renderer truth (issue 17 part 3) and the tracker's sub-pixel centre line on a rendering with known ink."""

from __future__ import annotations

import numpy as np
import pytest

from device.ecg import digitise, reader
from device.ecg.eval_metrics import lead_snr_db
from device.ecg.types import Calibration, Layout
from device.sim import ecg_paper


@pytest.mark.parametrize("lay,n_boxes,full_leads", [("3x4+1", 13, {"II"}), ("3x4+3", 15, {"II", "V1", "V5"}),
                                                     ("6x2", 12, set()), ("12x1", 12, set(ecg_paper.LEADS))])
def test_render_truth_boxes_and_printed_signal(lay: str, n_boxes: int, full_leads: set) -> None:
    sig = ecg_paper.synthetic_ecg(np.random.default_rng(2), hr_bpm=70)
    plain = ecg_paper.render(sig, px_per_mm=4.0, layout=lay)
    page = ecg_paper.render(sig, px_per_mm=4.0, layout=lay, truth=True)
    assert np.array_equal(plain.image, page.image)  # asking for the truth draws the same page
    assert len(page.boxes) == n_boxes
    printed = np.isfinite(page.printed_mv).sum(0)
    for j, lead in enumerate(ecg_paper.LEADS):
        assert printed[j] == (5000 if lead in full_leads else (2500 if lay == "6x2" else 1250)), lead
    ok = np.isfinite(page.printed_mv)
    assert np.allclose(page.printed_mv[ok], sig[ok])
    assert page.trace_ink.shape == page.image.shape[:2] and 0.002 < (page.trace_ink > 64).mean() < 0.1


def test_250mm_rows_hold_5s_at_50mm_s_and_damage_without_geometry_keeps_pixels_in_place() -> None:
    sig = ecg_paper.synthetic_ecg(np.random.default_rng(3))
    page = ecg_paper.render(sig, px_per_mm=4.0, speed_mm_s=50.0, row_mm=250.0, truth=True, grid="green")
    assert max(b.t1_s for b in page.boxes) == pytest.approx(5.0)
    assert max(b.x1 for b in page.boxes) <= page.image.shape[1]
    d = ecg_paper.photo_damage(np.random.default_rng(4), 1.0)
    flat = ecg_paper.apply_damage(page.image, d, np.random.default_rng(5), geometry=False)
    photo = ecg_paper.apply_damage(page.image, d, np.random.default_rng(5))
    assert flat.shape == page.image.shape and photo.shape[0] > page.image.shape[0]
    ink = page.trace_ink > 128
    assert flat[ink].mean() < flat[~ink].mean() - 60  # the traces stayed where the truth says


def test_tracker_centre_line_on_true_ink(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the ink and the layout known, 0.3-mm lines at 8 px/mm: the per-column reading of a tall run's ends
    zigzagged between a QRS's up- and down-strokes (mean 6.3 dB on this page); the darkness-weighted centre line
    reads 11.4 dB."""
    sig = ecg_paper.synthetic_ecg(np.random.default_rng(4), hr_bpm=70)
    page = ecg_paper.render(sig, px_per_mm=8.0, rng=np.random.default_rng(1), truth=True, ink_mm=0.3)
    lay = Layout("3x4+1", page.boxes)
    cal = Calibration(8.0, 8.0, 25.0, 10.0)
    origins = {b.row: page.x0_px for b in page.boxes}
    monkeypatch.setattr(digitise, "STROKES", "centroid")
    out = reader.digitise_boxes(page.trace_ink > 64, page.trace_ink.astype(np.float32) / 255, lay, cal, origins)[0]
    snr = lead_snr_db(out, page.printed_mv)
    assert np.isfinite(snr).all() and float(np.mean(snr)) >= 10.0
