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
    """A PIN is 6 to 12 ASCII digits and not easy to guess: not one digit repeated (111111), not a repeated block
    (123123, 121212), not a run up or down (123456, 654321, 901234), not a date (DDMMYY, YYMMDD, MMDDYY, DDMMYYYY,
    YYYYMMDD: a birthday)."""
    if not (pin.isascii() and pin.isdigit()) or not 6 <= len(pin) <= 12:
        raise UserError("a PIN must be 6 to 12 digits (0-9)")
    why = pin_weakness(pin)
    if why:
        raise UserError(f"this PIN is too easy to guess ({why}); choose another")


def pin_weakness(pin: str) -> str:
    """Why ``pin`` (ASCII digits) is easy to guess, or "" when it is not."""
    digits = [int(c) for c in pin]
    n = len(pin)
    if len(set(digits)) == 1:
        return "one digit repeated"
    for k in range(1, n // 2 + 1):
        if n % k == 0 and pin == pin[:k] * (n // k):
            return "a repeated block of digits"
    steps = {(b - a) % 10 for a, b in zip(digits, digits[1:])}
    if steps in ({1}, {9}):
        return "consecutive digits"
    if _looks_like_date(pin):
        return "it reads as a date, e.g. a birthday"
    return ""


def _looks_like_date(pin: str) -> bool:
    def ok(d: int, m: int) -> bool:
        return 1 <= d <= 31 and 1 <= m <= 12

    if len(pin) == 6:
        a, b, c = int(pin[:2]), int(pin[2:4]), int(pin[4:])
        return ok(a, b) or ok(c, b) or ok(b, a)      # DDMMYY, YYMMDD, MMDDYY
    if len(pin) == 8:
        y1, y2 = int(pin[4:]), int(pin[:4])
        return (ok(int(pin[:2]), int(pin[2:4])) and 1900 <= y1 <= 2099) or \
            (ok(int(pin[6:]), int(pin[4:6])) and 1900 <= y2 <= 2099) or \
            (ok(int(pin[2:4]), int(pin[:2])) and 1900 <= y1 <= 2099)   # DDMMYYYY, YYYYMMDD, MMDDYYYY
    return False


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


def create_user(conn: sqlite3.Connection, username: str, display_name: str, role: str, pin: str,
                created_by: int | None = None) -> User:
    """A new account. A physician created by an administrator (``created_by``) starts inactive: another
    administrator must activate it (``may_activate``), so no one person can create a physician and sign as one."""
    username = username.strip()
    if not username or len(username) > 64 or not all(c.isalnum() or c in "._-" for c in username):
        raise UserError("a username is 1-64 letters, digits, dots, dashes or underscores")
    if role not in ROLES:
        raise UserError(f"role '{role}' is not valid; choose one of: {', '.join(ROLES)}")
    validate_pin(pin)
    try:
        cur = conn.execute("INSERT INTO users(username, display_name, role, pin_hash, created_by, active) "
                           "VALUES (?, ?, ?, ?, ?, ?)",
                           (username, display_name.strip() or username, role, hash_pin(pin), created_by,
                            0 if role == "physician" and created_by is not None else 1))
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


def may_activate(conn: sqlite3.Connection, user_id: int, admin_id: int) -> str:
    """"" when administrator ``admin_id`` may activate account ``user_id``, else why not (the physician
    accounts an administrator created need a second administrator)."""
    r = conn.execute("SELECT role, created_by FROM users WHERE id = ?", (user_id,)).fetchone()
    if r is not None and r["role"] == "physician" and r["created_by"] == admin_id:
        return ("you created this physician account; another administrator must activate it (one person may not "
                "create a physician and sign reports as one)")
    return ""


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


ADDR_WINDOW_S = 15 * 60     # failures from one address counted over this window
ADDR_LIMIT = 20             # ... and this many block the address for the rest of the window
BACKOFF_BASE_S = 30.0       # per (name, address): after max_attempts failures, 30 s, then 60, 120 ... up to lockout_s
NAME_LIMIT = 10             # failures of one name from all addresses per ADDR_WINDOW_S before the name is locked for
                            # every address except those the user has signed in from before (their workstations)


def authenticate(conn: sqlite3.Connection, username: str, pin: str, *, max_attempts: int, lockout_s: float,
                 now: float | None = None, remote_addr: str = "") -> LoginResult:
    """Check a PIN with a lock-out that reveals no user names and cannot keep a user locked out for long.

    Failures are counted per (typed name, address) over the last ``lockout_s`` (an unknown name exactly like a real
    one): after ``max_attempts`` the pair waits 30 s, doubling per further failure up to ``lockout_s``; someone
    guessing from another address does not lock the user out of their own workstation. One address gets at most
    ADDR_LIMIT failures per ADDR_WINDOW_S over all names; one name NAME_LIMIT over all addresses, after which only
    addresses the user signed in from before may try (a guesser on many addresses gets NAME_LIMIT PIN checks).
    A deactivated account answers like a wrong PIN."""
    now = time.time() if now is None else now
    name = username.strip()
    horizon = now - max(lockout_s, ADDR_WINDOW_S)
    conn.execute("DELETE FROM login_failures WHERE at < ?", (horizon,))
    addr_fails = [r[0] for r in conn.execute("SELECT at FROM login_failures WHERE remote_addr = ? AND at >= ? "
                                             "ORDER BY at", (remote_addr, now - ADDR_WINDOW_S))]
    if len(addr_fails) >= ADDR_LIMIT:
        return LoginResult(None, "locked", locked_for_s=addr_fails[-ADDR_LIMIT] + ADDR_WINDOW_S - now)
    name_fails = [r[0] for r in conn.execute("SELECT at FROM login_failures WHERE username = ? AND at >= ? ORDER BY at",
                                             (name, now - ADDR_WINDOW_S))]
    if len(name_fails) >= NAME_LIMIT and not _known_address(conn, name, remote_addr):
        return LoginResult(None, "locked", locked_for_s=name_fails[-NAME_LIMIT] + ADDR_WINDOW_S - now)
    fails = [r[0] for r in conn.execute("SELECT at FROM login_failures WHERE username = ? AND remote_addr = ? AND "
                                        "at >= ? ORDER BY at", (name, remote_addr, now - lockout_s))]
    if len(fails) >= max_attempts:
        wait = min(lockout_s, BACKOFF_BASE_S * 2 ** (len(fails) - max_attempts))
        if fails[-1] + wait > now:
            return LoginResult(None, "locked", locked_for_s=fails[-1] + wait - now)
    r = conn.execute("SELECT * FROM users WHERE username = ?", (name,)).fetchone()
    ok = _check_pin(pin, r["pin_hash"]) if r is not None else (hash_pin(pin) and False)  # same work either way
    if ok and r["active"]:
        conn.execute("DELETE FROM login_failures WHERE username = ? AND remote_addr = ?", (name, remote_addr))
        conn.execute("UPDATE users SET failed_attempts = 0, locked_until = 0 WHERE id = ?", (r["id"],))
        return LoginResult(_row(r))
    conn.execute("INSERT INTO login_failures(username, remote_addr, at) VALUES (?, ?, ?)", (name, remote_addr, now))
    n = len(fails) + 1
    if n >= max_attempts:
        return LoginResult(None, "locked", locked_for_s=min(lockout_s, BACKOFF_BASE_S * 2 ** (n - max_attempts)))
    return LoginResult(None, "wrong_pin", attempts_left=max_attempts - n)


def _known_address(conn: sqlite3.Connection, name: str, remote_addr: str) -> bool:
    """True when the user ``name`` has signed in from ``remote_addr`` before (a session was opened there)."""
    return conn.execute("SELECT 1 FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.username = ? AND "
                        "s.remote_addr = ? LIMIT 1", (name, remote_addr)).fetchone() is not None


def unlock(conn: sqlite3.Connection, user_id: int) -> int:
    """Admin unlock: forget the failed sign-ins of this user's name (every address). Returns how many."""
    u = get_user(conn, user_id)
    cur = conn.execute("DELETE FROM login_failures WHERE username = ?", (u.username,))
    conn.execute("UPDATE users SET failed_attempts = 0, locked_until = 0 WHERE id = ?", (user_id,))
    return cur.rowcount


# ---------------------------------------------------------------- server-side sessions

def create_session(conn: sqlite3.Connection, sid: str, user_id: int, now: float, remote_addr: str = "") -> None:
    conn.execute("INSERT INTO sessions(sid, user_id, created_at, last_action_at, remote_addr) VALUES (?,?,?,?,?)",
                 (sid, user_id, now, now, remote_addr[:64]))


def get_session(conn: sqlite3.Connection, sid: str) -> sqlite3.Row | None:
    """The session row (user_id, last_action_at, ended_at...) or None."""
    return conn.execute("SELECT * FROM sessions WHERE sid = ?", (sid,)).fetchone()


def end_session(conn: sqlite3.Connection, sid: str, now: float) -> None:
    conn.execute("UPDATE sessions SET ended_at = ? WHERE sid = ? AND ended_at IS NULL", (now, sid))


def end_user_sessions(conn: sqlite3.Connection, user_id: int, now: float) -> None:
    """End every open session of a user (deactivated, PIN changed)."""
    conn.execute("UPDATE sessions SET ended_at = ? WHERE user_id = ? AND ended_at IS NULL", (now, user_id))
