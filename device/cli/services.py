"""The long-running roles: ``run`` (all of them, supervised), ``core``, ``webui``, ``sync``, ``worker``."""

from __future__ import annotations

import argparse

from device.cli.common import settings_from


def register(sub: argparse._SubParsersAction) -> None:
    sub.add_parser("run", help="start core, web UI, sync and the job worker (what `make run` does)").set_defaults(func=cmd_run)
    sub.add_parser("core", help="capture and analysis service (live echo loop)").set_defaults(func=cmd_core)
    sub.add_parser("webui", help="the touchscreen web UI (waitress)").set_defaults(func=cmd_webui)
    sub.add_parser("sync", help="outbox worker: sends exams to the configured PACS").set_defaults(func=cmd_sync)
    sub.add_parser("worker", help="job worker: ECG reads, clip measurements and other queued heavy work"
                   ).set_defaults(func=cmd_worker)


def cmd_run(args: argparse.Namespace) -> int:
    from device.services.supervisor import run_all
    return run_all(settings_from(args), getattr(args, "config", None))


def cmd_core(args: argparse.Namespace) -> int:
    from device.services.core import run_core
    return run_core(settings_from(args))


def cmd_webui(args: argparse.Namespace) -> int:
    from device.services.webui_server import serve
    return serve(settings_from(args))


def cmd_sync(args: argparse.Namespace) -> int:
    from device.services.sync_service import run_sync
    return run_sync(settings_from(args))


def cmd_worker(args: argparse.Namespace) -> int:
    from device.jobs.worker import run_worker
    return run_worker(settings_from(args))
