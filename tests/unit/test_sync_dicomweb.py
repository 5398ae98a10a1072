"""DICOMweb client against a local HTTP(S) server that answers as a PACS would, including with errors."""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import subprocess
import threading
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from device.errors import ConfigError
from device.sync.dicomweb import DicomWebClient, DicomWebConfig, config_from_settings
from device.sync.errors import PacsAuthError, PacsRejected, PacsUnavailable


class Pacs:
    """Programmable answers; records requests."""

    def __init__(self):
        self.status = 200
        self.failed_reason: int | None = None
        self.requests: list[dict] = []
        self.held: set[str] = set()


def _handler(pacs: Pacs):
    class H(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def _reply(self, code, body=None):
            data = json.dumps(body).encode() if body is not None else b""
            self.send_response(code)
            self.send_header("Content-Type", "application/dicom+json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            msg = BytesParser(policy=HTTP).parsebytes(
                b"Content-Type: " + self.headers["Content-Type"].encode() + b"\r\n\r\n" + body)
            parts = [p.get_payload(decode=True) for p in msg.iter_parts()]
            pacs.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "parts": parts,
                                  "type": self.headers["Content-Type"]})
            if pacs.status != 200:
                return self._reply(pacs.status, {})
            uid = parts[0][:32].decode(errors="replace").strip()
            if pacs.failed_reason is not None:
                failed = {"00081155": {"vr": "UI", "Value": [uid]},
                          "00081197": {"vr": "US", "Value": [pacs.failed_reason]}}
                return self._reply(409, {"00081198": {"vr": "SQ", "Value": [failed]}})
            pacs.held.add(uid)
            return self._reply(200, {"00081199": {"vr": "SQ", "Value": [{"00081155": {"vr": "UI", "Value": [uid]}}]}})

        def do_GET(self):
            pacs.requests.append({"path": self.path, "auth": self.headers.get("Authorization")})
            if pacs.status != 200:
                return self._reply(pacs.status, {})
            uid = self.path.split("SOPInstanceUID=")[1].split("&")[0] if "SOPInstanceUID=" in self.path else ""
            if uid in pacs.held:
                return self._reply(200, [{"00080018": {"vr": "UI", "Value": [uid]}}])
            self.send_response(204)
            self.end_headers()
    return H


@pytest.fixture()
def server():
    pacs = Pacs()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(pacs))
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield pacs, f"http://127.0.0.1:{httpd.server_address[1]}/dicom-web"
    httpd.shutdown()
    httpd.server_close()


UID = "2.25.1234"
DATA = UID.ljust(32).encode() + b"\x00\x01rest-of-dicom\r\n--not-a-boundary"


def test_stow_and_qido(server):
    pacs, url = server
    c = DicomWebClient(DicomWebConfig(url, username="cart", password="s3cret"))
    assert not c.holds("2.25.9", UID)
    c.send(DATA, "2.25.9", UID)
    assert c.holds("2.25.9", UID)
    post = next(r for r in pacs.requests if "parts" in r)
    assert post["path"] == "/dicom-web/studies/2.25.9"
    assert post["parts"] == [DATA]  # the multipart body carries the exact bytes
    assert 'type="application/dicom"' in post["type"]
    assert post["auth"].startswith("Basic ")
    assert pacs.requests[0]["path"].startswith("/dicom-web/studies/2.25.9/instances?SOPInstanceUID=2.25.1234")


def test_bearer_token(server):
    pacs, url = server
    DicomWebClient(DicomWebConfig(url, bearer_token="tok")).holds("2.25.9", UID)
    assert pacs.requests[-1]["auth"] == "Bearer tok"


@pytest.mark.parametrize("code,exc", [(503, PacsUnavailable), (500, PacsUnavailable), (429, PacsUnavailable),
                                      (401, PacsAuthError), (403, PacsAuthError), (400, PacsRejected)])
def test_error_answers_are_classified(server, code, exc):
    pacs, url = server
    pacs.status = code
    with pytest.raises(exc):
        DicomWebClient(DicomWebConfig(url)).send(DATA, "2.25.9", UID)


def test_failed_sop_sequence_names_the_reason(server):
    pacs, url = server
    pacs.failed_reason = 0xA700
    with pytest.raises(PacsRejected, match=f"{UID}: reason {0xA700}"):
        DicomWebClient(DicomWebConfig(url)).send(DATA, "2.25.9", UID)


def test_unreachable_is_unavailable():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(PacsUnavailable, match="unreachable"):
        DicomWebClient(DicomWebConfig(f"http://127.0.0.1:{port}/dicom-web", timeout_s=2)).holds("1", "2")


def test_config_validation_and_secret_file(tmp_path):
    with pytest.raises(ConfigError):
        DicomWebConfig("ftp://pacs")
    with pytest.raises(ConfigError, match="ca_bundle"):
        DicomWebConfig("https://pacs", verify=str(tmp_path / "none.pem"))

    class S:
        dicomweb_url = "https://pacs/dicom-web"
        auth = "basic"
        username = "cart"
        secret_file = str(tmp_path / "pw")
        ca_bundle = ""
        verify_tls = True
    with pytest.raises(ConfigError, match="secret_file"):
        config_from_settings(S)
    (tmp_path / "pw").write_text("hunter22\n")
    cfg = config_from_settings(S)
    assert (cfg.username, cfg.password, cfg.verify) == ("cart", "hunter22", True)
    assert "hunter22" not in repr(cfg)


@pytest.fixture()
def tls_server(tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed")
    key, cert = tmp_path / "k.pem", tmp_path / "c.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    pacs = Pacs()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(pacs))
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield pacs, f"https://127.0.0.1:{httpd.server_address[1]}/dicom-web", cert
    httpd.shutdown()
    httpd.server_close()


def test_tls_verified_with_ca_bundle_and_refused_without(tls_server):
    pacs, url, cert = tls_server
    with pytest.raises(PacsAuthError, match="TLS"):
        DicomWebClient(DicomWebConfig(url, timeout_s=5)).holds("2.25.9", UID)
    c = DicomWebClient(DicomWebConfig(url, verify=str(cert), timeout_s=5))
    c.send(DATA, "2.25.9", UID)
    assert c.holds("2.25.9", UID)
