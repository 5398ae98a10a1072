"""One ModelProvider, built from the settings, serves every model: ``[paths] models_dir``, ``[inference] variant``,
``runner`` and ``threads`` reach the echo view model, the LV segmentation, the ECG and the perfusion networks alike.

A model is chosen by name (from the provider's models directory) or by an explicit model directory (a site-trained
model, ``models/<name>/`` copied and retrained elsewhere). The variant is, in this order: the one the caller names
(e.g. the LV short-axis ensemble named in the manifest's params), the ``tflite`` variant when ``runner = "litert"``
and the manifest has one, the settings' ``variant`` when the manifest has it, else the manifest's default. Loaded
models are cached by the full key (directory, name, variant, threads): asking again with the same key returns the
same object, asking with another thread count loads another.

Each composition root (``python -m device ...``, ``device.cli.common.settings_from``) calls
:func:`configure_models` with the settings it loaded; code that needs a model calls ``model_provider().get(name)``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from device.inference.manifest import Manifest, list_models, load_manifest
from device.paths import MODELS_DIR

if TYPE_CHECKING:
    from device.inference import LoadedModel


class _Inference(Protocol):
    runner: str
    variant: str
    threads: int


class ModelSettings(Protocol):
    """What the provider reads of ``device.config.Settings`` (the model layer does not import the config layer)."""

    @property
    def models_dir(self) -> Path: ...

    @property
    def inference(self) -> _Inference: ...

RUNNERS = ("onnxruntime", "litert")


@dataclass(frozen=True)
class ModelKey:
    """What makes two loaded models the same: the model's directory, the variant and the runner's thread count
    (the runner follows from the variant's files: .onnx -> ONNX Runtime, .tflite -> LiteRT)."""

    directory: str
    name: str
    variant: str
    threads: int


class ModelProvider:
    """Loads and caches hash-verified models for one set of settings (thread-safe)."""

    def __init__(self, models_dir: Path | str | None = None, *, variant: str | None = None,
                 runner: str = "onnxruntime", threads: int = 0):
        if runner not in RUNNERS:
            raise ValueError(f"runner {runner!r} is not one of {', '.join(RUNNERS)}")
        self.models_dir = Path(models_dir) if models_dir is not None else MODELS_DIR
        self.variant = variant
        self.runner = runner
        self.threads = int(threads)
        self._lock = threading.Lock()
        self._cache: dict[ModelKey, LoadedModel] = {}

    @classmethod
    def from_settings(cls, settings: ModelSettings) -> ModelProvider:
        inf = settings.inference
        return cls(settings.models_dir, variant=inf.variant, runner=inf.runner, threads=inf.threads)

    def _where(self, name: str, model_dir: Path | str | None) -> tuple[Path, str]:
        if model_dir is None:
            return self.models_dir, name
        d = Path(model_dir)
        return d.parent, d.name

    def manifest(self, name: str, *, model_dir: Path | str | None = None) -> Manifest:
        root, nm = self._where(name, model_dir)
        return load_manifest(nm, root)

    def names(self) -> list[str]:
        """The models in the provider's directory (those with a manifest)."""
        return list_models(self.models_dir)

    def choose_variant(self, man: Manifest, variant: str | None = None) -> str:
        if variant is not None:
            return variant
        if self.runner == "litert" and "tflite" in man.variants:
            return "tflite"
        if self.variant is not None and self.variant in man.variants:
            return self.variant
        return man.default

    def key(self, name: str, variant: str | None = None, *, model_dir: Path | str | None = None,
            threads: int | None = None) -> ModelKey:
        root, nm = self._where(name, model_dir)
        man = load_manifest(nm, root)
        return ModelKey(str(man.directory.resolve()), man.name, self.choose_variant(man, variant),
                        self.threads if threads is None else int(threads))

    def get(self, name: str, variant: str | None = None, *, model_dir: Path | str | None = None,
            threads: int | None = None, warm_up: bool = True) -> LoadedModel:
        """The model ``name`` (or the one in ``model_dir``), verified, in the chosen variant. ModelError (saying
        what to do) when its manifest or a file is missing or altered, or the variant does not exist."""
        from device.inference import load_model

        k = self.key(name, variant, model_dir=model_dir, threads=threads)
        with self._lock:
            hit = self._cache.get(k)
        if hit is not None:
            return hit
        root, nm = self._where(name, model_dir)
        model = load_model(nm, variant=k.variant, models_dir=root, threads=k.threads, warm_up=warm_up)
        with self._lock:
            return self._cache.setdefault(k, model)

    def loaded(self) -> list[LoadedModel]:
        with self._lock:
            return list(self._cache.values())


_DEFAULT: list[ModelProvider] = []
_DEFAULT_LOCK = threading.Lock()


def configure_models(settings: ModelSettings) -> ModelProvider:
    """Make the provider of ``settings`` the process's (called by each composition root once it has settings)."""
    p = ModelProvider.from_settings(settings)
    with _DEFAULT_LOCK:
        _DEFAULT[:] = [p]
    return p


def model_provider() -> ModelProvider:
    """The process's provider (the bundled models with their manifests' defaults until a root configured one)."""
    with _DEFAULT_LOCK:
        if not _DEFAULT:
            _DEFAULT.append(ModelProvider())
        return _DEFAULT[0]


def reset_models() -> None:
    """Forget the configured provider (tests: one test's --config must not choose the next test's models)."""
    with _DEFAULT_LOCK:
        _DEFAULT.clear()
