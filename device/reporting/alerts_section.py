"""The exam's alerts in its report (issue 18 part 2): each critical value with who acknowledged it and when, or
that nobody has yet. Reads the store through its repositories; one Section per alert (title only). Every word comes
from the glossary (``report.alert_*``): an alert with its measurement in ``detail`` (name, value, interpretation)
is written in the report's language; another alert's English message is rewritten where the glossary knows it."""

from __future__ import annotations

import sqlite3

from device import i18n
from device.domain.records import Alert
from device.lv.records import unit_of
from device.reports.model import Section
from device.store import clinical


def alert_message(alert: Alert, language: str) -> str:
    """The alert's message in ``language``."""
    d = alert.detail or {}
    if isinstance(d.get("name"), str) and isinstance(d.get("value"), int | float) and d.get("interpretation"):
        from device.reporting.echo_sections import echo_label
        interp = str(d["interpretation"])
        return i18n.t(language, "report.alert_value", label=echo_label(d["name"], language), value=f"{d['value']:.0f}",
                      unit=unit_of(d["name"]), interpretation=i18n.term(language, f"interp.{interp}", interp))
    return i18n.relabel(alert.message, "en", language)


def alert_sections(conn: sqlite3.Connection, exam_id: int, language: str = "en") -> list[Section]:
    names = {int(r[0]): str(r[1]) for r in conn.execute("SELECT id, display_name FROM users")}
    out = []
    for a in sorted(clinical.alerts(conn, unacknowledged_only=False, limit=100000), key=lambda a: a.id):
        if a.exam_id != exam_id or a.level != "critical":
            continue
        state = i18n.t(language, "report.alert_acked", who=names.get(a.acknowledged_by or -1, "?"),
                       at=a.acknowledged_at[:16].replace("T", " ")) if a.acknowledged_at \
            else i18n.t(language, "report.alert_open")
        out.append(Section(i18n.t(language, "report.alert_title", msg=alert_message(a, language), state=state), ()))
    return out
