"""The cart's active echo view model: the shipped one, or a site-trained one promoted by site learning.

Layout under the data directory (never inside the repository)::

    <data_dir>/site_models/<model_id>/echo_view/   manifest.json + backbone files + view_head.npz (never modified)
    <data_dir>/site_models/active.json            {"active": <model_id> | null, "previous": <model_id> | null}

``active: null`` (or no file) means the shipped model under ``models/echo_view``. Promotion copies the new model
directory in (to a temporary name, then a rename) and rewrites ``active.json`` atomically with the old active model
as ``previous``; rollback swaps the two. Model files are never rewritten, so a rollback restores the previous model
byte for byte. The live loop and ``echo view`` load ``active_models_dir(data_dir)`` (a ``models_dir`` holding
``echo_view/``) when it is set.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from device.errors import UserError
from device.fsutil import atomic_write_bytes

NAME = "echo_view"
ROOT = "site_models"
POINTER = "active.json"


@dataclass(frozen=True)
class Active:
    active: str | None      # None = the shipped model
    previous: str | None    # what a rollback returns to (None = the shipped model)
    can_rollback: bool


def _root(data_dir: Path) -> Path:
    return Path(data_dir) / ROOT


def read_pointer(data_dir: Path) -> Active:
    p = _root(data_dir) / POINTER
    if not p.is_file():
        return Active(None, None, False)
    try:
        d = json.loads(p.read_text(encoding="utf-8"))
        act, prev = d.get("active"), d.get("previous")
    except (OSError, ValueError, AttributeError) as exc:
        raise UserError(f"{p} cannot be read ({exc}); delete it to use the shipped view model") from exc
    return Active(act, prev, bool(d.get("can_rollback", act is not None or prev is not None)))


def _write_pointer(data_dir: Path, active: str | None, previous: str | None) -> None:
    body = {"active": active, "previous": previous, "can_rollback": True,
            "changed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    atomic_write_bytes(_root(data_dir) / POINTER, (json.dumps(body, indent=1) + "\n").encode(), mode=0o644)


def model_dir_of(data_dir: Path, model_id: str | None, shipped: Path) -> Path:
    """The directory holding manifest.json of a site model id (None -> the shipped model directory)."""
    return Path(shipped) / NAME if model_id is None else _root(data_dir) / model_id / NAME


def active_models_dir(data_dir: Path) -> Path | None:
    """A ``models_dir`` for ``load_model("echo_view", models_dir=...)`` when a site model is active, else None."""
    a = read_pointer(data_dir)
    if a.active is None:
        return None
    d = _root(data_dir) / a.active
    if not (d / NAME / "manifest.json").is_file():
        raise UserError(f"the active site view model {d / NAME} is missing; run 'python -m device echo rollback' or "
                        f"delete {_root(data_dir) / POINTER} to use the shipped model")
    return d


def active_model_dir(data_dir: Path, shipped_models_dir: Path) -> Path:
    """The directory (with manifest.json) of the model the cart uses now."""
    d = active_models_dir(data_dir)
    return d / NAME if d is not None else Path(shipped_models_dir) / NAME


def promote(data_dir: Path, model_dir: Path) -> str:
    """Copy a model directory in as a new site model and make it active; the old active model becomes `previous`."""
    model_dir = Path(model_dir)
    if not (model_dir / "manifest.json").is_file():
        raise UserError(f"{model_dir} has no manifest.json; give a directory written by 'echo learn'")
    root = _root(data_dir)
    root.mkdir(parents=True, exist_ok=True)
    model_id = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    n = 0
    while (root / model_id).exists():
        n += 1
        model_id = f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{n}"
    for stale in root.glob(".*.part"):      # a copy a killed promotion left behind (never pointed at)
        if stale.is_dir() and time.time() - stale.stat().st_mtime > 3600:
            shutil.rmtree(stale, ignore_errors=True)
    tmp = root / f".{model_id}.part"
    shutil.copytree(model_dir, tmp / NAME)
    for f in (tmp / NAME).rglob("*"):      # durable before the pointer names it (the loader verifies hashes too)
        if f.is_file():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
    tmp.rename(root / model_id)
    _write_pointer(data_dir, model_id, read_pointer(data_dir).active)
    return model_id


def rollback(data_dir: Path) -> Active:
    """Swap the active and the previous model (a second rollback undoes the first)."""
    a = read_pointer(data_dir)
    if not a.can_rollback:
        raise UserError("there is no previous view model to roll back to; the shipped model is active")
    if a.previous is not None and not (_root(data_dir) / a.previous / NAME / "manifest.json").is_file():
        raise UserError(f"the previous site view model {a.previous} is missing; nothing was changed")
    _write_pointer(data_dir, a.previous, a.active)
    return read_pointer(data_dir)
