"""The web UI role: waitress serving the Flask app."""

from __future__ import annotations

import logging

from device.config import Settings
from device.services.runtime import InstanceLock, check_port_free

log = logging.getLogger(__name__)


def return_large_buffers_to_the_os() -> bool:
    """Fix glibc's mmap threshold at 1 MB. By default it rises to the size of the largest buffer freed, after which
    such buffers (a login's 16 MB scrypt work area, a clip decoded for a report page) stay in the per-thread arenas of
    the 32 request threads: under ten users the UI grew from ~110 MB to ~600 MB. False when not on glibc."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(-3, 1 << 20))  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to tune
        return False


def serve(settings: Settings) -> int:
    from waitress import serve as waitress_serve

    from webui import create_app

    return_large_buffers_to_the_os()

    with InstanceLock(settings.run_dir, "webui"):
        check_port_free(settings.web.host, settings.web.port)
        app = create_app(settings)
        url = f"http://{settings.web.host}:{settings.web.port}"
        print(f"CardioCart UI on {url}", flush=True)
        waitress_serve(app, host=settings.web.host, port=settings.web.port, threads=32, channel_timeout=30,
                       ident="CardioCart", clear_untrusted_proxy_headers=True)
    return 0
