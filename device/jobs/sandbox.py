"""Run one job's handler in a child process with a wall-time and a memory cap (issue 13: one upload must not stop
the cart).

The worker forks a child per job (:func:`run_capped`). The child caps its address space (RLIMIT_AS) at what it
inherited plus ``memory_mb``, dies with the worker (PR_SET_PDEATHSIG), opens its own store connection (an inherited
SQLite connection must not be used across fork) and runs the handler; it sends back the result or the error. The
worker waits at most ``time_s``; a child still running then is killed. A child over its memory cap gets a
MemoryError (numpy, Python) or is stopped by the system; either way the job is failed with a one-line reason and the
worker, whose own memory never grew, goes on with the next job.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing as mp
import resource
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from device.errors import UserError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobLimits:
    time_s: float
    memory_mb: int

    @classmethod
    def for_kind(cls, settings: Any, kind: str) -> "JobLimits | None":
        """The caps of ``kind`` from settings ([jobs]); None when jobs run uncapped in the worker (isolate off)."""
        cfg = getattr(settings, "jobs", None)
        if cfg is None or not cfg.isolate:
            return None
        return cls(float(cfg.time_limit_s_by_kind.get(kind, cfg.time_limit_s)), int(cfg.memory_limit_mb))


def time_message(kind: str, limit_s: float) -> str:
    return (f"the job took longer than its time limit ({limit_s:g} s) and was stopped; the input may be too large "
            f"or damaged: check it and start the job again (the limit of {kind} is [jobs] in the config)")


def died_message(kind: str, code: int | None, limit_mb: int) -> str:
    how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
    return (f"the job's process stopped unexpectedly ({how}), possibly over its memory limit ({limit_mb} MB); "
            f"check the input and start the job again; if it happens again, report it ({kind})")


def memory_message(kind: str, limit_mb: int) -> str:
    return (f"the job needed more memory than its limit ({limit_mb} MB) and was stopped; the input may be too large "
            f"or damaged: check it and start the job again (the limit of {kind} is [jobs] in the config)")


def _vm_size_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return int(line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        pass
    return 0.0


def _die_with_parent() -> None:
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)   # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _child(send: Any, handler: Any, job: Any, db_path: Path, settings: Any, memory_mb: int) -> None:
    from device.jobs import JobRun
    from device.store import Store

    _die_with_parent()
    cap = int((_vm_size_mb() + memory_mb) * 2 ** 20)
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    msg: tuple
    try:
        store = Store.open(db_path.parent, run_migrations=False)
    except MemoryError:
        send.send(("memory",))
        return
    try:
        run = JobRun(store.conn, job.id, job.exam_id, store=store, settings=settings)
        try:
            result = handler(dict(job.payload), run)
            msg = ("done", result if isinstance(result, dict) else {"value": result})
        except MemoryError:
            msg = ("memory",)
        except UserError as exc:
            msg = ("user", str(exc), getattr(exc, "step", None))
        except Exception as exc:  # noqa: BLE001 - reported to the worker as an internal error, logged here
            log.exception("job %s (%s) failed", job.id, job.kind)
            msg = ("bug", type(exc).__name__)
        try:
            send.send(msg)
        except MemoryError:
            send.send(("memory",))
    finally:
        store.close()
        send.close()


def run_capped(handler: Any, job: Any, *, db_path: Path, settings: Any, limits: JobLimits) -> tuple:
    """Run ``handler`` for ``job`` in a child process under ``limits``. Returns ("done", result), ("user", message,
    step), ("bug", exception name), ("memory",), ("timeout",) or ("died", exit code)."""
    ctx = mp.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    p = ctx.Process(target=_child, args=(send, handler, job, Path(db_path), settings, limits.memory_mb),
                    name=f"job-{job.id}", daemon=True)
    p.start()
    send.close()
    deadline = time.monotonic() + limits.time_s
    msg: tuple | None = None
    try:
        while msg is None:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            if recv.poll(min(left, 0.5)):
                try:
                    msg = recv.recv()
                except (EOFError, OSError):   # the child ended without a word (killed, out of memory in C code)
                    break
            elif not p.is_alive() and not recv.poll(0):
                break
    finally:
        recv.close()
    if msg is None and p.is_alive():
        p.kill()
        p.join(10)
        return ("timeout",)
    p.join(10)
    if msg is None:
        return ("died", p.exitcode)
    return msg
