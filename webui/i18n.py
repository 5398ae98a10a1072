"""zh-CN and English strings for the UI, through the one mechanism ``device.i18n``. Missing keys fall back to
English, then to the key itself.

``i18n/<lang>.json`` holds the shell's strings; each UI area may add ``i18n/<area>.<lang>.json`` (merged in); both are
merged over the clinical glossary (``device/i18n/glossary.<lang>.json``), so templates can show glossary terms
(``measure.ef_pct``, ``interp.normal``, ``segment.3``...).
"""

from __future__ import annotations

from pathlib import Path

from device.i18n import LANGUAGES, load_catalogue

_DIR = Path(__file__).with_name("i18n")


def catalogue(lang: str) -> dict[str, str]:
    return load_catalogue(str(_DIR), lang)


def translate(lang: str, key: str, **kw: object) -> str:
    text = catalogue(lang if lang in LANGUAGES else "en").get(key) or catalogue("en").get(key) or key
    return text.format(**kw) if kw else text
