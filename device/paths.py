"""Where things live: the repository, the bundled models, and the optional real data beside the checkout."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
MODELS_DIR = Path(os.environ.get("CARDIOCART_MODELS", REPO_ROOT / "models"))


def shared_data_dir() -> Path | None:
    """The public data folder (``../shared/data`` beside the checkout, or ``$CARDIOCART_SHARED_DATA``).

    Returns None when absent: a user's box does not have it; tests that need it skip.
    """
    env = os.environ.get("CARDIOCART_SHARED_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(REPO_ROOT.parent / "shared" / "data")
    for c in candidates:
        if c.is_dir():
            return c
    return None
