from __future__ import annotations

import re

import pytest

from device.config import load_settings


@pytest.fixture()
def settings(tmp_path):
    cfg = tmp_path / "cardiocart.toml"
    cfg.write_text(f'[paths]\ndata_dir = "{tmp_path / "var"}"\n[web]\nport = 18080\nlockout_attempts = 3\n')
    return load_settings(cfg)


@pytest.fixture()
def app(settings):
    from webui import create_app
    return create_app(settings, {"SSE_MAX_S": 0.5, "STREAM_MAX_S": 0.5})


def csrf_of(html: bytes) -> str:
    return re.search(rb'name="csrf-token" content="([^"]+)"', html).group(1).decode()


class UiClient:
    """A logged-in test client that adds the CSRF token to its POSTs."""

    def __init__(self, client):
        self.c = client
        self.token = ""

    def get(self, *a, **kw):
        r = self.c.get(*a, **kw)
        if r.mimetype == "text/html" and b"csrf-token" in r.data:
            self.token = csrf_of(r.data)
        return r

    def post(self, url, data=None, **kw):
        if not self.token:
            self.get("/login")
        data = dict(data or {})
        data.setdefault("csrf_token", self.token)
        return self.c.post(url, data=data, **kw)


@pytest.fixture()
def make_user(settings):
    from device.store import Store, users

    def make(username="doc", role="physician", pin="482913"):
        s = Store.open(settings.data_dir)
        u = users.create_user(s.conn, username, username.title(), role, pin)
        s.close()
        return u
    return make


@pytest.fixture()
def login(app, make_user):
    def do(username="doc", role="physician", pin="482913") -> UiClient:
        make_user(username, role, pin)
        ui = UiClient(app.test_client())
        ui.get("/login")
        r = ui.post("/login", {"username": username, "pin": pin})
        assert r.status_code == 302, r.data
        ui.get("/")  # the CSRF token is rotated at login
        return ui
    return do


def run_jobs_in(settings) -> list:
    """Run the queued jobs in this process, as the worker role (``python -m device worker``) would: the web UI only
    queues heavy work. Returns the finished jobs."""
    from device.jobs.worker import run_until_idle
    from device.store import Store
    s = Store.open(settings.data_dir)
    try:
        return run_until_idle(s, settings)
    finally:
        s.close()


@pytest.fixture()
def run_jobs(settings):
    return lambda: run_jobs_in(settings)
