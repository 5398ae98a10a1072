"""One frame through the view model: crop the fan, run the model (an injected callable), decode the three heads.

Pure apart from the injected ``run`` (``LoadedModel.run`` on the cart, a fake in tests).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from device.echo.prep import ViewOutput, decode, model_input
from device.echo.screen import Sector

RunFn = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]


def heads(outputs: dict[str, np.ndarray], n_views: int, n_guidance: int) -> dict[str, np.ndarray]:
    """Map a runner's outputs to view_logits / quality / guidance_logits (by name, else by last-axis size)."""
    if all(k in outputs for k in ("view_logits", "quality", "guidance_logits")):
        return outputs
    by_size: dict[int, np.ndarray] = {}
    for v in outputs.values():
        by_size[int(np.asarray(v).shape[-1])] = np.asarray(v)
    try:
        return {"view_logits": by_size[n_views], "quality": by_size[1], "guidance_logits": by_size[n_guidance]}
    except KeyError as exc:
        raise ValueError(f"model outputs {sorted(by_size)} do not match {n_views} views / {n_guidance} moves") from exc


class ViewClassifier:
    """Binds a runner to the model's manifest: labels, guidance labels, input size and input name."""

    def __init__(self, run: RunFn, labels: tuple[str, ...], guidance_labels: tuple[str, ...], size: int,
                 input_name: str = "image", tag: str = "", name: str = "", version: str = ""):
        self.run = run
        self.labels = tuple(labels)
        self.guidance_labels = tuple(guidance_labels)
        self.size = int(size)
        self.input_name = input_name
        self.tag = tag
        self.name = name
        self.version = version

    @staticmethod
    def from_loaded(model: Any) -> ViewClassifier:
        """From a `device.inference.LoadedModel` (manifest params: input_size, guidance_labels)."""
        m = model.manifest
        return ViewClassifier(model.run, tuple(m.labels), tuple(m.params["guidance_labels"]),
                              int(m.params["input_size"]), m.inputs[0].name, model.tag, m.name, m.version)

    def __call__(self, frame: np.ndarray, sector: Sector | None) -> ViewOutput:
        x = model_input(frame, sector, self.size)
        out = heads(self.run({self.input_name: x}), len(self.labels), len(self.guidance_labels))
        return decode(out, self.labels, self.guidance_labels)
