"""Grading of colour-Doppler regurgitant jets: the one data table of cut-offs (issue 14 part 3) and the rule.

Sources: ASE 2017 native valve regurgitation guideline (Zoghbi WA et al., J Am Soc Echocardiogr 2017;30:303-371,
tables 4, 9, 11, 13) and, for the MR jet/LA area ratio that the 2017 text gives only as "small central" /
"large central > 50 % of LA", the ASE 2003 cut-offs (Zoghbi et al., JASE 2003;16:777-802: < 20 % mild, > 40 %
severe). PR has no ASE mild cut-off for jet width / RVOT: "< 25 %" is a LOCAL rule (by analogy with AR).

Each criterion scores mild (1) below ``mild_below``, severe (3) at or above ``severe_from`` (strictly above when
``severe_strict``), moderate (2) between. The valve's grade is the mean of its measured criteria' scores rounded
half up (1.5 -> moderate, 2.5 -> severe): one number each, every step shown in the rule text.
"""

from __future__ import annotations

from dataclasses import dataclass

GRADES = ("none", "mild", "moderate", "severe")
VALVES = ("MR", "TR", "AR", "PR")


@dataclass(frozen=True)
class Criterion:
    valve: str
    measure: str          # key of a jet record's values: jet_area_cm2, jet_atrium_pct, vc_mm, jet_outflow_pct
    label: str
    unit: str
    mild_below: float
    severe_from: float
    severe_strict: bool   # True: severe when value > severe_from; False: when value >= severe_from
    source: str


RULES: tuple[Criterion, ...] = (
    Criterion("MR", "jet_area_cm2", "jet area", "cm2", 4.0, 10.0, True, "ASE 2017 table 4 / ASE 2003"),
    Criterion("MR", "jet_atrium_pct", "jet/LA area", "%", 20.0, 40.0, True, "ASE 2003 (2017: large > 50 % LA)"),
    Criterion("MR", "vc_mm", "vena contracta", "mm", 3.0, 7.0, False, "ASE 2017 table 4"),
    Criterion("TR", "jet_area_cm2", "jet area", "cm2", 5.0, 10.0, True, "ASE 2017 table 11"),
    Criterion("TR", "vc_mm", "vena contracta", "mm", 3.0, 7.0, False, "ASE 2017 table 11"),
    Criterion("AR", "jet_outflow_pct", "jet width/LVOT", "%", 25.0, 65.0, False, "ASE 2017 table 9"),
    Criterion("AR", "vc_mm", "vena contracta", "mm", 3.0, 6.0, True, "ASE 2017 table 9"),
    Criterion("PR", "jet_outflow_pct", "jet width/RVOT", "%", 25.0, 50.0, False,
              "ASE 2017 table 13 (severe > 50-65 %); mild < 25 % local rule"),
)


def rules_for(valve: str) -> tuple[Criterion, ...]:
    return tuple(c for c in RULES if c.valve == valve)


def criterion_score(c: Criterion, value: float) -> int:
    """1 mild, 2 moderate, 3 severe for one criterion."""
    if value < c.mild_below:
        return 1
    if value > c.severe_from or (value == c.severe_from and not c.severe_strict):
        return 3
    return 2


def band_text(c: Criterion) -> str:
    return f"mild <{c.mild_below:g}, severe {'>' if c.severe_strict else '>='}{c.severe_from:g} {c.unit}"


def grade(valve: str, values: dict[str, float | None]) -> tuple[str, str]:
    """(grade, rule text) of a valve's jet from its measured values; ("none", ...) when no criterion is measured
    because no jet was found is the caller's business: with no measured criterion this returns ("", reason)."""
    parts, scores = [], []
    for c in rules_for(valve):
        v = values.get(c.measure)
        if v is None:
            continue
        s = criterion_score(c, float(v))
        scores.append(s)
        parts.append(f"{c.label} {float(v):.1f} {c.unit} ({band_text(c)}; {c.source}) -> {GRADES[s]}")
    if not scores:
        return "", f"{valve}: no grading criterion measured"
    mean = sum(scores) / len(scores)
    g = GRADES[min(3, int(mean + 0.5))]
    return g, f"{valve}: " + "; ".join(parts) + f"; grade = mean of criteria {mean:.2f} rounded -> {g}"


def table_rows() -> list[dict[str, object]]:
    """The rules as rows (for the report's legend, the CLI and EVALUATION.md)."""
    return [{"valve": c.valve, "criterion": c.label, "unit": c.unit, "mild": f"<{c.mild_below:g}",
             "severe": f"{'>' if c.severe_strict else '>='}{c.severe_from:g}", "source": c.source} for c in RULES]
