"""The touchscreen UI: ``create_app(settings)`` builds the Flask app; blueprints live in ``webui/views``."""

from webui.app import create_app

__all__ = ["create_app"]
