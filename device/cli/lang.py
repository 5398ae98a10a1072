"""The CLI speaks the site's language (issue 18 part 4): the clinical lines a command prints for a person
(measurement names, interpretations, territories, alerts, the disclaimer, error messages) come from the same reviewed
glossary as the web UI and the PDF (device.i18n, keys ``cli.*`` for the sentences, ``measure.*``, ``territory.*``,
``disclaimer`` for the terms). JSON output stays machine-readable (stable English keys and names).

The language: the command's ``--lang`` when it has one, else ``[web] language`` of the settings (``--config`` or
the site file), else English.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Mapping
from typing import Any

from device.i18n import message, normalise, parenthesised, t, term


def site_language(args: argparse.Namespace | None = None) -> str:
    """``args.lang`` when given, else the settings' ``[web] language``, else "en" (settings that do not load:
    English; the command itself reports what is wrong with them)."""
    lang = getattr(args, "lang", None) if args is not None else None
    if lang:
        return normalise(lang)
    from device.config import load_settings
    from device.errors import UserError
    try:
        return normalise(load_settings(getattr(args, "config", None)).web.language)
    except (UserError, OSError, ValueError):
        return "en"


def error_line(lang: str, text: str) -> str:
    """The one-line ``error: ...`` of a user error, in ``lang`` when the glossary knows the message."""
    return t(lang, "cli.error", message=message(lang, text))


def measurement_name(lang: str, name: str, method: str = "") -> str:
    """"LV ejection fraction (A4C)" / "左心室射血分数（心尖四腔）" from a stored name and method."""
    base = name.split("_", 1)[1] if name.split("_", 1)[0] in ("a4c", "a2c", "biplane") else name
    label = term(lang, f"measure.{base}", name)
    group = method if method in ("a4c", "a2c", "biplane") else name.split("_", 1)[0]
    if group in ("a4c", "a2c", "biplane"):
        return parenthesised(lang, label, term(lang, f"echo.method.{group}", group.upper()))
    return label


def echo_lines(lang: str, out: Mapping[str, Any], hr_bpm: float | None, model: str) -> list[str]:
    """The human summary of ``python -m device echo measure`` (``out`` is its JSON document)."""
    lines = [t(lang, "cli.echo_frames", file=out["file"], view=out["view"], ed=out["ed_frame"], es=out["es_frame"])]
    for m in out["measurements"]:
        lines.append(f"  {measurement_name(lang, m['name'], m.get('method', '')):<24} {m['value']:>8} {m['unit']}")
    for i in out.get("interpretations", []):
        sep = "：" if lang == "zh-CN" else ": "     # no glossary template "{a}: {b}": it would match any "A: B"
        lines.append(f"  {measurement_name(lang, i['name'])}{sep}"
                     f"{term(lang, 'interp.' + i['interpretation'], i['interpretation'])}")
    for a in out.get("alerts", []):
        lines.append("  " + t(lang, "cli.alert", name=measurement_name(lang, a)))
    hr = t(lang, "cli.hr_from_curve", hr=f"{hr_bpm:.0f}") if hr_bpm else t(lang, "cli.hr_not_checked")
    lines.append("  " + t(lang, "cli.echo_checks", hr=hr))
    lines.append(t(lang, "cli.model", model=model, disclaimer=term(lang, "disclaimer")))
    return lines


def territory_lines(lang: str, territories: Iterable[Any]) -> list[str]:
    """One line per coronary territory of a perfusion analysis (records with territory, prob_at_risk, at_risk,
    extent_pct, severity_sd, reversible_extent_pct)."""
    out = []
    for x in territories:
        rev = (t(lang, "cli.reversible", pct=f"{x.reversible_extent_pct:.0f}")
               if x.reversible_extent_pct is not None else "")
        out.append(t(lang, "cli.territory", territory=term(lang, f"territory.{x.territory}", x.territory),
                     p=f"{x.prob_at_risk:.2f}", state=t(lang, "cli.at_risk" if x.at_risk else "cli.not_at_risk"),
                     extent=f"{x.extent_pct:.0f}", sd=f"{x.severity_sd:.1f}", rev=rev))
    return out


def model_line(lang: str, model: str) -> str:
    return t(lang, "cli.model", model=model, disclaimer=term(lang, "disclaimer"))


def disclaimer(lang: str) -> str:
    return term(lang, "disclaimer")
