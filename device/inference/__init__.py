"""Model runtime: manifests, hash-verified loading, runners, latency statistics."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from device.errors import ModelError
from device.inference.manifest import Manifest, load_manifest, list_models, verify_file, write_manifest
from device.inference.provider import ModelProvider, configure_models, model_provider
from device.inference.runners import Runner, runner_for

__all__ = ["LoadedModel", "load_model", "loaded_models", "ModelError", "Manifest", "load_manifest", "list_models",
           "write_manifest", "latency_summary", "ModelProvider", "configure_models", "model_provider"]

log = logging.getLogger(__name__)
_LOADED: dict[str, "LoadedModel"] = {}
_LOCK = threading.Lock()


@dataclass(frozen=True)
class LatencyStats:
    count: int
    p50_ms: float
    p99_ms: float
    mean_ms: float


class LoadedModel:
    """A verified model with its runner(s). ``run`` is thread-safe and records latency."""

    def __init__(self, manifest: Manifest, variant: str, runners: list[Runner]):
        self.manifest = manifest
        self.variant = variant
        self.runners = runners
        self.combine = manifest.variants[variant].combine
        self._lat_ms: deque[float] = deque(maxlen=2000)
        self._count = 0
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def version(self) -> str:
        return self.manifest.version

    @property
    def runner_name(self) -> str:
        return self.runners[0].name

    @property
    def provider(self) -> str:
        return self.runners[0].provider

    @property
    def tag(self) -> str:
        """Human-readable identity recorded with every result: name, version, variant, runner and provider."""
        return f"{self.name} {self.version} {self.variant}/{self.runner_name}-{self.provider.replace('ExecutionProvider', '')}"

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        t0 = time.perf_counter()
        with self._lock:
            if len(self.runners) == 1:
                out = self.runners[0].run(feeds)
            else:
                outs = [r.run(feeds) for r in self.runners]
                out = {k: np.mean([o[k] for o in outs], axis=0) for k in outs[0]}
            dt = (time.perf_counter() - t0) * 1000.0
            self._lat_ms.append(dt)
            self._count += 1
        return out

    def warm_up(self, runs: int = 2) -> None:
        feeds = {}
        for spec in self.manifest.inputs:
            shape = tuple(d if isinstance(d, int) and d > 0 else 1 for d in spec.shape)
            feeds[spec.name] = np.zeros(shape, dtype=np.dtype(spec.dtype))
        for _ in range(runs):
            self.run(feeds)
        with self._lock:
            self._lat_ms.clear()
            self._count = 0

    def stats(self) -> LatencyStats:
        with self._lock:
            arr = np.array(self._lat_ms, dtype=np.float64)
            n = self._count
        if arr.size == 0:
            return LatencyStats(n, float("nan"), float("nan"), float("nan"))
        return LatencyStats(n, float(np.percentile(arr, 50)), float(np.percentile(arr, 99)), float(arr.mean()))


def load_model(name: str, variant: str | None = None, models_dir: Path | None = None, threads: int = 0,
               warm_up: bool = True, cache: bool = True) -> LoadedModel:
    """Load a model by name after verifying every file's sha256 against its manifest (the low-level loader:
    application code asks ``model_provider().get(name)``, which applies the settings).

    Raises ModelError (with what to do) when the manifest or a file is missing, altered or unloadable.
    """
    key = f"{models_dir or ''}:{name}:{variant or ''}:{threads}"
    if cache:
        with _LOCK:
            if key in _LOADED:
                return _LOADED[key]
    manifest = load_manifest(name, models_dir)
    vkey = variant or manifest.default
    if vkey not in manifest.variants:
        raise ModelError(f"model '{name}' has no variant '{vkey}'; valid: {', '.join(sorted(manifest.variants))}")
    if not manifest.variants[vkey].runnable:
        runnable = sorted(k for k, v in manifest.variants.items() if v.runnable)
        raise ModelError(f"'{vkey}' of model '{name}' is a data file, not a model variant; valid: {', '.join(runnable)}")
    runners = []
    for member in manifest.variants[vkey].members:
        verify_file(member, name)
        runners.append(runner_for(member.path, threads))
    model = LoadedModel(manifest, vkey, runners)
    if warm_up:
        model.warm_up()
    log.info("loaded %s", model.tag)
    if cache:
        with _LOCK:
            _LOADED[key] = model
    return model


def loaded_models() -> list[LoadedModel]:
    with _LOCK:
        return list(_LOADED.values())


def latency_summary() -> list[dict]:
    """Per loaded model: tag, count and p50/p99 latency in ms (served at /api/metrics)."""
    rows = []
    for m in loaded_models():
        s = m.stats()
        rows.append({"model": m.name, "version": m.version, "variant": m.variant, "runner": m.runner_name,
                     "provider": m.provider, "count": s.count, "p50_ms": s.p50_ms, "p99_ms": s.p99_ms})
    return rows
