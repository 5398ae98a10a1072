"""The registry of frame sources: one name per backend, an unknown name lists the valid ones.

``make_source(name, **options)`` imports the backend lazily, so a backend whose library is missing (picamera2 off a
Raspberry Pi) is reported when asked for and never stops the others.
"""

from __future__ import annotations

import importlib
from typing import Any

from device.errors import ConfigError

SOURCES: dict[str, str] = {
    "sim": "device.drivers.sim_probe:SimProbeSource",
    "opencv": "device.drivers.opencv_capture:OpenCvCapture",
    "picamera2": "device.drivers.picamera:Picamera2Source",
    "dicom": "device.drivers.dicom_cine:DicomCineSource",
    "video": "device.drivers.video_file:VideoFileSource",
}


def source_names() -> list[str]:
    return sorted(SOURCES)


def make_source(name: str, **options: Any):
    """A source object for `name` built with `options` (see each backend's constructor)."""
    spec = SOURCES.get(name)
    if spec is None:
        raise ConfigError(f"unknown capture source '{name}'; valid: {', '.join(source_names())}")
    module, cls = spec.split(":")
    try:
        factory = getattr(importlib.import_module(module), cls)
    except ImportError as exc:
        raise ConfigError(f"capture source '{name}' cannot load ({exc}); choose another of: "
                          f"{', '.join(n for n in source_names() if n != name)}") from exc
    return factory(**options)


def available_sources() -> dict[str, str]:
    """Each source name -> "ok" or why it cannot load (for `doctor`)."""
    out = {}
    for name, spec in SOURCES.items():
        module, cls = spec.split(":")
        try:
            factory = getattr(importlib.import_module(module), cls)
            probe = getattr(factory, "available", None)
            out[name] = probe() if probe else "ok"
        except ImportError as exc:
            out[name] = f"unavailable: {exc}"
    return out
