"""Durable file writes: temp file + fsync + rename, so a power cut never leaves a half-written file in place."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path | str, data: bytes, mode: int = 0o640, durable: bool = True) -> Path:
    """Write ``data`` to ``path`` so that readers see either the old file or the complete new one.

    ``durable=False`` skips the fsyncs: for run-time state rewritten many times a second (the live frame for the UI,
    heartbeats), which may be lost in a power cut and must not wear out an SD card."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    if durable:
        fsync_dir(path.parent)
    return path


def remove_stale_parts(root: Path | str, older_than_s: float = 3600.0) -> int:
    """Delete the temp files (``.NAME.*.part``) that writes killed mid-way left under ``root``; returns how many.

    Only files untouched for ``older_than_s`` go, so a write still in progress in another process is never hit."""
    import time
    cutoff, removed = time.time() - older_than_s, 0
    for p in Path(root).rglob(".*.part"):
        try:
            if p.is_file() and p.stat().st_mtime < cutoff:
                p.unlink()
                removed += 1
        except OSError:
            continue
    return removed


def atomic_write_text(path: Path | str, text: str, mode: int = 0o640) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"), mode)
