"""zh-CN and English strings for the UI. Missing keys fall back to English, then to the key itself."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

LANGUAGES = ("en", "zh-CN")
_DIR = Path(__file__).with_name("i18n")


@lru_cache(maxsize=None)
def catalogue(lang: str) -> dict[str, str]:
    return json.loads((_DIR / f"{lang}.json").read_text(encoding="utf-8"))


def translate(lang: str, key: str, **kw: object) -> str:
    text = catalogue(lang if lang in LANGUAGES else "en").get(key) or catalogue("en").get(key) or key
    return text.format(**kw) if kw else text
