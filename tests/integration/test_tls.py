"""Issue 13, transport: with a site certificate in [web] the UI serves https only, its cookies are Secure and it sends
HSTS; without one (127.0.0.1) the same UI serves plain http with neither. The certificate is self-signed, made here."""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time

import pytest

from device.config import load_settings


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def cert(tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    crt, key = tmp_path / "site.crt", tmp_path / "site.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", str(key), "-out", str(crt)],
                   check=True, capture_output=True, timeout=60)
    return crt, key


def test_https_with_secure_cookie_and_hsts(tmp_path, cert):
    crt, key = cert
    port = _free_port()
    cfg = tmp_path / "cardiocart.toml"
    cfg.write_text(f'[paths]\ndata_dir = "{tmp_path / "var"}"\n[web]\nport = {port}\n'
                   f'tls_cert = "{crt}"\ntls_key = "{key}"\n')
    proc = subprocess.Popen([sys.executable, "-m", "device", "webui"], env={**os.environ, "CARDIOCART_CONFIG": str(cfg)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ctx = ssl.create_default_context(cafile=str(crt))
        deadline, resp = time.monotonic() + 60, None
        while resp is None and time.monotonic() < deadline:
            try:
                c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=5)
                c.request("GET", "/setup")
                resp = c.getresponse()
            except (ConnectionRefusedError, ConnectionResetError, ssl.SSLError, OSError):
                assert proc.poll() is None, proc.communicate()[1][-2000:]
                time.sleep(0.5)
        assert resp is not None and resp.status == 200
        assert resp.getheader("Strict-Transport-Security", "").startswith("max-age=")
        cookie = resp.getheader("Set-Cookie", "")
        assert "cardiocart_session=" in cookie and "Secure" in cookie and "HttpOnly" in cookie
        # plain http on the same port is not served
        with pytest.raises((http.client.HTTPException, ConnectionError, OSError)):
            p = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            p.request("GET", "/setup")
            r = p.getresponse()
            assert r.status >= 400
            raise ConnectionError("refused as expected")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def test_plain_http_on_localhost_has_no_secure_cookie_or_hsts(settings):
    from webui import create_app

    assert settings.web.tls_cert == "" and settings.web.host == "127.0.0.1"
    r = create_app(settings).test_client().get("/setup")
    assert "Strict-Transport-Security" not in r.headers
    assert "Secure" not in r.headers.get("Set-Cookie", "")


def test_half_a_tls_configuration_is_a_one_line_error(tmp_path, cert):
    from device.errors import ConfigError
    from device.services.webui_server import tls_context

    crt, key = cert
    with pytest.raises(ConfigError, match="go together"):
        tls_context(str(crt), "")
    with pytest.raises(ConfigError, match="cannot be loaded"):
        tls_context(str(crt), str(tmp_path / "missing.key"))
    assert tls_context("", "") is None
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[web]\ntls_cert = "{crt}"\ntls_key = "{key}"\n')
    assert load_settings(cfg).web.tls_key == str(key)
