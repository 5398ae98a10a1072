"""Users, PINs and lock-out. PINs are stored as scrypt hashes with a per-user salt."""

from __future__ import annotations

import hashlib
import hmac
import os
import sqlite3
import time
from dataclasses import dataclass

from device.errors import UserError
from device.store.db import inserted_id

ROLES = ("sonographer", "physician", "admin")


@dataclass(frozen=True)
class User:
    id: int
    username: str
    display_name: str
    role: str
    active: bool
    language: str


def _row(r: sqlite3.Row) -> User:
    return User(r["id"], r["username"], r["display_name"], r["role"], bool(r["active"]), r["language"])


def validate_pin(pin: str) -> None:
    """A PIN is 6 to 12 digits, not all one digit and not a plain run (123456, 654321)."""
    if not pin.isdigit() or not 6 <= len(pin) <= 12:
        raise UserError("a PIN must be 6 to 12 digits")
    digits = [int(c) for c in pin]
    steps = {b - a for a, b in zip(digits, digits[1:])}
    if len(set(digits)) == 1 or steps in ({1}, {-1}):
        raise UserError("this PIN is too easy to guess (repeated or consecutive digits); choose another")


def hash_pin(pin: str, salt: bytes | None = None) -> str:
    salt = salt or os.urandom(16)
    dk = hashlib.scrypt(pin.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    return f"scrypt$16384$8$1${salt.hex()}${dk.hex()}"


def _check_pin(pin: str, stored: str) -> bool:
    try:
        _, n, r, p, salt, dk = stored.split("$")
        got = hashlib.scrypt(pin.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=len(dk) // 2)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got.hex(), dk)


def count_users(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT count(*) FROM users").fetchone()[0])


def create_user(conn: sqlite3.Connection, username: str, display_name: str, role: str, pin: str) -> User:
    username = username.strip()
    if not username or len(username) > 64 or not all(c.isalnum() or c in "._-" for c in username):
        raise UserError("a username is 1-64 letters, digits, dots, dashes or underscores")
    if role not in ROLES:
        raise UserError(f"role '{role}' is not valid; choose one of: {', '.join(ROLES)}")
    validate_pin(pin)
    try:
        cur = conn.execute("INSERT INTO users(username, display_name, role, pin_hash) VALUES (?, ?, ?, ?)",
                           (username, display_name.strip() or username, role, hash_pin(pin)))
    except sqlite3.IntegrityError as exc:
        raise UserError(f"user '{username}' already exists; choose another name") from exc
    return get_user(conn, inserted_id(cur))


def get_user(conn: sqlite3.Connection, user_id: int) -> User:
    r = conn.execute("SELECT * FROM users WHERE id = ?", (user_id,)).fetchone()
    if r is None:
        raise UserError(f"no user with id {user_id}")
    return _row(r)


def list_users(conn: sqlite3.Connection) -> list[User]:
    return [_row(r) for r in conn.execute("SELECT * FROM users ORDER BY username")]


def set_active(conn: sqlite3.Connection, user_id: int, active: bool) -> None:
    conn.execute("UPDATE users SET active = ? WHERE id = ?", (int(active), user_id))


def set_pin(conn: sqlite3.Connection, user_id: int, pin: str) -> None:
    validate_pin(pin)
    conn.execute("UPDATE users SET pin_hash = ?, failed_attempts = 0, locked_until = 0 WHERE id = ?",
                 (hash_pin(pin), user_id))


def set_language(conn: sqlite3.Connection, user_id: int, language: str) -> None:
    conn.execute("UPDATE users SET language = ? WHERE id = ?", (language, user_id))


@dataclass(frozen=True)
class LoginResult:
    user: User | None
    reason: str = ""          # "", "unknown", "wrong_pin", "locked", "inactive"
    locked_for_s: float = 0.0
    attempts_left: int = 0


def authenticate(conn: sqlite3.Connection, username: str, pin: str, *, max_attempts: int, lockout_s: float,
                 now: float | None = None) -> LoginResult:
    """Check a PIN; count failures and lock the account for ``lockout_s`` after ``max_attempts`` in a row."""
    now = time.time() if now is None else now
    r = conn.execute("SELECT * FROM users WHERE username = ?", (username.strip(),)).fetchone()
    if r is None:
        hash_pin(pin)  # same work as a real check, so timing does not reveal which names exist
        return LoginResult(None, "unknown")
    if not r["active"]:
        return LoginResult(None, "inactive")
    if r["locked_until"] > now:
        return LoginResult(None, "locked", locked_for_s=r["locked_until"] - now)
    if _check_pin(pin, r["pin_hash"]):
        conn.execute("UPDATE users SET failed_attempts = 0, locked_until = 0 WHERE id = ?", (r["id"],))
        return LoginResult(_row(r))
    failed = r["failed_attempts"] + 1
    if failed >= max_attempts:
        conn.execute("UPDATE users SET failed_attempts = 0, locked_until = ? WHERE id = ?", (now + lockout_s, r["id"]))
        return LoginResult(None, "locked", locked_for_s=lockout_s)
    conn.execute("UPDATE users SET failed_attempts = ? WHERE id = ?", (failed, r["id"]))
    return LoginResult(None, "wrong_pin", attempts_left=max_attempts - failed)
