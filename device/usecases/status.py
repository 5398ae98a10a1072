"""The box's status, the use case behind ``/api/metrics``: per-model latency of the core (which writes
``run/metrics.json``) and of the calling process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from device.inference import latency_summary


def model_metrics(run_dir: Path) -> dict[str, Any]:
    """``{"core": <run/metrics.json or a note>, "webui": {"models": [...]}}`` (the latency rows of each loaded model:
    model, version, variant, runner, provider, count, p50_ms, p99_ms)."""
    try:
        core = json.loads((Path(run_dir) / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        core = {"models": [], "note": "core service not running or not yet reporting"}
    return {"core": core, "webui": {"models": latency_summary()}}
