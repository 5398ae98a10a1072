"""The audit log: who viewed, edited, signed and exported what. Append-only (enforced by triggers)."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

ACTIONS = ("login", "login_failed", "logout", "view", "create", "edit", "sign", "export", "delete", "admin", "sync")


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: str
    username: str
    action: str
    object_type: str
    object_id: str
    detail: dict[str, Any]


def record(conn: sqlite3.Connection, *, user_id: int | None, username: str, action: str, object_type: str,
           object_id: str | int = "", detail: dict[str, Any] | None = None) -> None:
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    conn.execute("INSERT INTO audit_log(user_id, username, action, object_type, object_id, detail) VALUES (?,?,?,?,?,?)",
                 (user_id, username, action, object_type, str(object_id), json.dumps(detail or {}, ensure_ascii=False)))


def recent(conn: sqlite3.Connection, limit: int = 200, object_type: str | None = None,
           object_id: str | None = None) -> list[AuditEntry]:
    q = "SELECT * FROM audit_log"
    args: list[str | int] = []
    cond = []
    if object_type:
        cond.append("object_type = ?")
        args.append(object_type)
    if object_id is not None:
        cond.append("object_id = ?")
        args.append(str(object_id))
    if cond:
        q += " WHERE " + " AND ".join(cond)
    q += " ORDER BY id DESC LIMIT ?"
    args.append(limit)
    return [AuditEntry(r["id"], r["at"], r["username"], r["action"], r["object_type"], r["object_id"],
                       json.loads(r["detail"])) for r in conn.execute(q, args)]
