"""Report labels in English and Simplified Chinese: the ``report.*`` entries of the one glossary
(``device/i18n/glossary.<lang>.json``), keyed without the prefix (``labels("zh-CN")["patient"]``)."""

from __future__ import annotations

from device import i18n


def labels(language: str) -> dict[str, str]:
    """The label table of ``language`` (``en`` or ``zh-CN``; anything else gives English)."""
    return i18n.table(language, "report.")
