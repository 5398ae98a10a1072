"""Errors of sending to a PACS, by what the outbox should do next."""

from __future__ import annotations

from device.errors import UserError


class SyncError(UserError):
    """Sending failed; ``retry`` says whether trying again later can help."""

    retry = True


class PacsUnavailable(SyncError):
    """The PACS cannot be reached or answered 5xx/429: retry with backoff."""


class PacsAuthError(SyncError):
    """The PACS refused our credentials (401/403): retry later, but a person must fix the settings."""


class PacsRejected(SyncError):
    """The PACS refused this object (4xx, or listed it as failed): retrying the same bytes will not help."""

    retry = False
