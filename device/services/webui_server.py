"""The web UI role: waitress serving the Flask app."""

from __future__ import annotations

import logging

from device.config import Settings
from device.services.runtime import InstanceLock, check_port_free

log = logging.getLogger(__name__)


def serve(settings: Settings) -> int:
    from waitress import serve as waitress_serve

    from webui import create_app

    with InstanceLock(settings.run_dir, "webui"):
        check_port_free(settings.web.host, settings.web.port)
        app = create_app(settings)
        url = f"http://{settings.web.host}:{settings.web.port}"
        print(f"CardioCart UI on {url}", flush=True)
        waitress_serve(app, host=settings.web.host, port=settings.web.port, threads=32, channel_timeout=30,
                       ident="CardioCart", clear_untrusted_proxy_headers=True)
    return 0
