"""Shared CLI plumbing: settings from --config, a store, and JSON output."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from device.config import Settings, load_settings


def settings_from(args: argparse.Namespace) -> Settings:
    """The settings of ``--config`` (or the site file); every model this process loads then follows them."""
    from device.inference import configure_models
    settings = load_settings(getattr(args, "config", None))
    configure_models(settings)
    return settings


def print_json(obj: Any) -> None:
    json.dump(obj, sys.stdout, indent=2, ensure_ascii=False, default=_default)
    sys.stdout.write("\n")


def _default(o: Any) -> Any:
    import dataclasses
    from pathlib import Path

    import numpy as np

    if dataclasses.is_dataclass(o):
        return dataclasses.asdict(o)
    if isinstance(o, Path):
        return str(o)
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)
