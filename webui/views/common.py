"""Helpers shared by views: the store connection, audit and flash-by-key."""

from __future__ import annotations

import sqlite3
from typing import Any

from flask import current_app, g, session

from device.store import audit


def conn() -> sqlite3.Connection:
    return current_app.extensions["cardiocart"].conn()


def services():
    return current_app.extensions["cardiocart"]


def settings():
    return current_app.config["CARDIOCART_SETTINGS"]


def audit_log(action: str, object_type: str, object_id: str | int = "", detail: dict[str, Any] | None = None) -> None:
    user = g.get("user")
    audit.record(conn(), user_id=user.id if user else None, username=user.username if user else "anonymous",
                 action=action, object_type=object_type, object_id=object_id, detail=detail)


def flash_key(key: str, **kw: Any) -> None:
    session["flash_key"] = key
    session["flash_kw"] = kw


def pop_flash() -> tuple[str, dict[str, Any]] | None:
    key = session.pop("flash_key", None)
    kw = session.pop("flash_kw", {}) or {}
    return (key, kw) if key else None
