"""The store: SQLite (WAL) + content-addressed blobs, reached only through repository functions."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from device.store.blobs import BlobStore
from device.store.db import connect, migrate


@dataclass
class Store:
    conn: sqlite3.Connection
    blobs: BlobStore
    db_path: Path

    @classmethod
    def open(cls, data_dir: Path, *, run_migrations: bool = True) -> "Store":
        data_dir = Path(data_dir)
        db_path = data_dir / "cardiocart.sqlite3"
        if run_migrations:
            migrate(db_path)
        return cls(connect(db_path), BlobStore(data_dir / "blobs"), db_path)

    def close(self) -> None:
        self.conn.close()
