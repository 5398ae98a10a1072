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


def atomic_write_text(path: Path | str, text: str, mode: int = 0o640) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"), mode)
