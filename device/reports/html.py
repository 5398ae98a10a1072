"""Render a ReportDoc as a self-contained HTML page (images inline), with Jinja2 autoescaping."""

from __future__ import annotations

import base64
from pathlib import Path

import jinja2

from device.reports.i18n import labels
from device.reports.model import ReportDoc

_TEMPLATES = Path(__file__).parent / "templates"
_ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(_TEMPLATES), autoescape=True,
                          undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def format_value(x: float) -> str:
    """Up to 4 significant digits, no trailing zeros: 58.2, 112, 0.123."""
    return f"{x:.4g}" if abs(x) < 1e4 else f"{x:.0f}"


def report_title(doc: ReportDoc) -> str:
    return doc.title or labels(doc.language)[f"title.{doc.kind}"]


def render_html(doc: ReportDoc) -> str:
    """The report as one HTML document (UTF-8 text); images embedded as data: URIs."""
    template = _ENV.get_template("report.html.j2")
    return template.render(doc=doc, L=labels(doc.language), title=report_title(doc), fmt=format_value,
                           b64=lambda b: base64.b64encode(b).decode("ascii"))
