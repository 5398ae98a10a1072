"""What models a box has: per model its version, variants (runner, files) with every file's sha256 checked against
the manifest, and the accuracy the manifest records (what was measured, on what). ``python -m device models``
prints it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from device.errors import ModelError
from device.inference.manifest import Manifest, list_models, load_manifest, sha256_file

RUNNER_OF_SUFFIX = {".onnx": "onnxruntime", ".tflite": "litert"}


@dataclass(frozen=True)
class FileCheck:
    path: str
    status: str                  # "OK", "ALTERED" (sha256 differs) or "MISSING"


@dataclass(frozen=True)
class VariantInfo:
    key: str
    runner: str
    files: tuple[FileCheck, ...]

    @property
    def status(self) -> str:
        worst = {f.status for f in self.files}
        return "MISSING" if "MISSING" in worst else "ALTERED" if "ALTERED" in worst else "OK"


@dataclass(frozen=True)
class ModelInfo:
    name: str
    directory: str
    version: str
    default: str
    variants: tuple[VariantInfo, ...]
    accuracy: tuple[dict[str, Any], ...]
    training_data: str
    error: str = ""              # the manifest itself cannot be read

    @property
    def ok(self) -> bool:
        return not self.error and all(v.status == "OK" for v in self.variants)


def _check(man: Manifest) -> tuple[VariantInfo, ...]:
    out = []
    for key, var in man.variants.items():
        files = []
        for mf in var.members:
            if not mf.path.is_file():
                files.append(FileCheck(mf.path.name, "MISSING"))
            else:
                files.append(FileCheck(mf.path.name, "OK" if sha256_file(mf.path) == mf.sha256 else "ALTERED"))
        # a listed file that no runner loads (e.g. a view head .npz) is data the model's code reads
        out.append(VariantInfo(key, RUNNER_OF_SUFFIX.get(var.suffix, "data") if var.runnable else "data",
                               tuple(files)))
    return tuple(out)


def model_info(name: str, models_dir: Path) -> ModelInfo:
    """One model's inventory row (an unreadable manifest gives a row with ``error`` set)."""
    try:
        man = load_manifest(name, models_dir)
    except ModelError as exc:
        return ModelInfo(name, str(Path(models_dir) / name), "", "", (), (), "", error=str(exc))
    return ModelInfo(man.name, str(man.directory), man.version, man.default, _check(man), tuple(man.accuracy),
                     man.training_data)


def inventory(models_dir: Path, names: list[str] | None = None) -> list[ModelInfo]:
    """Every model in ``models_dir`` (or the ``names`` given), verified."""
    return [model_info(n, models_dir) for n in (names or list_models(models_dir))]
