"""The .tflite writer (models/training/tflite_export.py): LiteRT outputs equal ONNX Runtime / numpy within 1e-4."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from models.training.tflite_export import mlp_to_tflite, onnx_to_tflite, run_tflite, verify_against_onnx  # noqa: E402


def test_mlp_matches_numpy():
    rng = np.random.default_rng(0)
    w1, b1 = rng.normal(size=(8, 5)).astype(np.float32), rng.normal(size=8).astype(np.float32)
    w2, b2 = rng.normal(size=(3, 8)).astype(np.float32), rng.normal(size=3).astype(np.float32)
    x = rng.normal(size=(4, 5)).astype(np.float32)
    ref = 1 / (1 + np.exp(-(np.maximum(x @ w1.T + b1, 0) @ w2.T + b2)))
    got = run_tflite(mlp_to_tflite([(w1, b1, "RELU"), (w2, b2, "NONE")], 5, final="LOGISTIC"), {"x": x})[0]
    assert got.shape == (4, 3)
    np.testing.assert_allclose(got, ref, atol=1e-5)


def test_onnx_cnn_converts(tmp_path):
    rng = np.random.default_rng(1)
    w = rng.normal(size=(4, 2, 3, 3)).astype(np.float32)
    b = rng.normal(size=4).astype(np.float32)
    fc = rng.normal(size=(4 * 4 * 4, 3)).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1], strides=[1, 1]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Flatten", ["p"], ["f"]),
             helper.make_node("MatMul", ["f", "fc"], ["m"]),
             helper.make_node("Softmax", ["m"], ["y"], axis=-1)]
    g = helper.make_graph(nodes, "cnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, 8, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])],
                          [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b"),
                           numpy_helper.from_array(fc, "fc")])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    path = tmp_path / "cnn.onnx"
    onnx.save(model, str(path))
    tfl = onnx_to_tflite(path)
    x = rng.normal(size=(3, 2, 8, 8)).astype(np.float32)
    assert verify_against_onnx(tfl, path, {"x": x}) < 1e-4


def test_unsupported_op_is_named(tmp_path):
    g = helper.make_graph([helper.make_node("Tanh", ["x"], ["y"])], "t",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    with pytest.raises(NotImplementedError, match="Tanh"):
        onnx_to_tflite(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))
