"""``migrate`` and ``users``: database schema and accounts from the command line."""

from __future__ import annotations

import argparse
import getpass
import os
import sys

from device.cli.common import settings_from
from device.errors import UserError
from device.store import Store, audit, users
from device.store.db import Tx, migrate


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("migrate", help="create or upgrade the database (numbered migrations, backup first)")
    p.set_defaults(func=cmd_migrate)
    u = sub.add_parser("users", help="manage user accounts (PIN, role)")
    us = u.add_subparsers(dest="users_cmd", metavar="ACTION", required=True)
    a = us.add_parser("add", help="add a user; the PIN is asked for (or read from $CARDIOCART_PIN)")
    a.add_argument("username")
    a.add_argument("--role", required=True, choices=users.ROLES)
    a.add_argument("--name", default="", help="full name shown in the UI and on reports")
    a.set_defaults(func=cmd_add)
    ls = us.add_parser("list", help="list users")
    ls.set_defaults(func=cmd_list)
    pw = us.add_parser("set-pin", help="set a new PIN (also clears a lock-out)")
    pw.add_argument("username")
    pw.set_defaults(func=cmd_set_pin)
    de = us.add_parser("deactivate", help="stop a user from signing in (history is kept)")
    de.add_argument("username")
    de.set_defaults(func=cmd_deactivate)


def cmd_migrate(args: argparse.Namespace) -> int:
    s = settings_from(args)
    applied = migrate(s.db_path)
    print(f"database {s.db_path}: " + (f"applied migrations {applied}" if applied else "up to date"))
    return 0


def _read_pin() -> str:
    pin = os.environ.get("CARDIOCART_PIN")
    if pin is not None:
        return pin
    if not sys.stdin.isatty():
        return sys.stdin.readline().strip()
    pin = getpass.getpass("PIN (6-12 digits): ")
    if getpass.getpass("PIN again: ") != pin:
        raise UserError("the two PINs differ; run the command again")
    return pin


def _find(store: Store, username: str) -> users.User:
    for u in users.list_users(store.conn):
        if u.username.lower() == username.lower():
            return u
    raise UserError(f"no user '{username}'; see 'python -m device users list'")


def cmd_add(args: argparse.Namespace) -> int:
    store = Store.open(settings_from(args).data_dir)
    pin = _read_pin()
    with Tx(store.conn):
        u = users.create_user(store.conn, args.username, args.name, args.role, pin)
        audit.record(store.conn, user_id=None, username=f"cli:{getpass.getuser()}", action="admin", object_type="user",
                     object_id=u.id, detail={"event": "created", "role": u.role})
    print(f"user '{u.username}' ({u.role}) created")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    store = Store.open(settings_from(args).data_dir)
    for u in users.list_users(store.conn):
        print(f"{u.username:20s} {u.role:12s} {'active' if u.active else 'inactive':9s} {u.display_name}")
    return 0


def cmd_set_pin(args: argparse.Namespace) -> int:
    store = Store.open(settings_from(args).data_dir)
    u = _find(store, args.username)
    pin = _read_pin()
    with Tx(store.conn):
        users.set_pin(store.conn, u.id, pin)
        audit.record(store.conn, user_id=None, username=f"cli:{getpass.getuser()}", action="admin", object_type="user",
                     object_id=u.id, detail={"event": "pin reset"})
    print(f"PIN of '{u.username}' changed")
    return 0


def cmd_deactivate(args: argparse.Namespace) -> int:
    store = Store.open(settings_from(args).data_dir)
    u = _find(store, args.username)
    with Tx(store.conn):
        users.set_active(store.conn, u.id, False)
        audit.record(store.conn, user_id=None, username=f"cli:{getpass.getuser()}", action="admin", object_type="user",
                     object_id=u.id, detail={"event": "deactivated"})
    print(f"user '{u.username}' deactivated")
    return 0
