"""A small DICOMweb client: STOW-RS (multipart/related POST) and QIDO-RS (what does the PACS hold?).

TLS is verified by default (``verify=True`` uses the system store, a path uses that CA bundle); credentials are
HTTP basic or a bearer token. Errors are sorted for the outbox: PacsUnavailable (retry), PacsAuthError (retry,
fix settings), PacsRejected (do not retry).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from device.errors import ConfigError
from device.sync.errors import PacsAuthError, PacsRejected, PacsUnavailable

_REF_SOP_SEQ, _FAILED_SOP_SEQ, _REF_SOP_UID, _FAILURE_REASON = "00081199", "00081198", "00081155", "00081197"


@dataclass(frozen=True)
class DicomWebConfig:
    """``base_url`` is the DICOMweb root (e.g. ``https://pacs/dicom-web``); ``verify`` True, False or a CA path."""

    base_url: str
    username: str = ""
    password: str = ""
    bearer_token: str = ""
    verify: bool | str = True
    timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ConfigError(f"DICOMweb URL '{self.base_url}' must start with http:// or https://")
        if isinstance(self.verify, str) and not Path(self.verify).is_file():
            raise ConfigError(f"CA bundle {self.verify} does not exist; fix sync.ca_bundle")

    def __repr__(self) -> str:  # never print secrets
        return f"DicomWebConfig(base_url={self.base_url!r}, username={self.username!r}, verify={self.verify!r})"


def config_from_settings(sync: Any) -> DicomWebConfig:
    """From the ``[sync]`` settings section (dicomweb_url, auth, username, secret_file, ca_bundle, verify_tls)."""
    secret = ""
    if sync.auth in ("basic", "bearer"):
        if not sync.secret_file:
            raise ConfigError(f"sync.auth is '{sync.auth}' but sync.secret_file is empty; name the file that "
                              "holds the password or token")
        try:
            secret = Path(sync.secret_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"cannot read sync.secret_file {sync.secret_file}: {exc.strerror}") from None
    verify: bool | str = (str(sync.ca_bundle) if sync.ca_bundle else True) if sync.verify_tls else False
    return DicomWebConfig(base_url=str(sync.dicomweb_url), username=sync.username if sync.auth == "basic" else "",
                          password=secret if sync.auth == "basic" else "",
                          bearer_token=secret if sync.auth == "bearer" else "", verify=verify)


class DicomWebClient:
    """STOW/QIDO against one DICOMweb server. Implements the worker's ``Target`` protocol (send, holds)."""

    name = "dicomweb"

    def __init__(self, config: DicomWebConfig, session: requests.Session | None = None):
        self.config = config
        self.session = session or requests.Session()
        self.session.verify = config.verify
        if config.username:
            self.session.auth = (config.username, config.password)
        if config.bearer_token:
            self.session.headers["Authorization"] = f"Bearer {config.bearer_token}"
        self.base = config.base_url.rstrip("/")

    def _request(self, method: str, url: str, **kw: Any) -> requests.Response:
        try:
            r = self.session.request(method, url, timeout=self.config.timeout_s, verify=self.config.verify, **kw)
        except requests.exceptions.SSLError as exc:
            raise PacsAuthError(f"TLS check of {self.base} failed ({_short(exc)}); install the PACS's CA "
                                "certificate as sync.ca_bundle") from None
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
            raise PacsUnavailable(f"PACS {self.base} unreachable ({_short(exc)}); will retry") from None
        if r.status_code in (401, 403):
            raise PacsAuthError(f"PACS {self.base} refused our credentials (HTTP {r.status_code}); check "
                                "sync.username and sync.secret_file")
        if r.status_code == 429 or r.status_code >= 500:
            raise PacsUnavailable(f"PACS {self.base} answered HTTP {r.status_code}; will retry")
        return r

    def stow(self, parts: list[bytes], study_uid: str | None = None) -> list[str]:
        """POST DICOM Part 10 ``parts``; returns the SOP Instance UIDs the PACS stored.

        Raises PacsRejected listing failures when any instance is refused (HTTP 409/4xx or FailedSOPSequence).
        """
        boundary = f"cardiocart-{uuid.uuid4().hex}"
        body = b"".join(b"--" + boundary.encode() + b"\r\nContent-Type: application/dicom\r\n\r\n" + p + b"\r\n"
                        for p in parts) + b"--" + boundary.encode() + b"--\r\n"
        url = f"{self.base}/studies" + (f"/{study_uid}" if study_uid else "")
        headers = {"Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
                   "Accept": "application/dicom+json"}
        r = self._request("POST", url, data=body, headers=headers)
        payload = _json(r)
        stored = [it.get(_REF_SOP_UID, {}).get("Value", [""])[0]
                  for it in payload.get(_REF_SOP_SEQ, {}).get("Value", [])] if isinstance(payload, dict) else []
        failed = [(it.get(_REF_SOP_UID, {}).get("Value", ["?"])[0], it.get(_FAILURE_REASON, {}).get("Value", ["?"])[0])
                  for it in payload.get(_FAILED_SOP_SEQ, {}).get("Value", [])] if isinstance(payload, dict) else []
        if r.status_code >= 400 or failed:
            detail = "; ".join(f"{u}: reason {reason}" for u, reason in failed) or (
                "it could not read or store the object" if isinstance(payload, dict) else r.text[:200].strip())
            raise PacsRejected(f"PACS {self.base} refused the object(s) (HTTP {r.status_code}): {detail}")
        return stored

    def send(self, data: bytes, study_uid: str, sop_uid: str) -> None:
        """STOW one object and check the PACS acknowledged this SOP Instance UID."""
        stored = self.stow([data], study_uid)
        if stored and sop_uid not in stored:
            raise PacsRejected(f"PACS {self.base} acknowledged {stored} but not {sop_uid}")

    def instances(self, study_uid: str, sop_uid: str | None = None) -> list[str]:
        """QIDO-RS: SOP Instance UIDs the PACS holds in the study (optionally only ``sop_uid``)."""
        params = {"SOPInstanceUID": sop_uid} if sop_uid else {}
        params["includefield"] = "00080018"
        r = self._request("GET", f"{self.base}/studies/{study_uid}/instances", params=params,
                          headers={"Accept": "application/dicom+json"})
        if r.status_code in (204, 404):
            return []
        if r.status_code >= 400:
            raise PacsRejected(f"PACS {self.base} refused the query (HTTP {r.status_code})")
        data = _json(r)
        if not isinstance(data, list):
            raise PacsUnavailable(f"PACS {self.base} sent an unreadable QIDO answer; will retry")
        return [d.get("00080018", {}).get("Value", [""])[0] for d in data]

    def holds(self, study_uid: str, sop_uid: str) -> bool:
        """True if the PACS already has this instance (QIDO by SOP Instance UID)."""
        return sop_uid in self.instances(study_uid, sop_uid)


def _json(r: requests.Response) -> Any:
    if not r.content:
        return {}
    try:
        return r.json()
    except ValueError:
        return {}


def _short(exc: Exception) -> str:
    s = str(exc)
    return s if len(s) < 160 else s[:157] + "..."
