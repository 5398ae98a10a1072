from pathlib import Path

import numpy as np

from device.lv.sunnybrook import LabelledSlice
from models.training.lv_seg_data import descriptor, kmeans_folds


def fake_slice(i: int, bright: float, r_cav: float) -> LabelledSlice:
    rng = np.random.default_rng(i)
    yy, xx = np.mgrid[:96, :96]
    r = np.hypot(yy - 48, xx - 48)
    label = np.zeros((96, 96), np.uint8)
    label[r < r_cav + 6] = 2
    label[r < r_cav] = 1
    img = np.where(label == 1, bright, np.where(label == 2, 80.0, 200.0)) + rng.normal(0, 10, (96, 96))
    return LabelledSlice("P", Path(f"{i}.dcm"), img.astype(np.float32), label, True, (1.5, 1.5),
                         (1, 0, 0, 0, 1, 0), 0.0, 0.0)


def test_kmeans_folds_deal_each_cluster_across_folds():
    # two very different kinds of image: each fold must get some of both (patent 002 balancing)
    slices = [fake_slice(i, 900.0, 10.0) for i in range(9)] + [fake_slice(100 + i, 300.0, 25.0) for i in range(9)]
    folds = kmeans_folds(slices, 3, seed=0)
    assert sorted(set(folds)) == [0, 1, 2]
    for f in range(3):
        kinds = {i < 9 for i, k in enumerate(folds) if k == f}
        assert kinds == {True, False}
    assert max(folds.count(f) for f in range(3)) - min(folds.count(f) for f in range(3)) <= 1


def test_descriptor_holds_histogram_and_indices():
    d = descriptor(fake_slice(1, 900.0, 12.0))
    assert d.shape == (32 + 11,)
    assert np.isclose(d[:32].sum(), 1.0, atol=0.02)
    assert d[32] > 0 and np.all(np.isfinite(d[32:]))
