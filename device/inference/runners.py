"""Runners: one per file format, in one registry. ONNX Runtime picks the best execution provider the box has."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol
from collections.abc import Callable

import numpy as np

from device.errors import ModelError

log = logging.getLogger(__name__)

# Preferred execution providers, best first. TensorRT and CUDA exist on a Jetson's onnxruntime-gpu build.
PROVIDER_PREFERENCE = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")


class Runner(Protocol):
    name: str
    provider: str
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]: ...


def choose_providers(available: list[str], preference: tuple[str, ...] = PROVIDER_PREFERENCE) -> list[str]:
    """Providers to request, best first, limited to what this onnxruntime build offers (CPU always last)."""
    chosen = [p for p in preference if p in available]
    if "CPUExecutionProvider" not in chosen:
        chosen.append("CPUExecutionProvider")
    return chosen


class OnnxRunner:
    name = "onnxruntime"

    def __init__(self, path: Path, threads: int = 0):
        try:
            import onnxruntime as ort
        except ImportError as exc:  # pragma: no cover - a broken install
            raise ModelError(f"onnxruntime cannot be imported ({exc}); run 'make setup'") from exc
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        if threads:
            opts.intra_op_num_threads = threads
        providers = choose_providers(ort.get_available_providers())
        try:
            self.session = ort.InferenceSession(str(path), sess_options=opts, providers=providers)
        except Exception as exc:  # onnxruntime raises its own exception types for bad files
            raise ModelError(f"ONNX Runtime cannot load {path.name} ({exc}); restore it from git") from exc
        self.provider = self.session.get_providers()[0]
        self.input_names = tuple(i.name for i in self.session.get_inputs())
        self.output_names = tuple(o.name for o in self.session.get_outputs())
        self.input_shapes = {i.name: i.shape for i in self.session.get_inputs()}

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        outs = self.session.run(list(self.output_names), feeds)
        return dict(zip(self.output_names, outs))


class LiteRtRunner:
    name = "litert"

    def __init__(self, path: Path, threads: int = 0):
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as exc:
            raise ModelError(f"LiteRT (ai-edge-litert) cannot be imported ({exc}); run 'make setup'") from exc
        try:
            self.interp = Interpreter(model_path=str(path), num_threads=threads or None)
            self.interp.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"LiteRT cannot load {path.name} ({exc}); restore it from git") from exc
        self.provider = "CPU (XNNPACK)"
        self._in = self.interp.get_input_details()
        self._out = self.interp.get_output_details()
        self.input_names = tuple(d["name"] for d in self._in)
        self.output_names = tuple(d["name"] for d in self._out)

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        for i, d in enumerate(self._in):
            x = feeds.get(d["name"])
            if x is None:  # names differ between converters; fall back to position
                x = list(feeds.values())[i]
            x = np.asarray(x, dtype=d["dtype"])
            if tuple(x.shape) != tuple(d["shape"]):
                self.interp.resize_tensor_input(d["index"], x.shape)
                self.interp.allocate_tensors()
                self._in = self.interp.get_input_details()
                self._out = self.interp.get_output_details()
            self.interp.set_tensor(d["index"], x)
        self.interp.invoke()
        return {d["name"]: self.interp.get_tensor(d["index"]).copy() for d in self._out}


RUNNERS: dict[str, Callable[..., Runner]] = {".onnx": OnnxRunner, ".tflite": LiteRtRunner}


def runner_for(path: Path, threads: int = 0) -> Runner:
    factory = RUNNERS.get(path.suffix)
    if factory is None:
        raise ModelError(f"no runner for '{path.suffix}' files ({path.name}); valid: {', '.join(sorted(RUNNERS))}")
    return factory(path, threads)
