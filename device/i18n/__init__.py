"""The one translation mechanism of CardioCart (English and Simplified Chinese).

Every user-facing text is a key looked up here. The clinical glossary (``glossary.<lang>.json`` beside this file:
measurement names, interpretations, ECG findings, perfusion segments and territories, report and PDF headings, the
disclaimer) is reviewed as one file per language; the web UI's strings (``webui/i18n/*.json``) are loaded by the
same :func:`load_catalogue` and merged over the glossary, so a template can use a glossary key too.

``t(lang, key, **kw)``: the text in ``lang``, else English, else the key itself; ``{name}`` fields are filled from
``kw``. ``term(lang, key, default)``: the same but ``default`` (not the key) when no language has the key, for
names that may be unknown (a value typed in under a new name). Both languages must hold the same keys
(tests/unit/test_i18n.py fails otherwise).
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

LANGUAGES: tuple[str, ...] = ("en", "zh-CN")
DEFAULT = "en"
_DIR = Path(__file__).parent


def _read(path: Path) -> dict[str, str]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return {str(k): str(v) for k, v in data.items()}


@cache
def glossary(lang: str) -> dict[str, str]:
    """The reviewed clinical glossary of ``lang`` (``en`` or ``zh-CN``)."""
    return _read(_DIR / f"glossary.{lang if lang in LANGUAGES else DEFAULT}.json")


@cache
def load_catalogue(directory: str, lang: str) -> dict[str, str]:
    """The glossary of ``lang`` with ``<directory>/<lang>.json`` and every ``<directory>/*.<lang>.json`` merged
    over it (the web UI's strings)."""
    lang = lang if lang in LANGUAGES else DEFAULT
    d = Path(directory)
    out = dict(glossary(lang))
    base = d / f"{lang}.json"
    if base.is_file():
        out.update(_read(base))
    for extra in sorted(d.glob(f"*.{lang}.json")):
        out.update(_read(extra))
    return out


def normalise(lang: str | None) -> str:
    """``lang`` if it is a supported language, else English ("zh", "zh_CN" and "zh-cn" mean zh-CN)."""
    if not lang:
        return DEFAULT
    low = lang.replace("_", "-").lower()
    return "zh-CN" if low.startswith("zh") else DEFAULT


def term(lang: str, key: str, default: str | None = None) -> str:
    """The glossary text of ``key`` in ``lang`` (English when ``lang`` lacks it), else ``default`` (else ``key``)."""
    text = glossary(normalise(lang)).get(key) or glossary(DEFAULT).get(key)
    return text if text is not None else (key if default is None else default)


def t(lang: str, key: str, **kw: object) -> str:
    """``term`` with ``{field}`` formatting from ``kw``."""
    text = term(lang, key)
    return text.format(**kw) if kw else text


def table(lang: str, prefix: str) -> dict[str, str]:
    """Every glossary entry of ``lang`` whose key starts with ``prefix``, keyed by the rest of the key."""
    g = glossary(normalise(lang))
    return {k[len(prefix):]: v for k, v in g.items() if k.startswith(prefix)}


def finding_text(lang: str, text: str) -> str:
    """A model's finding phrase in ``lang``: the glossary's ``finding.<phrase>`` for the whole text, else for its
    longest known leading phrase with the rest (numbers, units) kept: "long QTc 480 ms" -> "QTc 延长 480 ms"."""
    g = glossary(normalise(lang))
    if f"finding.{text}" in g:
        return g[f"finding.{text}"]
    best = max((k[len("finding."):] for k in g if k.startswith("finding.") and
                text.startswith(k[len("finding."):] + " ")), key=len, default=None)
    return text if best is None else g[f"finding.{best}"] + text[len(best):]


def parenthesised(lang: str, text: str, inner: str) -> str:
    """``text (inner)`` in English, ``text（inner）`` (full-width) in Chinese."""
    return f"{text}（{inner}）" if normalise(lang) == "zh-CN" else f"{text} ({inner})"


@cache
def _reverse(lang: str) -> dict[str, str]:
    """glossary text of ``lang`` -> key (the first key wins when two keys share a text)."""
    out: dict[str, str] = {}
    for k, v in glossary(lang).items():
        out.setdefault(v, k)
    return out


@cache
def _templates(lang: str) -> tuple[tuple[re.Pattern[str], str], ...]:
    """(pattern, key) of every glossary text of ``lang`` with {fields}, most specific (longest) first."""
    out = []
    for k, v in glossary(lang).items():
        if "{" in v:
            parts = re.split(r"\{(\w+)\}", v)
            rx = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>.+?)" for i, p in enumerate(parts))
            out.append((re.compile(rx + r"\Z", re.S), k))
    return tuple(sorted(out, key=lambda t: -len(t[0].pattern)))


def relabel(text: str, src: str, dst: str) -> str:
    """``text`` written from the ``src`` glossary, rewritten in ``dst``: a whole glossary text, "A (B)" / "A（B）",
    "A; B" and "A: B" are mapped part by part; anything not from the glossary (numbers, names, typed text) is kept."""
    src, dst = normalise(src), normalise(dst)
    if src == dst or not text:
        return text
    key = _reverse(src).get(text)
    if key is not None:
        return glossary(dst).get(key, text)
    for rx, key in _templates(src):
        m = rx.match(text)
        if m and key in glossary(dst):
            return glossary(dst)[key].format(**{f: _field(f, v, src, dst) for f, v in m.groupdict().items()})
    head, _, rest = text.partition(" ")
    if rest and head in _reverse(src) and rest in _reverse(src):   # "ED wall thickness AL"
        return f"{relabel(head, src, dst)} {relabel(rest, src, dst)}"
    for sep in ("; ", ": "):
        if sep in text:
            return sep.join(relabel(part, src, dst) for part in text.split(sep))
    for open_, close in ((" (", ")"), ("（", "）")):
        if text.endswith(close) and open_ in text:
            head, _, inner = text[: -len(close)].rpartition(open_)
            return parenthesised(dst, relabel(head, src, dst), relabel(inner, src, dst))
    return finding_text(dst, text) if dst != "en" else text


def _field(name: str, value: str, src: str, dst: str) -> str:
    """One field of a glossary template rewritten in ``dst``. A ``{reason}`` (a refusal reason written in English by
    the analysis code) that the glossary's error.* templates cannot translate is replaced by a pointer to where it
    is shown in full (``report.reason_elsewhere``), so no English sentence lands in a Chinese report."""
    if name == "reason" and normalise(dst) != DEFAULT:
        return reason_text(dst, value)
    return relabel(value, src, dst)


def reason_text(lang: str, reason: str) -> str:
    """A refusal reason in ``lang``: the glossary's translation when it has one, else (not English) the pointer
    ``report.reason_elsewhere``."""
    if normalise(lang) == DEFAULT:
        return reason
    out = message(lang, reason)
    return out if out != reason else term(lang, "report.reason_elsewhere")


def message(lang: str, text: str) -> str:
    """A one-line user message (a ``UserError`` text, written in English by the code) in ``lang``: matched against
    the glossary's ``error.*`` templates, its fields rewritten by :func:`relabel` ("height must be 30-250 cm; ..."
    -> "身高应为 30-250 cm；..."); a message the glossary does not know is returned as it is."""
    lang = normalise(lang)
    if lang == DEFAULT or not text:
        return text
    for rx, key in _templates(DEFAULT):
        if not key.startswith("error."):
            continue
        m = rx.match(text)
        if m:
            return glossary(lang)[key].format(**{f: relabel(v, DEFAULT, lang) for f, v in m.groupdict().items()})
    return glossary(lang).get(_reverse(DEFAULT).get(text, ""), text)


__all__ = ["message", "reason_text", "parenthesised", "relabel", "finding_text", "LANGUAGES", "glossary", "load_catalogue", "normalise", "term", "t", "table"]
