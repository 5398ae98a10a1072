"""The numpy view head: logistic regression fit, temperature scaling, thresholds, Mahalanobis ood score, save/load."""

from __future__ import annotations

import numpy as np
import pytest

from device.echo.view_head import (
    ViewHead,
    calibrate,
    choose_conf_threshold,
    fit_head,
    fit_temperature,
)
from device.errors import ModelError

LABELS = ("A", "B", "C")


def _blobs(n_per: int, d: int = 20, sep: float = 3.0, seed: int = 0, noise: float = 1.0):
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(99).normal(0, 1, (3, d))
    centres *= sep / np.linalg.norm(centres, axis=1, keepdims=True)
    x = np.concatenate([c + noise * rng.standard_normal((n_per, d)) for c in centres]) * 2.0 + 5.0
    y = np.repeat(np.arange(3), n_per)
    return x.astype(np.float32), y


def test_fit_separates_and_predicts_held_out():
    x, y = _blobs(200)
    head = fit_head(x, y, LABELS)
    xt, yt = _blobs(100, seed=1)
    acc = float((head.probs(xt).argmax(1) == yt).mean())
    assert acc > 0.9
    assert head.meta["train_accuracy"] > 0.9
    p = head.probs(xt)
    assert p.shape == (300, 3) and np.allclose(p.sum(1), 1.0)
    out = head.predict(xt[:5])
    assert [o[0] for o in out] == [LABELS[k] for k in head.probs(xt[:5]).argmax(1)]


def test_gradient_matches_finite_differences():
    from device.echo.view_head import _lr_objective

    rng = np.random.default_rng(0)
    z = rng.standard_normal((30, 4))
    oh = np.eye(3)[rng.integers(0, 3, 30)]
    w = rng.random(30)
    th = rng.standard_normal(15) * 0.3
    f0, g = _lr_objective(th, z, oh, w, 0.1)
    num = np.array([(_lr_objective(th + e, z, oh, w, 0.1)[0] - _lr_objective(th - e, z, oh, w, 0.1)[0]) / 2e-6
                    for e in np.eye(15) * 1e-6])
    assert np.allclose(g, num, atol=1e-5)


def test_sample_weight_moves_the_boundary():
    x = np.array([[-1.0], [1.0]] * 50, dtype=np.float32) + np.random.default_rng(0).normal(0, 1.2, (100, 1))
    y = np.array([0, 1] * 50)
    labels = ("A", "B")
    base = fit_head(x, y, labels, l2=1e-4)
    heavy = fit_head(x, y, labels, l2=1e-4, sample_weight=np.where(y == 1, 10.0, 1.0))
    at_zero = np.zeros((1, 1), np.float32)
    assert heavy.probs(at_zero)[0, 1] > base.probs(at_zero)[0, 1] + 0.2


def test_temperature_recovers_overconfidence():
    rng = np.random.default_rng(3)
    true_logits = rng.normal(0, 1.0, (4000, 3))
    p = np.exp(true_logits) / np.exp(true_logits).sum(1, keepdims=True)
    y = np.array([rng.choice(3, p=row) for row in p])
    t = fit_temperature(true_logits * 4.0, y)   # logits 4x too sharp -> T close to 4
    assert 3.3 < t < 4.8


