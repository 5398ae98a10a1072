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
        ctx = tls_context(settings.web.tls_cert, settings.web.tls_key)
        app = create_app(settings)
        url = f"{'https' if ctx else 'http'}://{settings.web.host}:{settings.web.port}"
        print(f"CardioCart UI on {url}", flush=True)
        if ctx is not None:
            # waitress has no TLS; werkzeug's threaded server wraps each connection in the site certificate
            from werkzeug.serving import make_server

            make_server(settings.web.host, settings.web.port, app, threaded=True, ssl_context=ctx).serve_forever()
            return 0
        waitress_serve(app, host=settings.web.host, port=settings.web.port, threads=32, channel_timeout=30,
                       ident="CardioCart", clear_untrusted_proxy_headers=True)
    return 0


def tls_context(cert: str, key: str):  # noqa: ANN201 - ssl.SSLContext | None
    """The server TLS context of the site certificate and key (TLS 1.2 or newer), None when neither is set."""
    import ssl

    from device.errors import ConfigError

    if not cert and not key:
        return None
    if not (cert and key):
        raise ConfigError("[web] tls_cert and tls_key go together: give both (PEM files) or neither")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"[web] tls_cert/tls_key cannot be loaded ({type(exc).__name__}: "
                          f"{getattr(exc, 'strerror', None) or exc}); give the site certificate and its key as PEM "
                          "files readable by the cart's user") from None
    return ctx
