"""Model runtime: manifests, hash verification, runners, ensembles, latency statistics."""

from __future__ import annotations


import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402

from device.errors import ModelError  # noqa: E402
from device.inference import list_models, load_model, write_manifest  # noqa: E402
from device.inference.runners import choose_providers  # noqa: E402


def _affine_onnx(path, w, b):
    """A real ONNX graph y = x @ w + b."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, w.shape[0]])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, w.shape[1]])
    wt = helper.make_tensor("w", TensorProto.FLOAT, w.shape, w.flatten().tolist())
    bt = helper.make_tensor("b", TensorProto.FLOAT, b.shape, b.flatten().tolist())
    g = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["m"]), helper.make_node("Add", ["m", "b"], ["y"])],
                          "affine", [x], [y], [wt, bt])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 9
    onnx.save(m, str(path))


def _make_model(tmp_path, name="toy", members=1):
    d = tmp_path / name
    d.mkdir()
    rng = np.random.default_rng(0)
    files = []
    for k in range(members):
        w = rng.normal(size=(3, 2)).astype(np.float32)
        b = rng.normal(size=(2,)).astype(np.float32)
        _affine_onnx(d / f"m{k}.onnx", w, b)
        files.append((w, b))
    spec = {"path": "m0.onnx"} if members == 1 else {"members": [{"path": f"m{k}.onnx"} for k in range(members)],
                                                       "combine": "mean"}
    write_manifest(d, {
        "name": name, "version": "0.1", "task": "regression", "intended_use": "tests",
        "files": {"fp32": spec}, "default": "fp32",
        "inputs": [{"name": "x", "shape": [1, 3], "dtype": "float32"}],
        "outputs": [{"name": "y", "shape": [1, 2], "dtype": "float32"}],
        "labels": ["a", "b"], "training_data": "none", "accuracy": [],
    })
    return d, files


def test_loads_verified_onnx_and_computes(tmp_path):
    d, [(w, b)] = _make_model(tmp_path)
    m = load_model("toy", models_dir=tmp_path, cache=False)
    x = np.array([[1.0, 2.0, 3.0]], dtype=np.float32)
    np.testing.assert_allclose(m.run({"x": x})["y"], x @ w + b, rtol=1e-5)
    assert m.provider == "CPUExecutionProvider"
    assert m.tag == "toy 0.1 fp32/onnxruntime-CPU"
    assert m.stats().count == 1


def test_altered_file_is_refused_with_reason(tmp_path):
    d, _ = _make_model(tmp_path)
    data = bytearray((d / "m0.onnx").read_bytes())
    data[-1] ^= 0xFF
    (d / "m0.onnx").write_bytes(bytes(data))
    with pytest.raises(ModelError, match="m0.onnx has sha256 .* the manifest says"):
        load_model("toy", models_dir=tmp_path, cache=False)


def test_missing_file_and_manifest_are_refused(tmp_path):
    d, _ = _make_model(tmp_path)
    (d / "m0.onnx").unlink()
    with pytest.raises(ModelError, match="is missing"):
        load_model("toy", models_dir=tmp_path, cache=False)
    with pytest.raises(ModelError, match="has no manifest"):
        load_model("nothing", models_dir=tmp_path, cache=False)
    (d / "manifest.json").write_text("{not json")
    with pytest.raises(ModelError, match="cannot be read"):
        load_model("toy", models_dir=tmp_path, cache=False)


def test_unknown_variant_lists_valid_ones(tmp_path):
    _make_model(tmp_path)
    with pytest.raises(ModelError, match="valid: fp32"):
        load_model("toy", variant="int8", models_dir=tmp_path, cache=False)


def test_ensemble_returns_mean_of_members(tmp_path):
    _, files = _make_model(tmp_path, members=3)
    m = load_model("toy", models_dir=tmp_path, cache=False)
    x = np.array([[0.5, -1.0, 2.0]], dtype=np.float32)
    expected = np.mean([x @ w + b for w, b in files], axis=0)
    np.testing.assert_allclose(m.run({"x": x})["y"], expected, rtol=1e-5)


def test_provider_choice_prefers_accelerators():
    assert choose_providers(["CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider"]) == [
        "TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    assert choose_providers(["AzureExecutionProvider"]) == ["CPUExecutionProvider"]


@pytest.mark.parametrize("name", list_models())
def test_every_shipped_model_verifies_and_runs(name):
    """Every model in models/ loads with its hash verified and runs on zeros, in every variant (ONNX and LiteRT)."""
    from device.inference import load_manifest

    from device.inference.manifest import verify_file

    man = load_manifest(name)
    for key, var in man.variants.items():
        if not var.runnable:                  # a data file listed for its hash (e.g. a view head): verified only
            for member in var.members:
                verify_file(member, name)
            with pytest.raises(ModelError, match="data file"):
                load_model(name, variant=key, cache=False)
            continue
        m = load_model(name, variant=key, cache=False)
        assert m.stats().count == 0  # warm-up ran and was not counted
        feeds = {s.name: np.zeros(tuple(d if isinstance(d, int) and d > 0 else 1 for d in s.shape), s.dtype)
                 for s in man.inputs}
        out = m.run(feeds)
        assert all(np.all(np.isfinite(v)) for v in out.values())
