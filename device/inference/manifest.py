"""Model manifests: models are data. A manifest says files, hashes, shapes, labels, normalisation and accuracy."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from device.errors import ModelError
from device.fsutil import atomic_write_bytes
from device.paths import MODELS_DIR

MODEL_SUFFIXES = (".onnx", ".tflite")      # files a runner loads; any other listed file is data the model's code reads
REQUIRED_KEYS = ("name", "version", "files", "default", "inputs", "outputs", "training_data", "accuracy", "intended_use")


@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: tuple[int | str, ...]
    dtype: str
    normalisation: str = ""


@dataclass(frozen=True)
class ModelFile:
    path: Path
    sha256: str


@dataclass(frozen=True)
class Variant:
    key: str
    members: tuple[ModelFile, ...]
    combine: str = "single"  # "single" or "mean"

    @property
    def suffix(self) -> str:
        return self.members[0].path.suffix

    @property
    def runnable(self) -> bool:
        """A model a runner loads (ONNX, LiteRT), not a data file listed for its hash (e.g. a view head .npz)."""
        return all(m.path.suffix in MODEL_SUFFIXES for m in self.members)


@dataclass(frozen=True)
class Manifest:
    name: str
    version: str
    task: str
    intended_use: str
    directory: Path
    variants: dict[str, Variant]
    default: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    labels: tuple[str, ...]
    params: dict[str, Any]
    training_data: str
    accuracy: tuple[dict[str, Any], ...]
    raw: dict[str, Any] = field(repr=False, default_factory=dict)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _variant(key: str, spec: dict[str, Any], directory: Path) -> Variant:
    if "members" in spec:
        members = tuple(ModelFile(directory / m["path"], m["sha256"]) for m in spec["members"])
        if not members:
            raise ModelError(f"model manifest {directory / 'manifest.json'}: variant '{key}' has no members")
        return Variant(key, members, spec.get("combine", "mean"))
    return Variant(key, (ModelFile(directory / spec["path"], spec["sha256"]),))


def parse_manifest(data: dict[str, Any], directory: Path) -> Manifest:
    where = directory / "manifest.json"
    if not isinstance(data, dict):
        raise ModelError(f"model manifest {where} is not a JSON object; restore it from git or retrain with "
                         "'make models'")
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise ModelError(f"model manifest {where} lacks {', '.join(missing)}; retrain with 'make models'")
    try:
        variants = {k: _variant(k, v, directory) for k, v in data["files"].items()}
        inputs = tuple(TensorSpec(i["name"], tuple(i["shape"]), i.get("dtype", "float32"), i.get("normalisation", ""))
                       for i in data["inputs"])
        outputs = tuple(TensorSpec(o["name"], tuple(o["shape"]), o.get("dtype", "float32")) for o in data["outputs"])
        if not isinstance(data["default"], str) or data["default"] not in variants:
            raise ModelError(f"model manifest {where}: default '{data['default']}' is not one of {sorted(variants)}")
        return Manifest(
            name=data["name"], version=str(data["version"]), task=data.get("task", ""),
            intended_use=data["intended_use"], directory=directory, variants=variants, default=data["default"],
            inputs=inputs, outputs=outputs, labels=tuple(data.get("labels", ())),
            params=dict(data.get("params", {})), training_data=data["training_data"],
            accuracy=tuple(data["accuracy"]), raw=data,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:  # a list where an object is due, ...
        raise ModelError(f"model manifest {where} is malformed ({exc!r}); retrain with 'make models'") from exc


def load_manifest(name: str, models_dir: Path | None = None) -> Manifest:
    directory = Path(models_dir or MODELS_DIR) / name
    path = directory / "manifest.json"
    if not path.is_file():
        raise ModelError(f"model '{name}' has no manifest at {path}; run 'make models' or restore the file from git")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"model manifest {path} cannot be read ({exc}); restore it from git") from exc
    return parse_manifest(data, directory)


def list_models(models_dir: Path | None = None) -> list[str]:
    root = Path(models_dir or MODELS_DIR)
    return sorted(p.parent.name for p in root.glob("*/manifest.json"))


def verify_file(mf: ModelFile, model: str) -> None:
    """Raise ModelError unless the file exists and its sha256 matches the manifest."""
    if not mf.path.is_file():
        raise ModelError(f"model '{model}': file {mf.path} is missing; restore it from git or run 'make models'")
    actual = sha256_file(mf.path)
    if actual != mf.sha256:
        raise ModelError(
            f"model '{model}': {mf.path.name} has sha256 {actual[:12]}..., the manifest says {mf.sha256[:12]}...; "
            "the file was altered or corrupted: restore it from git or retrain with 'make models'"
        )


def write_manifest(model_dir: Path | str, manifest: dict[str, Any]) -> Path:
    """Write ``model_dir/manifest.json`` atomically, filling in the sha256 of every listed file."""
    model_dir = Path(model_dir)
    data = json.loads(json.dumps(manifest))
    for spec in data["files"].values():
        for m in spec.get("members", [spec]):
            m["sha256"] = sha256_file(model_dir / m["path"])
    parse_manifest(data, model_dir)  # validate before writing
    out = model_dir / "manifest.json"
    atomic_write_bytes(out, (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
    return out
