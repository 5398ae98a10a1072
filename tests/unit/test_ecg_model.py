"""The image model ecg_screen (now the fallback behind the signal model ecg_signal): hash-verified loading, inputs
from a real read, the screen chosen by analyse_reading, graceful absence."""

import numpy as np

from device.ecg import screen_model
from device.ecg.api import analyse_reading
from device.ecg.screening import SCREEN_NAME, combine
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
    a = analyse_reading(r, use_model=False)
    ms = screen_model.model_screen(r, a.measurements.r_peaks_s)
    assert ms is not None and ms.source.startswith("ecg_screen 1.0.0")
    assert 0.0 <= ms.score <= 1.0 and ms.label in ("normal", "abnormal")
    both = combine(a.signal_screen, ms)
    assert both.source.startswith("combined(ecg_rules") and "ecg_screen" in both.source
    assert both.score == (a.signal_screen.score + ms.score) / 2
    inputs = screen_model.reading_inputs(r, a.measurements.r_peaks_s)
    out = model.run(inputs)["logits"]
    assert np.asarray(out).shape == (1, 2)


def test_signal_model_is_the_cart_screen_and_the_image_model_its_fallback(monkeypatch):
    import device.inference

    a = analyse_reading(_reading())
    assert a.model_screen is not None and a.model_screen.source.startswith("ecg_signal ")
    assert a.model_screen.probabilities is not None and a.screen.probabilities == a.model_screen.probabilities
    real = device.inference.load_model

    def only_image(name, *a, **k):
        if name == "ecg_signal":
            raise ModelError("model ecg_signal is not installed")
        return real(name, *a, **k)

    monkeypatch.setattr(device.inference, "load_model", only_image)
    real_get = device.inference.ModelProvider.get

    def get_only_image(self, name, *a, **k):            # models served by the provider (cached per process)
        if name == "ecg_signal":
            raise ModelError("model ecg_signal is not installed")
        return real_get(self, name, *a, **k)

    monkeypatch.setattr(device.inference.ModelProvider, "get", get_only_image)
    a = analyse_reading(_reading())
    assert a.model_screen is not None and a.model_screen.source.startswith("ecg_screen ")


def test_missing_model_leaves_the_rule_screen(monkeypatch):
    def refuse(*a, **k):
        raise ModelError("model is not installed")

    import device.inference

    monkeypatch.setattr(device.inference, "load_model", refuse)
    monkeypatch.setattr(device.inference.ModelProvider, "get", refuse)
    a = analyse_reading(_reading())
    assert a.model_screen is None
    assert a.screen.label == a.signal_screen.label and a.screen.source == f"combined({SCREEN_NAME})"