def test_conf_threshold_rules():
    conf = np.array([0.99, 0.95, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    ok = np.array([1, 1, 1, 1, 0, 1, 0, 0], bool)
    # precision >= 0.8: the largest prefix reaching it is the first 6 (5/6 = 0.83)
    assert choose_conf_threshold(conf, ok, target_precision=0.8) == pytest.approx(0.6)
    assert choose_conf_threshold(conf, ok, target_precision=1.0) == pytest.approx(0.8)
    # default: correct - 2 wrong is largest after the first four
    assert choose_conf_threshold(conf, ok) == pytest.approx(0.8)
    assert choose_conf_threshold(conf, np.zeros(8, bool)) == 1.0


def test_calibrate_sets_temperature_thresholds_and_meta():
    x, y = _blobs(150, sep=2.0)
    head = fit_head(x, y, LABELS, l2=1e-5)
    xc, yc = _blobs(150, sep=2.0, seed=5)
    cal = calibrate(head, xc, yc, target_precision=0.95, ood_factor=1.0)
    assert cal.temperature != head.temperature
    assert 0.0 < cal.conf_threshold <= 1.0
    m = cal.meta["calibration"]
    assert m["n"] == 450 and m["selective_accuracy"] >= 0.95
    # calibrated NLL on fresh data is not worse than the uncalibrated head's
    xt, yt = _blobs(150, sep=2.0, seed=6)

    def nll(h):
        return -np.log(h.probs(xt)[np.arange(len(yt)), yt] + 1e-12).mean()

    assert nll(cal) <= nll(head) + 1e-6
    # 1 % of calibration frames lie above the ood threshold
    assert np.mean(cal.ood_score(xc) > cal.ood_threshold) == pytest.approx(0.01, abs=0.005)


def test_ood_score_grows_away_from_the_data_and_flags_uncertain():
    x, y = _blobs(200)
    head = calibrate(fit_head(x, y, LABELS), *_blobs(100, seed=2))
    xt, _ = _blobs(100, seed=3)
    near = head.ood_score(xt)
    assert 0.5 < float(np.median(near)) < 2.0   # about 1 per dimension for in-distribution data
    far = xt + np.random.default_rng(4).normal(0, 20.0, xt.shape).astype(np.float32)
    assert float(np.median(head.ood_score(far))) > 5 * float(np.median(near))
    assert all(u for _v, _c, u, _o in head.predict(far))
    # the fast form equals the direct Mahalanobis distance
    z = head.standardise(xt[:3])
    direct = np.array([min(((zi - m) @ head.precision.astype(np.float64) @ (zi - m)) for m in
                           head.class_means.astype(np.float64)) for zi in z]) / head.dim
    assert np.allclose(direct, head.ood_score(xt[:3]), rtol=1e-4)


def test_save_load_round_trip(tmp_path):
    x, y = _blobs(100)
    head = calibrate(fit_head(x, y, LABELS), *_blobs(50, seed=1))
    p = tmp_path / "view_head.npz"
    head.save(p)
    back = ViewHead.load(p)
    assert back.labels == LABELS and back.temperature == pytest.approx(head.temperature)
    assert back.conf_threshold == pytest.approx(head.conf_threshold)
    assert back.meta["calibration"]["n"] == 150
    assert np.allclose(back.probs(x), head.probs(x), atol=1e-5)
    assert np.allclose(back.ood_score(x), head.ood_score(x), rtol=2e-2)
    assert not list(tmp_path.glob("*.part"))   # no temp file left behind


def test_load_rejects_bad_files(tmp_path):
    with pytest.raises(ModelError):
        ViewHead.load(tmp_path / "missing.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ModelError):
        ViewHead.load(bad)
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(ModelError):
        ViewHead.load(tmp_path / "other.npz")


def test_shape_checks():
    x, y = _blobs(50)
    head = fit_head(x, y, LABELS)
    with pytest.raises(ValueError):
        head.probs(np.zeros((2, 7)))
    with pytest.raises(ValueError):
        fit_head(x, y + 5, LABELS)


def test_distance_gate_flags_a_gap_the_class_mean_score_misses(tmp_path):
    # each class is two tight sub-clusters (+-v around its mean): a frame AT the class mean is near the mean
    # (low Mahalanobis score) but far from every training row - the sim-to-real case the distance gate is for
    rng = np.random.default_rng(0)
    d = 16
    means = np.eye(3, d) * 12.0
    v = np.zeros(d)
    v[3:] = 4.0

    def sample(n, seed):
        r = np.random.default_rng(seed)
        y = np.repeat(np.arange(3), n)
        side = r.choice([-1.0, 1.0], len(y))
        return (means[y] + side[:, None] * v + 0.3 * r.standard_normal((len(y), d))).astype(np.float32), y

    x, y = sample(300, 1)
    xc, yc = sample(100, 2)
    plain = calibrate(fit_head(x, y, LABELS), xc, yc)
    head = calibrate(fit_head(x, y, LABELS, ref_rows=200), xc, yc, knn_quantile=0.99)
    assert plain.ref_feats is None and not np.isfinite(plain.knn_threshold)
    assert 150 <= len(head.ref_feats) <= 300 and np.isfinite(head.knn_threshold)
    gap = (means + 0.3 * rng.standard_normal((3, d))).astype(np.float32)    # at the class means, between sub-clusters
    assert (head.ood_score(gap) < head.ood_threshold).all()                 # the mean-based score does not see it
    assert not any(u for _, _, u, _ in plain.predict(gap))
    assert all(u for _, _, u, _ in head.predict(gap))                       # the distance gate does
    xt, _ = sample(100, 3)
    assert np.mean([u for _, _, u, _ in head.predict(xt)]) < 0.05           # ordinary frames stay covered
    head.save(tmp_path / "h.npz")
    back = ViewHead.load(tmp_path / "h.npz")
    assert back.knn_threshold == pytest.approx(head.knn_threshold)
    assert np.allclose(back.knn_score(gap), head.knn_score(gap), rtol=1e-2)
