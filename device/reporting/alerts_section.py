"""The exam's alerts in its report (issue 18 part 2): each critical value with who acknowledged it and when, or
that nobody has yet. Reads the store through its repositories; one Section per alert (title only)."""

from __future__ import annotations

import sqlite3

from device.reports.model import Section
from device.store import clinical

_WORDS = {
    "en": {"title": "Critical value: {msg}", "acked": "acknowledged by {who} at {at} UTC",
           "open": "NOT acknowledged"},
    "zh-CN": {"title": "危急值：{msg}", "acked": "已由 {who} 于 {at} UTC 确认", "open": "尚未确认"},
}


def alert_sections(conn: sqlite3.Connection, exam_id: int, language: str = "en") -> list[Section]:
    w = _WORDS.get(language, _WORDS["en"])
    names = {int(r[0]): str(r[1]) for r in conn.execute("SELECT id, display_name FROM users")}
    out = []
    for a in sorted(clinical.alerts(conn, unacknowledged_only=False, limit=100000), key=lambda a: a.id):
        if a.exam_id != exam_id or a.level != "critical":
            continue
        state = w["acked"].format(who=names.get(a.acknowledged_by or -1, "?"),
                                  at=a.acknowledged_at[:16].replace("T", " ")) if a.acknowledged_at else w["open"]
        out.append(Section(f"{w['title'].format(msg=a.message)} ({state})", ()))
    return out
