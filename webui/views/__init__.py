"""One blueprint per area, registered in one place.

Optional areas (echo report, ECG, perfusion, reports/export) register when their module exists; an area whose import
fails is logged and left out, and the rest of the UI keeps working. A blueprint module may define
``NAV = [(endpoint, i18n_key, roles_or_None)]`` to add links to the top bar, and
``EXAM_ACTIONS = [(endpoint, i18n_key, roles_or_None, exam_kinds_or_None)]`` to add buttons to an exam's page
(the endpoint takes ``exam_id``).
"""

from __future__ import annotations

import importlib
import importlib.util
import logging

from flask import Flask

log = logging.getLogger(__name__)

BLUEPRINTS = ["webui.views.auth", "webui.views.exams", "webui.views.live", "webui.views.admin", "webui.views.api",
              "webui.views.jobs"]
OPTIONAL_BLUEPRINTS = ["webui.views.echo_report", "webui.views.ecg", "webui.views.perfusion",
                       "webui.views.reports", "webui.views.echo_learn", "webui.views.alerts", "webui.views.sax"]


def register_blueprints(app: Flask) -> list[tuple[str, str, tuple[str, ...] | None]]:
    nav: list[tuple[str, str, tuple[str, ...] | None]] = []
    for mod in BLUEPRINTS:
        app.register_blueprint(importlib.import_module(mod).bp)
    for mod in OPTIONAL_BLUEPRINTS:
        if importlib.util.find_spec(mod) is None:
            continue
        try:
            m = importlib.import_module(mod)
            app.register_blueprint(m.bp)
            nav.extend(getattr(m, "NAV", []))
            app.config.setdefault("CARDIOCART_EXAM_ACTIONS", []).extend(getattr(m, "EXAM_ACTIONS", []))
        except ImportError as exc:  # an optional area that cannot load is reported, not fatal
            log.error("UI area %s unavailable: %s", mod, exc)
    app.config["CARDIOCART_NAV"] = nav
    return nav
