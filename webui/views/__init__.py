"""One blueprint per area. Registered in one place."""

from __future__ import annotations

import importlib
import logging

from flask import Flask

log = logging.getLogger(__name__)

BLUEPRINTS = ["webui.views.auth", "webui.views.exams", "webui.views.live", "webui.views.admin", "webui.views.api"]
OPTIONAL_BLUEPRINTS: list[str] = []


def register_blueprints(app: Flask) -> None:
    for mod in BLUEPRINTS:
        app.register_blueprint(importlib.import_module(mod).bp)
    for mod in OPTIONAL_BLUEPRINTS:
        try:
            app.register_blueprint(importlib.import_module(mod).bp)
        except ImportError as exc:  # an optional area that cannot load is reported, not fatal
            log.error("UI area %s unavailable: %s", mod, exc)
