"""Export of the echo view model v2 graph (image -> features, quality, guidance_logits): fp32 ONNX, static int8 QDQ
ONNX, .tflite (models/training/tflite_export.py), and batched feature extraction with ONNX Runtime.
Training-time only (imports torch and onnx)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

OUTPUTS = ["features", "quality", "guidance_logits"]


def to_input(crops_u8: np.ndarray) -> np.ndarray:
    """(N, S, S) uint8 crops -> (N, 1, S, S) float32 in [-1, 1] (device.echo.prep.normalise)."""
    return ((crops_u8.astype(np.float32) / 255.0 - 0.5) / 0.5)[:, None]


def export_onnx(model, path: Path, size: int, dynamic_batch: bool = False) -> Path:
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    axes = {n: {0: "n"} for n in ["image"] + OUTPUTS} if dynamic_batch else None
    torch.onnx.export(model.eval(), torch.zeros(1, 1, size, size), str(path), input_names=["image"],
                      output_names=OUTPUTS, opset_version=17, dynamo=False, dynamic_axes=axes)
    return path


def quantize_int8(fp32: Path, int8: Path, calib_u8: np.ndarray) -> Path:
    """Static QDQ int8 (per-channel weights, uint8 activations) calibrated on `calib_u8` crops."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter([{"image": to_input(c[None])} for c in calib_u8])

        def get_next(self):
            return next(self.items, None)

    pre = int8.with_name(int8.stem + ".pre.onnx")
    quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
    quantize_static(str(pre), str(int8), Reader(), quant_format=QuantFormat.QDQ, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8, per_channel=True)
    pre.unlink(missing_ok=True)
    return int8


def write_tflite(fp32: Path, out: Path, size: int) -> float:
    """Convert with tflite_export; returns the max |diff| against ONNX Runtime on a random input."""
    from models.training.tflite_export import onnx_to_tflite, verify_against_onnx

    out.write_bytes(onnx_to_tflite(str(fp32)))
    x = np.random.default_rng(0).uniform(-1, 1, (1, 1, size, size)).astype(np.float32)
    return float(verify_against_onnx(out.read_bytes(), fp32, {"image": x}))


def onnx_outputs(path: Path, crops_u8: np.ndarray, batch: int = 64, threads: int = 2) -> dict[str, np.ndarray]:
    """Run a (dynamic-batch or batch-1) ONNX graph over crops: {output name: (N, ...)}."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.log_severity_level = 3
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")   # shared cores: do not spin
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    dim0 = sess.get_inputs()[0].shape[0]
    b = batch if not isinstance(dim0, int) else 1
    outs: dict[str, list[np.ndarray]] = {o.name: [] for o in sess.get_outputs()}
    for i in range(0, len(crops_u8), b):
        res = sess.run(None, {"image": to_input(crops_u8[i:i + b])})
        for o, r in zip(sess.get_outputs(), res):
            outs[o.name].append(r)
    return {k: np.concatenate(v) for k, v in outs.items()}
