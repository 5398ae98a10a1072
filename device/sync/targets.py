"""The registry of PACS targets: build the configured one from the ``[sync]`` settings."""

from __future__ import annotations

from typing import Any

from device.errors import ConfigError
from device.sync.worker import Backoff, Outbox, SyncWorker, Target

TARGETS = ("none", "dicomweb", "cstore")


def target_from_settings(sync: Any) -> Target | None:
    """The Target for ``sync.target`` (None for ``"none"``); ConfigError naming the valid keys otherwise."""
    kind = getattr(sync, "target", "none")
    if kind == "none":
        return None
    if kind == "dicomweb":
        from device.sync.dicomweb import DicomWebClient, config_from_settings
        return DicomWebClient(config_from_settings(sync))
    if kind == "cstore":
        from device.sync.cstore import CStoreConfig, CStoreTarget
        return CStoreTarget(CStoreConfig(host=sync.cstore_host, port=int(sync.cstore_port),
                                         called_ae=sync.cstore_ae_title, calling_ae=sync.calling_ae_title,
                                         ca_bundle=sync.ca_bundle if sync.verify_tls else ""))
    raise ConfigError(f"sync.target '{kind}' is unknown; use one of {', '.join(TARGETS)}")


def worker_from_settings(outbox: Outbox, sync: Any) -> SyncWorker | None:
    """A SyncWorker on ``outbox`` for the configured target and backoff; None when sync is off."""
    target = target_from_settings(sync)
    if target is None:
        return None
    return SyncWorker(outbox, target, backoff=Backoff(initial_s=float(sync.retry_initial_s),
                                                      max_s=float(sync.retry_max_s)))
