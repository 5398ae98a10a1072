"""SQLite connection and numbered migrations. WAL mode, foreign keys on, a backup before each upgrade."""

from __future__ import annotations

import logging
import re
import sqlite3
import time
from pathlib import Path

from device.errors import UserError

log = logging.getLogger(__name__)
MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def connect(db_path: Path | str, *, readonly: bool = False, timeout_s: float = 10.0) -> sqlite3.Connection:
    """Open the database with the cart's pragmas. Rows come back as sqlite3.Row."""
    db_path = Path(db_path)
    try:
        if readonly:
            conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=timeout_s, check_same_thread=False)
        else:
            db_path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(db_path, timeout=timeout_s, check_same_thread=False, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute(f"PRAGMA busy_timeout = {int(timeout_s * 1000)}")
        if not readonly:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
    except sqlite3.OperationalError as exc:
        raise UserError(f"cannot open the database {db_path} ({exc}); check that the data directory exists and is "
                        "writable by the cart's user and that the disk is not full") from exc
    except OSError as exc:
        raise UserError(f"cannot create the data directory {db_path.parent} ({exc.strerror}); "
                        "set [paths] data_dir to a writable place or fix its owner") from exc
    return conn


class Tx:
    """``with Tx(conn):`` runs the block in one IMMEDIATE transaction (commit or roll back as a whole)."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.conn.execute("COMMIT")
        else:
            self.conn.execute("ROLLBACK")


def available_migrations() -> list[tuple[int, Path]]:
    out = []
    for p in sorted(MIGRATIONS_DIR.glob("*.sql")):
        m = _NAME.match(p.name)
        if m:
            out.append((int(m.group(1)), p))
    return out


def current_version(conn: sqlite3.Connection) -> int:
    conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
    row = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()
    return int(row[0] or 0)


def migrate(db_path: Path | str) -> list[int]:
    """Apply pending migrations in order, each in its own transaction; back up a non-empty database first."""
    db_path = Path(db_path)
    conn = connect(db_path)
    try:
        have = current_version(conn)
        done = {int(r[0]) for r in conn.execute("SELECT version FROM schema_migrations")}
        # every migration not yet applied, in order: also a lower number that landed after a higher one was applied
        # (migrations written concurrently on branches, e.g. 0002 and 0003, are independent of each other)
        pending = [(v, p) for v, p in available_migrations() if v not in done]
        if pending and have > 0:
            backup = db_path.with_name(f"{db_path.stem}.v{have}.{time.strftime('%Y%m%dT%H%M%S')}.bak")
            dst = sqlite3.connect(backup)
            conn.backup(dst)
            dst.close()
            log.info("backed up database to %s before migrating", backup)
        applied = []
        for version, path in pending:
            sql = path.read_text(encoding="utf-8")
            conn.execute("BEGIN IMMEDIATE")
            try:
                for stmt in _split_sql(sql):
                    conn.execute(stmt)
                conn.execute("INSERT INTO schema_migrations(version, applied_at) VALUES (?, strftime('%Y-%m-%dT%H:%M:%fZ','now'))",
                             (version,))
                conn.execute("COMMIT")
            except sqlite3.Error:
                conn.execute("ROLLBACK")
                raise
            applied.append(version)
        return applied
    finally:
        conn.close()


def inserted_id(cur: sqlite3.Cursor) -> int:
    """The row id an INSERT on ``cur`` made."""
    if cur.lastrowid is None:
        raise sqlite3.OperationalError("the statement inserted no row")
    return int(cur.lastrowid)


def _split_sql(sql: str) -> list[str]:
    """Split a migration into statements; CREATE TRIGGER bodies (BEGIN ... END;) stay whole."""
    stmts: list[str] = []
    buf: list[str] = []
    for line in sql.splitlines():
        if line.strip().startswith("--") and not buf:
            continue
        buf.append(line)
        joined = "\n".join(buf).strip()
        if joined.endswith(";") and sqlite3.complete_statement(joined):
            stmts.append(joined)
            buf = []
    if "\n".join(buf).strip():
        stmts.append("\n".join(buf).strip())
    return stmts


def integrity_check(conn: sqlite3.Connection) -> str:
    return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
