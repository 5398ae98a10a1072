"""ViewClassifier with a v2 view head (fake backbone runner): features, calibrated output, uncertain, hashed head."""

from __future__ import annotations

import json

import numpy as np
import pytest

from device.echo.classify import ViewClassifier, load_view_head
from device.echo.view_head import calibrate, fit_head
from device.errors import ModelError
from device.inference.manifest import parse_manifest, write_manifest

LABELS = ("A4C", "PLAX", "OTHER")
GUIDE = ("hold", "rotate_cw")


def _head(d: int = 8):
    rng = np.random.default_rng(0)
    centres = np.eye(3, d) * 4.0
    x = np.concatenate([c + rng.standard_normal((100, d)) for c in centres])
    y = np.repeat(np.arange(3), 100)
    xc = np.concatenate([c + rng.standard_normal((50, d)) for c in centres])
    return calibrate(fit_head(x, y, LABELS), xc, np.repeat(np.arange(3), 50)), centres


def _fake_run(feature: np.ndarray):
    calls = []

    def run(feeds):
        calls.append(feeds)
        return {"features": feature[None].astype(np.float32), "quality": np.array([[0.8]], np.float32),
                "guidance_logits": np.array([[2.0, 0.0]], np.float32)}
    return run, calls


def test_head_path_gives_calibrated_view_and_uncertainty():
    head, centres = _head()
    run, calls = _fake_run(centres[1])
    clf = ViewClassifier(run, ("x",), GUIDE, 32, head=head, tag="echo_view 2.0.0 int8")
    frame = np.zeros((120, 160, 3), np.uint8)
    o = clf(frame, None)
    assert calls[0]["image"].shape == (1, 1, 32, 32)
    assert o.view == "PLAX" and not o.uncertain
    assert o.view_conf == pytest.approx(float(head.probs(centres[1][None])[0, 1]))
    assert o.quality == pytest.approx(0.8) and o.guidance == "hold"
    assert clf.labels == LABELS
    assert np.allclose(clf.features(frame, None), centres[1])
    far, _ = _fake_run(centres[1] + 40.0)
    o2 = ViewClassifier(far, LABELS, GUIDE, 32, head=head)(frame, None)
    assert o2.uncertain and o2.ood_score > head.ood_threshold


def test_with_head_swaps_the_head_and_keeps_the_backbone():
    head, centres = _head()
    run, _ = _fake_run(centres[0])
    clf = ViewClassifier(run, LABELS, GUIDE, 32, head=head, tag="t")
    other = head.__class__(**{**{k: getattr(head, k) for k in head.__dataclass_fields__},
                              "labels": ("X", "Y", "Z"), "meta": {"tag": "site head"}})
    c2 = clf.with_head(other)
    assert c2.run is clf.run and c2.labels == ("X", "Y", "Z") and c2.tag == "t + site head"
    assert c2(np.zeros((64, 64), np.uint8), None).view == "X"


def test_v1_outputs_without_features_refuse_features():
    def run(feeds):
        return {"view_logits": np.array([[3.0, 0.0, 0.0]]), "quality": np.array([[0.5]]),
                "guidance_logits": np.array([[0.0, 1.0]])}
    clf = ViewClassifier(run, LABELS, GUIDE, 32, temperature=2.0, conf_threshold=0.9)
    o = clf(np.zeros((64, 64), np.uint8), None)
    assert o.view == "A4C" and o.guidance == "rotate_cw"
    p = np.exp([1.5, 0, 0]) / np.exp([1.5, 0, 0]).sum()
    assert o.view_conf == pytest.approx(p[0]) and o.uncertain   # 0.69 < 0.9
    with pytest.raises(ValueError):
        clf.features(np.zeros((64, 64), np.uint8), None)


def test_manifest_head_is_hash_verified(tmp_path):
    head, _ = _head()
    d = tmp_path / "echo_view"
    d.mkdir()
    (d / "b.onnx").write_bytes(b"backbone")
    head.save(d / "view_head.npz")
    man = {"name": "echo_view", "version": "2.0.0", "files": {"int8": {"path": "b.onnx"},
                                                              "view_head": {"path": "view_head.npz"}},
           "default": "int8", "inputs": [{"name": "image", "shape": [1, 1, 32, 32]}], "outputs": [],
           "training_data": "t", "accuracy": [], "intended_use": "test", "params": {"view_head": "view_head"}}
    write_manifest(d, man)
    m = parse_manifest(json.loads((d / "manifest.json").read_text()), d)
    loaded = load_view_head(m)
    assert loaded is not None and loaded.labels == LABELS
    (d / "view_head.npz").write_bytes((d / "view_head.npz").read_bytes() + b"x")
    with pytest.raises(ModelError):
        load_view_head(m)
    m2 = parse_manifest({**man, "files": {"int8": {"path": "b.onnx", "sha256": "0"}}}, d)
    assert load_view_head(m2) is None


def test_quality_model_outputs_replace_the_main_quality_and_guidance():
    head, centres = _head()
    run, _ = _fake_run(centres[1])
    seen = []

    def aux(feeds):
        seen.append(feeds["img"].shape)
        return {"view_logits": np.zeros((1, 3)), "quality": np.array([[0.25]]), "guidance_logits": np.array([[0.0, 3.0]])}

    clf = ViewClassifier(run, LABELS, GUIDE, 32, head=head, aux=(aux, 16, "img", "small"))
    o = clf(np.zeros((64, 64), np.uint8), None)
    assert seen == [(1, 1, 16, 16)]
    assert o.view == "PLAX" and o.quality == pytest.approx(0.25) and o.guidance == "rotate_cw"
    assert clf.with_head(head).aux is clf.aux
