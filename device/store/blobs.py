"""Content-addressed blob files: ``blobs/ab/abcdef...`` named by the sha256 of their bytes, written atomically."""

from __future__ import annotations

import errno
import hashlib
import sqlite3
from pathlib import Path

from device.errors import UserError
from device.fsutil import atomic_write_bytes


class BlobStore:
    def __init__(self, root: Path):
        self.root = Path(root)

    def path_for(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError(f"not a sha256 digest: {sha256!r}")
        return self.root / sha256[:2] / sha256

    def put(self, data: bytes) -> str:
        """Store bytes durably (fsync + rename) and return their sha256. Idempotent."""
        digest = hashlib.sha256(data).hexdigest()
        path = self.path_for(digest)
        if path.is_file() and path.stat().st_size == len(data):
            return digest
        try:
            atomic_write_bytes(path, data, mode=0o640)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise UserError("the disk is full: nothing was saved; free space (export and delete old exams) "
                                "and try again") from exc
            raise UserError(f"cannot write to {self.root} ({exc.strerror}); check the data directory") from exc
        return digest

    def get(self, sha256: str) -> bytes:
        data = self.path_for(sha256).read_bytes()
        if hashlib.sha256(data).hexdigest() != sha256:
            raise UserError(f"stored file {sha256[:12]}... is damaged (its content no longer matches its name); "
                            "restore it from an export or backup")
        return data

    def verify(self, sha256: str) -> bool:
        try:
            self.get(sha256)
            return True
        except (OSError, UserError):
            return False


def put_blob(conn: sqlite3.Connection, store: BlobStore, data: bytes, media_type: str) -> str:
    """Write the file first, then its row (inside the caller's transaction): a row always has a complete file."""
    digest = store.put(data)
    conn.execute("INSERT OR IGNORE INTO blobs(sha256, size_bytes, media_type) VALUES (?, ?, ?)",
                 (digest, len(data), media_type))
    return digest
