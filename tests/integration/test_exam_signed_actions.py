"""Issue 18 point 8: the pages of an exam whose report is signed offer no action that ends on a bare error page
("400"): every form on them, submitted as the page fills it, either works or returns to a page that says why."""

from __future__ import annotations

from html.parser import HTMLParser

import numpy as np
import pytest

from device.domain.codecs import encode_clip
from device.store import Store, clinical
from device.store.db import Tx
from tests.integration.test_reports_ui import make_exam


class _Forms(HTMLParser):
    def __init__(self):
        super().__init__()
        self.forms: list[dict] = []
        self._cur: dict | None = None
        self._select = ""

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self._cur = {"action": a.get("action") or "", "method": (a.get("method") or "get").lower(), "fields": {}}
            self.forms.append(self._cur)
        elif self._cur is not None and tag == "button" and a.get("name") and (a.get("type") or "submit") == "submit":
            self._cur.setdefault("button", (a["name"], a.get("value") or ""))   # the first submit button pressed
        elif self._cur is not None and tag == "option" and self._select and self._select not in self._cur["fields"]:
            self._cur["fields"][self._select] = a.get("value") or ""
        elif self._cur is not None and tag in ("input", "textarea", "select") and a.get("name"):
            if tag == "select":
                self._select = a["name"]
                return
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                return
            self._cur["fields"].setdefault(a["name"], a.get("value") or "")

    def handle_endtag(self, tag):
        if tag == "form":
            self._cur = None


def _forms(html: str) -> list[dict]:
    p = _Forms()
    p.feed(html)
    return [f for f in p.forms if f["method"] == "post" and f["action"].startswith("/")]


PAGES = {"echo": ("/exams/{e}", "/exams/{e}/report", "/exams/{e}/echo", "/exams/{e}/export"),
         "ecg": ("/exams/{e}", "/exams/{e}/report", "/exams/{e}/ecg", "/exams/{e}/export")}


@pytest.mark.parametrize("kind", ["echo", "ecg"])
def test_no_action_of_a_signed_exam_ends_on_a_bare_error(login, settings, kind):
    eid = make_exam(settings.data_dir, kind)
    if kind == "echo":                           # a saved clip: its label and loop forms are on the exam page
        s = Store.open(settings.data_dir)
        with Tx(s.conn):
            clinical.add_capture(s.conn, s.blobs, eid, "clip", encode_clip(np.zeros((4, 16, 16), np.uint8), 20.0),
                                 "application/x-cardiocart-clip+npz", label="A4C", quality=0.8)
        s.close()
    doc = login("drli", "physician", "573920")
    sono = login("sono", "sonographer", "482913")
    doc.get(f"/exams/{eid}/report")
    assert doc.post(f"/exams/{eid}/report/sign").status_code == 302
    bare, tried = [], 0
    for ui, page in [(u, p) for u in (sono, doc) for p in PAGES[kind]]:
        r = ui.get(page.format(e=eid))
        if r.status_code == 404:
            continue
        for f in _forms(r.data.decode()):
            if f["action"].startswith(("/logout", "/lang/")):
                continue
            tried += 1
            fields = dict(f["fields"]) | (dict([f["button"]]) if "button" in f else {})
            res = ui.post(f["action"], fields)
            if res.status_code >= 400 and b'id="error-message"' in res.data:
                bare.append((page, f["action"], res.status_code))
            ui.get(page.format(e=eid))           # a fresh CSRF token and state for the next form
    assert tried >= 2 and bare == [], bare
