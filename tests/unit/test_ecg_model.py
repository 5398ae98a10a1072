"""The ecg_screen model: hash-verified loading, inputs from a real read, graceful absence."""

import numpy as np

from device.ecg import screen_model
from device.ecg.api import analyse_reading
from device.ecg.reader import read_ecg_image
from device.errors import ModelError
from device.sim import ecg_paper


def _reading():
    rng = np.random.default_rng(21)
    page = ecg_paper.render(ecg_paper.synthetic_ecg(rng, hr_bpm=70), rng=rng)
    return read_ecg_image(page.image)


def test_model_runs_on_a_reading_and_names_itself():
    from device.inference import load_model

    model = load_model("ecg_screen")
    assert tuple(model.manifest.labels) == ("normal", "abnormal")
    r = _reading()
    a = analyse_reading(r)
    ms = a.model_screen
    assert ms is not None and ms.source.startswith("ecg_screen 1.0.0")
    assert 0.0 <= ms.score <= 1.0 and ms.label in ("normal", "abnormal")
    assert a.screen.source.startswith("combined(ecg_rules") and "ecg_screen" in a.screen.source
    assert a.screen.score == (a.signal_screen.score + ms.score) / 2
    inputs = screen_model.reading_inputs(r, a.measurements.r_peaks_s)
    out = model.run(inputs)["logits"]
    assert np.asarray(out).shape == (1, 2)


def test_missing_model_leaves_the_rule_screen(monkeypatch):
    def refuse(*a, **k):
        raise ModelError("model ecg_screen is not installed")

    import device.inference

    monkeypatch.setattr(device.inference, "load_model", refuse)
    a = analyse_reading(_reading())
    assert a.model_screen is None
    assert a.screen.label == a.signal_screen.label and a.screen.source == "combined(ecg_rules 1.0.0)"
