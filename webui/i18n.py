"""zh-CN and English strings for the UI. Missing keys fall back to English, then to the key itself.

``i18n/<lang>.json`` holds the shell's strings; each UI area may add ``i18n/<area>.<lang>.json`` (merged in).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

LANGUAGES = ("en", "zh-CN")
_DIR = Path(__file__).with_name("i18n")


@cache
def catalogue(lang: str) -> dict[str, str]:
    out = json.loads((_DIR / f"{lang}.json").read_text(encoding="utf-8"))
    for extra in sorted(_DIR.glob(f"*.{lang}.json")):
        out.update(json.loads(extra.read_text(encoding="utf-8")))
    return out


def translate(lang: str, key: str, **kw: object) -> str:
    text = catalogue(lang if lang in LANGUAGES else "en").get(key) or catalogue("en").get(key) or key
    return text.format(**kw) if kw else text
