"""SPECTF rows: parsing, and the shipped perfusion_spectf model in all three variants (ONNX fp32/int8, LiteRT)."""

from __future__ import annotations

import numpy as np
import pytest

from device.errors import InputError
from device.inference import load_model
from device.perfusion.spectf import N_FEATURES, classify_regions, parse_spectf, read_spectf


def _rows(n=6, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(30, 85, (n, N_FEATURES)).astype(np.float32)


def test_parse_with_and_without_diagnosis():
    x = _rows(3)
    r = parse_spectf("\n".join(",".join(str(int(v)) for v in row) for row in x))
    assert r.counts.shape == (3, 44) and r.diagnosis is None
    r2 = parse_spectf("# comment\n" + "\n".join("1," + ",".join(str(int(v)) for v in row) for row in x) + "\n\n")
    assert r2.diagnosis.tolist() == [1, 1, 1]
    np.testing.assert_array_equal(r2.counts, x)


@pytest.mark.parametrize("text,match", [("1,2,3", "3 values"), ("a," * 43 + "b", "not numbers"), ("", "no SPECTF"),
                                         (",".join(["-5"] * 44), "outside")])
def test_bad_rows_are_refused(text, match):
    with pytest.raises(InputError, match=match):
        parse_spectf(text)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_spectf(tmp_path / "nope.csv")


def test_variants_agree_and_are_probabilities():
    x = _rows(16, 1)
    p32 = classify_regions(x, "fp32").prob_abnormal
    p8 = classify_regions(x, "int8").prob_abnormal
    ptf = classify_regions(x, "tflite").prob_abnormal
    assert p32.shape == (16,) and ((p32 >= 0) & (p32 <= 1)).all()
    np.testing.assert_allclose(ptf, p32, atol=1e-4)
    np.testing.assert_allclose(p8, p32, atol=0.08)
    m = load_model("perfusion_spectf", "tflite")
    assert m.manifest.params["columns"][:2] == ["F1R", "F1S"] and "tflite" in m.manifest.variants


def test_low_stress_counts_raise_probability():
    base = np.full((1, 44), 72.0, np.float32)
    sick = base.copy()
    sick[0, 1::2][10:16] = 35.0  # stress counts of six regions drop (a reversible defect)
    assert classify_regions(sick, "fp32").prob_abnormal[0] > classify_regions(base, "fp32").prob_abnormal[0]


def test_real_spectf_rows_separate(shared_data):
    from sklearn.metrics import roc_auc_score

    r = read_spectf(shared_data / "spect-uci" / "SPECTS.valid")
    p = classify_regions(r.counts).prob_abnormal
    # the model was fit on these rows too (its honest number is the nested-CV AUC in the manifest); this checks the
    # shipped file and column order, which a scrambled or mis-ordered model would fail
    assert roc_auc_score(r.diagnosis, p) > 0.8


def test_default_is_the_logistic_model_and_the_mlp_stays_selectable():
    """Issue 16 point 5: the simpler logistic model is the default (it measured at least as well as the MLP under
    the prevalence shift); the MLP is still there by name, and the two give different probabilities."""
    x = _rows(8, 2)
    lr = classify_regions(x, "fp32")
    mlp = classify_regions(x, "fp32", "perfusion_spectf_mlp")
    assert lr.model.startswith("perfusion_spectf 2.") and mlp.model.startswith("perfusion_spectf_mlp 1.")
    assert load_model("perfusion_spectf", "fp32").manifest.params["kind"] == "L2 logistic regression"
    assert not np.allclose(lr.prob_abnormal, mlp.prob_abnormal, atol=1e-3)
    with pytest.raises(InputError, match="not one of"):
        classify_regions(x, "fp32", "perfusion_spectf_svm")
