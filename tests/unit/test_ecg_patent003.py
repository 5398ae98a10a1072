"""Patent-003 image-space geometry (device.ecg.patent003): a rendered printout warped to the canonical frame puts
every beat box on its printed QRS, heat-map targets decode back to the anchors, and the matcher counts hits."""

from __future__ import annotations

import numpy as np

from device.ecg import patent003 as P
from device.ecg.traces import darkness
from device.sim.ecg_paper import render, synthetic_ecg


def _page(hr_bpm: float = 60.0):
    sig = synthetic_ecg(np.random.default_rng(3), hr_bpm=hr_bpm)
    page = render(sig, px_per_mm=4.0, layout="3x4+1")
    m = P.canonical_matrix(4.0, page.x0_px, page.baselines_px)
    return sig, P.to_canonical(darkness(page.image, 4.0), m)


def test_canonical_matrix_maps_t0_and_baselines():
    m = P.canonical_matrix(8.0, 100.0, (400.0, 700.0, 1000.0, 1300.0))
    pts = np.array([[100.0, 400.0, 1.0], [100.0 + 250 * 8.0, 1300.0, 1.0]]) @ m.T
    assert np.allclose(pts[0], (P.X_T0, P.ROW_Y[0]))
    assert np.allclose(pts[1], (P.X_T0 + 10 * P.PX_S, P.ROW_Y[-1]))


def test_anchors_follow_the_3x4_plus_1_layout():
    a = P.anchors_from_r_peaks(np.array([0.1, 1.0, 2.4, 3.5, 9.9]))
    # 0.1 s: box starts before t = 0 (dropped); 2.4 s: crosses the 2.5-s column edge in rows 0-2 but not the strip
    rows = {t: sorted(a[np.isclose(a[:, 0], P.X_T0 + t * P.PX_S), 2].astype(int).tolist()) for t in (1.0, 2.4, 3.5)}
    assert rows == {1.0: [0, 1, 2, 3], 2.4: [3], 3.5: [0, 1, 2, 3]}
    assert not np.isclose(a[:, 0], P.X_T0 + 0.1 * P.PX_S).any() and not np.isclose(a[:, 0], P.X_T0 + 9.9 * P.PX_S).any()


def test_beat_boxes_sit_on_the_printed_qrs():
    sig, canon = _page()
    from device.ecg.measure import detect_beats

    a = P.anchors_from_r_peaks(detect_beats(sig[:, 1], 500.0) / 500.0)
    assert len(a) >= 25
    crops, pos, mask = P.beat_crops(canon, a)
    n = int(mask.sum())
    assert crops.shape == (P.MAX_BEATS, P.CROP_H, P.CROP_W) and n == min(len(a), P.MAX_BEATS)
    # ink at the R peak's column of every crop, little ink in the same crop shifted half a beat away
    col = int(round(P.BOX_PRE_S * P.PX_S))
    on = crops[:n, :, col - 1 : col + 2].max(axis=(1, 2))
    assert np.median(on) > 0.3
    off = P.beat_crops(canon, a + np.array([0.5 * P.PX_S, 0, 0], np.float32))[0][:n, :, col - 1 : col + 2]
    assert np.median(off.max(axis=(1, 2))) < 0.8 * np.median(on)


def test_heatmap_decodes_back_to_anchors():
    a = P.anchors_from_r_peaks(np.arange(0.5, 10, 0.9))
    got = P.decode_anchors(P.heatmap_target(a), 0.5)
    tp, fp, fn = P.match(got, a)
    assert (tp, fp, fn) == (len(a), 0, 0)
    shifted = a + np.array([0.2 * P.PX_S, 0, 0], np.float32)  # 200 ms off: all wrong
    assert P.match(shifted, a) == (0, len(a), len(a))
