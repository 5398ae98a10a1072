"""Export a dense network (list of numpy layers) as fp32 ONNX, static-QDQ int8 ONNX and .tflite, verified.

Shared by the perfusion recipes (SPECTF regions, slice-to-ring, territory risk). Training-time only.
"""

from __future__ import annotations

from pathlib import Path
from collections.abc import Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from models.training.tflite_export import mlp_to_tflite, verify_against_onnx

Layer = tuple[np.ndarray, np.ndarray, str]  # (W (out, in), b (out,), "RELU" | "NONE")


def mlp_onnx(layers: Sequence[Layer], n_in: int, input_name: str, output_name: str, final: str) -> onnx.ModelProto:
    """ONNX graph: Gemm(+Relu) per layer, then Sigmoid / Softmax / nothing; batch dimension is symbolic 'N'."""
    nodes, inits = [], []
    x = input_name
    for k, (w, b, act) in enumerate(layers):
        inits += [numpy_helper.from_array(w.astype(np.float32), f"w{k}"),
                  numpy_helper.from_array(b.astype(np.float32), f"b{k}")]
        y = f"h{k}"
        nodes.append(helper.make_node("Gemm", [x, f"w{k}", f"b{k}"], [y], transB=1))
        x = y
        if act == "RELU":
            nodes.append(helper.make_node("Relu", [x], [f"r{k}"]))
            x = f"r{k}"
    if final == "LOGISTIC":
        nodes.append(helper.make_node("Sigmoid", [x], [output_name]))
    elif final == "SOFTMAX":
        nodes.append(helper.make_node("Softmax", [x], [output_name], axis=-1))
    else:
        nodes.append(helper.make_node("Identity", [x], [output_name]))
    n_out = int(layers[-1][0].shape[0])
    graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["N", n_in])],
                              [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, ["N", n_out])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="cardiocart")
    model.ir_version = 9
    onnx.checker.check_model(model)
    return model


def quantize_int8(fp32_path: Path, int8_path: Path, input_name: str, calib: np.ndarray) -> None:
    """Static QDQ int8 (per-channel weights) calibrated on ``calib`` rows (float32, shape (n, n_in))."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.rows = iter([{input_name: calib[i:i + 1].astype(np.float32)} for i in range(len(calib))])

        def get_next(self):  # noqa: ANN201 - onnxruntime's interface
            return next(self.rows, None)

    quantize_static(str(fp32_path), str(int8_path), Reader(), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, per_channel=True)


def export_mlp(model_dir: Path, stem: str, layers: Sequence[Layer], input_name: str, output_name: str,
               final: str, calib: np.ndarray) -> dict:
    """Write ``stem``.fp32.onnx / .int8.onnx / .tflite in ``model_dir``; returns the manifest ``files`` dict and
    checks: tflite vs fp32 ONNX max |diff| <= 1e-4 (raises otherwise) and int8 vs fp32 max |diff| (recorded)."""
    import onnxruntime as ort

    model_dir.mkdir(parents=True, exist_ok=True)
    n_in = int(layers[0][0].shape[1])
    fp32 = model_dir / f"{stem}.fp32.onnx"
    int8 = model_dir / f"{stem}.int8.onnx"
    tfl = model_dir / f"{stem}.tflite"
    onnx.save(mlp_onnx(layers, n_in, input_name, output_name, final), str(fp32))
    quantize_int8(fp32, int8, input_name, calib[: min(len(calib), 256)])
    tfl.write_bytes(mlp_to_tflite(layers, n_in, input_name, output_name, final))
    probe = calib[: min(len(calib), 32)].astype(np.float32)
    diff_tfl = verify_against_onnx(tfl, fp32, {input_name: probe})
    if diff_tfl > 1e-4:
        raise RuntimeError(f"{tfl.name} differs from {fp32.name} by {diff_tfl:.2e} (> 1e-4)")
    s32 = ort.InferenceSession(str(fp32), providers=["CPUExecutionProvider"])
    s8 = ort.InferenceSession(str(int8), providers=["CPUExecutionProvider"])
    d8 = float(np.max(np.abs(s32.run(None, {input_name: calib.astype(np.float32)})[0]
                             - s8.run(None, {input_name: calib.astype(np.float32)})[0])))
    return {
        "files": {"fp32": {"path": fp32.name}, "int8": {"path": int8.name}, "tflite": {"path": tfl.name}},
        "checks": {"tflite_vs_fp32_max_abs": diff_tfl, "int8_vs_fp32_max_abs": d8},
    }
