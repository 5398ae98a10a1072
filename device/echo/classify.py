"""One frame through the view model: crop the fan, run the model (an injected callable), decode the heads.

Two kinds of model directory:
- v2 (a backbone with an ONNX output ``features`` + a numpy `ViewHead` file listed in the manifest): the view,
  its calibrated confidence, ``uncertain`` and ``ood_score`` come from the head; quality and guidance from the graph.
- v1 (the small CNN: ``view_logits``, ``quality``, ``guidance_logits``): softmax confidence; ``uncertain`` only when
  the manifest's params give a ``conf_threshold`` (and ``temperature``).

Pure apart from the injected ``run`` (``LoadedModel.run`` on the cart, a fake in tests).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from device.echo.prep import ViewOutput, decode, model_input, softmax
from device.echo.screen import Sector
from device.echo.view_head import ViewHead

RunFn = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]
HEAD_KEY = "view_head"   # the manifest's "files" entry of the head (params.view_head may name another key)


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


def load_view_head(manifest: Any) -> ViewHead | None:
    """The hash-verified `ViewHead` a manifest lists (files[params.view_head or 'view_head']), or None (v1 model)."""
    from device.inference.manifest import verify_file

    key = manifest.params.get("view_head", HEAD_KEY)
    if key not in manifest.variants:
        return None
    member = manifest.variants[key].members[0]
    verify_file(member, manifest.name)
    return ViewHead.load(member.path)


class ViewClassifier:
    """Binds a runner to the model's manifest: labels, guidance labels, input size, input name and view head."""

    def __init__(self, run: RunFn, labels: tuple[str, ...], guidance_labels: tuple[str, ...], size: int,
                 input_name: str = "image", tag: str = "", name: str = "", version: str = "",
                 head: ViewHead | None = None, temperature: float = 1.0, conf_threshold: float = 0.0,
                 aux: tuple[RunFn, int, str, str] | None = None):
        self.run = run
        self.aux = aux   # (run, input size, input name, tag) of a model whose quality/guidance heads are used
        self.head = head
        self.labels = tuple(head.labels) if head is not None else tuple(labels)
        self.guidance_labels = tuple(guidance_labels)
        self.size = int(size)
        self.input_name = input_name
        self.tag = tag
        self.name = name
        self.version = version
        self.temperature = float(temperature)
        self.conf_threshold = float(conf_threshold)

    @staticmethod
    def from_loaded(model: Any, head: ViewHead | None = None) -> ViewClassifier:
        """From a `device.inference.LoadedModel` (manifest params: input_size, guidance_labels; the head file;
        ``quality_model``: the name of a model whose quality and guidance heads replace this one's, loaded with
        hash verification from this model's models directory, else the shipped one)."""
        m = model.manifest
        head = head if head is not None else load_view_head(m)
        aux = None
        qname = m.params.get("quality_model")
        if qname:
            from device.inference import load_model
            from device.paths import MODELS_DIR

            root = m.directory.parent if (m.directory.parent / qname / "manifest.json").is_file() else MODELS_DIR
            qm = load_model(qname, variant=model.variant if model.variant in ("int8", "fp32") else None,
                            models_dir=root, threads=1)   # a tiny CNN: one thread, no thread pool to contend
            aux = (qm.run, int(qm.manifest.params["input_size"]), qm.manifest.inputs[0].name, qm.tag)
        tag = model.tag + (f" (quality/guidance: {aux[3]})" if aux else "")
        return ViewClassifier(model.run, tuple(m.labels), tuple(m.params["guidance_labels"]),
                              int(m.params["input_size"]), m.inputs[0].name, tag, m.name, m.version, head,
                              float(m.params.get("temperature", 1.0)), float(m.params.get("conf_threshold", 0.0)),
                              aux)

    @staticmethod
    def from_model_dir(model_dir: Path, variant: str | None = None, threads: int = 0) -> ViewClassifier:
        """Load ``model_dir`` (a directory with manifest.json, e.g. models/echo_view or a site-trained copy)."""
        from device.inference import model_provider

        model_dir = Path(model_dir)          # threads 0: the settings' [inference] threads
        return ViewClassifier.from_loaded(model_provider().get(model_dir.name, variant, model_dir=model_dir,
                                                               threads=threads or None))

    def with_head(self, head: ViewHead) -> ViewClassifier:
        """The same backbone with another view head (site learning); the tag names the head's origin if given."""
        c = ViewClassifier(self.run, head.labels, self.guidance_labels, self.size, self.input_name, self.tag,
                           self.name, self.version, head, aux=self.aux)
        extra = head.meta.get("tag")
        if extra:
            c.tag = f"{self.tag} + {extra}"
        return c

    def features(self, frame: np.ndarray, sector: Sector | None) -> np.ndarray:
        """(D,) float32 backbone features of one screen (needs a v2 model with a ``features`` output)."""
        out = self.run({self.input_name: model_input(frame, sector, self.size)})
        if "features" not in out:
            raise ValueError(f"model {self.tag or self.name} has no 'features' output (a v1 model); use a v2 model")
        return np.asarray(out["features"], dtype=np.float32).reshape(-1)

    def decode_outputs(self, out: dict[str, np.ndarray], aux_out: dict[str, np.ndarray] | None = None) -> ViewOutput:
        """Runner outputs for one frame -> ViewOutput (head path for v2, softmax heads for v1); `aux_out`: the
        quality model's outputs (its quality and guidance replace the main model's)."""
        if aux_out is not None:
            out = {**out, "quality": aux_out["quality"], "guidance_logits": aux_out["guidance_logits"]}
        if self.head is None:
            o = decode(heads(out, len(self.labels), len(self.guidance_labels)), self.labels, self.guidance_labels)
            if self.temperature != 1.0 or self.conf_threshold > 0:
                raw = np.asarray(heads(out, len(self.labels), len(self.guidance_labels))["view_logits"],
                                 dtype=np.float64).reshape(-1)
                p = softmax(raw / self.temperature)
                k = int(np.argmax(p))
                o = replace(o, view_conf=float(p[k]), view_probs=p, uncertain=bool(p[k] < self.conf_threshold))
            return o
        f = np.asarray(out["features"], dtype=np.float32).reshape(1, -1)
        p = self.head.probs(f)[0]
        ood = float(self.head.ood_score(f)[0])
        k = int(np.argmax(p))
        conf = float(p[k])
        q = float(np.clip(np.asarray(out["quality"]).reshape(-1)[0], 0.0, 1.0)) if "quality" in out else 0.0
        if "guidance_logits" in out:
            pg = softmax(np.asarray(out["guidance_logits"], dtype=np.float64).reshape(-1))
            ig = int(np.argmax(pg))
            guide, gconf = self.guidance_labels[ig], float(pg[ig])
        else:
            guide, gconf = "hold", 0.0
        unc = bool(self.head.uncertain(np.array([conf]), np.array([ood]), f)[0])
        return ViewOutput(self.labels[k], conf, p, q, guide, gconf, uncertain=bool(unc), ood_score=ood)

    def __call__(self, frame: np.ndarray, sector: Sector | None) -> ViewOutput:
        out = self.run({self.input_name: model_input(frame, sector, self.size)})
        aux_out = None
        if self.aux is not None:
            run, size, name, _tag = self.aux
            aux_out = run({name: model_input(frame, sector, size)})
        return self.decode_outputs(out, aux_out)
