"""Site learning, pure part: patient split, replay of untaught views, promotion only when better, input checks."""

from __future__ import annotations

import numpy as np
import pytest

from device.echo.site_learning import MIN_PATIENTS, check_data, learn, split_patients
from device.echo.view_head import calibrate, fit_head
from device.errors import InputError

LABELS = ("A", "B", "C", "D", "OTHER")
D = 32


def _world(sep: float, shift: float, seed: int = 0, patients: int = 8, per: int = 10):
    """Current head fitted on 'simulator' features; site frames of views A-C with a site shift."""
    rng = np.random.default_rng(seed)
    mu = rng.standard_normal((len(LABELS), D)) * sep
    x = np.concatenate([mu[k] + rng.standard_normal((120, D)) for k in range(len(LABELS))])
    y = np.repeat(np.arange(len(LABELS)), 120)
    xc = np.concatenate([mu[k] + rng.standard_normal((30, D)) for k in range(len(LABELS))])
    cur = calibrate(fit_head(x, y, LABELS), xc, np.repeat(np.arange(len(LABELS)), 30))
    site = rng.standard_normal(D) * shift
    feats, views, pats, clips = [], [], [], []
    for p in range(patients):
        for k in range(3):
            # the site's look: a shift plus a pull toward the next view's mean (what confuses the current head)
            centre = mu[k] + site + (mu[(k + 1) % 3] - mu[k]) * (0.6 if shift else 0.0)
            feats.append(centre + rng.standard_normal((per, D)))
            views += [LABELS[k]] * per
            pats += [f"p{p}"] * per
            clips += [f"p{p}-{k}"] * per
    return cur, mu, np.concatenate(feats), np.array(views), np.array(pats), np.array(clips)


def test_held_back_patients_never_train_and_accuracy_rises():
    cur, mu, f, v, p, c = _world(sep=1.0, shift=1.2)
    r = learn(f, v, p, c, cur)
    assert set(r.split.test).isdisjoint(r.split.fit) and set(r.split.test).isdisjoint(r.split.calib)
    assert r.data["frames_test"] == int(np.isin(p, r.split.test).sum()) > 0
    assert r.data["frames_fit"] + r.data["frames_calibration"] + r.data["frames_test"] == len(v)
    assert r.new.accuracy > r.old.accuracy + 0.3 and r.promote
    assert r.head.meta["site_learning"]["new"]["accuracy"] == round(r.new.accuracy, 4)
    # the views the site did not label (D, OTHER) are still named, from the replayed statistics
    rng = np.random.default_rng(5)
    for k in (3, 4):
        named = [x[0] for x in r.head.predict(mu[k] + rng.standard_normal((20, D)))]
        assert np.mean(np.array(named) == LABELS[k]) >= 0.8


def test_refused_when_the_current_model_is_already_right():
    cur, _, f, v, p, c = _world(sep=3.0, shift=0.0)      # site looks like the training data: nothing to gain
    r = learn(f, v, p, c, cur)
    assert r.old.accuracy == 1.0 and not r.promote and "not better" in r.reason


def test_split_is_by_patient_and_deterministic():
    pats = np.repeat([f"p{i}" for i in range(10)], 7)
    s1, s2 = split_patients(pats), split_patients(pats)
    assert s1 == s2 and len(s1.test) == 2 and len(s1.calib) == 2 and len(s1.fit) == 6
    assert set(s1.test) | set(s1.calib) | set(s1.fit) == {f"p{i}" for i in range(10)}
    assert split_patients(pats, seed=1) != s1


@pytest.mark.parametrize("views, patients, match", [
    (["A"] * 8, [f"p{i}" for i in range(8)], "only one view"),
    (["A", "B"] * 3, ["p1", "p2", "p3"] * 2, f"needs at least {MIN_PATIENTS}"),
    (["A", "Z"] * 4, [f"p{i}" for i in range(8)], "unknown view label"),
    ([], [], "no labelled frames"),
])
def test_bad_data_is_refused_in_one_line(views, patients, match):
    with pytest.raises(InputError, match=match) as ei:
        check_data(np.array(views, dtype=str), np.array(patients, dtype=str), LABELS)
    assert "\n" not in str(ei.value)
