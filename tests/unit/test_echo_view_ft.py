"""The fine-tuning recipe's real-looking degradation (models/training/echo_view_ft.py): shape and dtype kept,
the crops really change, and a seed reproduces the same copies (the cached trunk activations depend on it)."""

from __future__ import annotations

import numpy as np

from models.training.echo_view_ft import degrade


def _crops(n=12, s=64):
    rng = np.random.default_rng(3)
    x = np.zeros((n, s, s), np.uint8)
    x[:, 20:44, 18:22] = 220                    # a bright wall
    return x + rng.integers(0, 30, x.shape).astype(np.uint8)


def test_degrade_keeps_shape_changes_pixels_and_is_reproducible():
    x = _crops()
    a = degrade(x, np.random.default_rng(7))
    b = degrade(x, np.random.default_rng(7))
    c = degrade(x, np.random.default_rng(8))
    assert a.shape == x.shape and a.dtype == np.uint8
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    changed = np.array([not np.array_equal(a[i], x[i]) for i in range(len(x))])
    assert changed.mean() > 0.5
