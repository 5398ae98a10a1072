import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from device.errors import InputError
from device.lv.phase import phase_from_areas


def curve(n=20, ed=0, es=7, noise=0.0, seed=0):
    t = (np.arange(n) - ed) % n
    to_es = (es - ed) % n
    a = np.where(t <= to_es, 1000 - 450 * np.sin(np.pi / 2 * t / to_es),
                 550 + 450 * np.sin(np.pi / 2 * (t - to_es) / (n - to_es)))
    return a + np.random.default_rng(seed).normal(0, noise, n)


def runs(labels):
    """Number of contiguous runs counted cyclically."""
    changes = sum(labels[i] != labels[i - 1] for i in range(len(labels)))
    return max(1, changes)


def test_ed_es_and_labels_of_a_clean_beat():
    ph = phase_from_areas(curve(ed=0, es=7))
    assert ph.ed_frame in (0, 19) and abs(ph.es_frame - 7) <= 1
    assert ph.degree == 11
    assert ph.labels[ph.es_frame] == "systole" and ph.labels[ph.ed_frame] == "diastole"
    assert runs(ph.labels) == 2


def test_noisy_areas_do_not_flicker():
    a = curve(noise=60.0, seed=3, ed=4, es=12)
    naive = ["systole" if a[i] < a[i - 1] else "diastole" for i in range(len(a))]
    assert runs(naive) > 2  # a per-frame decision flickers on this curve
    ph = phase_from_areas(a)
    assert runs(ph.labels) == 2
    assert abs(ph.es_frame - 12) <= 2


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(100, 2000), min_size=3, max_size=40), st.integers(1, 15))
def test_labels_are_always_two_runs_at_most(areas, degree):
    if max(areas) - min(areas) < 1e-3:
        return
    ph = phase_from_areas(areas, degree)
    assert len(ph.labels) == len(areas)
    assert runs(ph.labels) <= 2
    assert ph.degree == min(degree, len(areas) - 1)
    assert ph.fitted_area_mm2[ph.ed_frame] == max(ph.fitted_area_mm2)


def test_degree_changes_the_fit():
    a = curve(noise=30, seed=1)
    assert phase_from_areas(a, 2).fitted_area_mm2 != phase_from_areas(a, 11).fitted_area_mm2


@pytest.mark.parametrize("bad", [[1.0, 2.0], [5.0] * 10, [1.0, float("nan"), 2.0, 3.0]])
def test_bad_curves_refused(bad):
    with pytest.raises(InputError):
        phase_from_areas(bad)


def test_degree_zero_refused():
    with pytest.raises(InputError):
        phase_from_areas(curve(), 0)
