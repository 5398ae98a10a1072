"""Every value a person may type: its unit, its physiological range, how it is parsed, what is derived from it.

Pure functions, no I/O. ``parse_number`` accepts ASCII digits with one decimal point only (``float`` also takes
``1_000``, Arabic-Indic digits, ``1e308``, ``nan`` and 309-digit numbers: a signed report once showed each of them);
``check`` refuses a value outside the range of its measurement, naming the range; ``derived`` recomputes what
depends on an edited value (QTc from QT and RR/HR, SV and EF from EDV and ESV, E/e' from E and e', LV mass from
the PLAX dimensions, indexed values by BSA) and ``check_derived`` refuses an edit that makes one out of range;
``reindexed`` recomputes the indexed values after the height or weight changed.

Ranges are wide physiological limits (what a living patient can show, not normal limits): a value outside is a typo.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from device.errors import InputError

_NUMBER = re.compile(r"[+-]?[0-9]{1,6}(?:\.[0-9]{1,4})?")


@dataclass(frozen=True)
class ValueSpec:
    """``unit`` as stored; ``low``/``high`` inclusive physiological limits; ``label`` for messages."""

    label: str
    unit: str
    low: float
    high: float


# exact names first; then suffix rules (echo measurements carry the view: a4c_ef_pct, biplane_edv_ml, plax_ivsd_mm)
EXACT: dict[str, ValueSpec] = {
    "hr_bpm": ValueSpec("heart rate", "/min", 20, 300),
    "rr_ms": ValueSpec("RR interval", "ms", 200, 3000),
    "pr_ms": ValueSpec("PR interval", "ms", 40, 600),
    "qrs_ms": ValueSpec("QRS duration", "ms", 30, 300),
    "qt_ms": ValueSpec("QT interval", "ms", 150, 800),
    "qtc_bazett_ms": ValueSpec("QTc (Bazett)", "ms", 150, 900),
    "qtc_fridericia_ms": ValueSpec("QTc (Fridericia)", "ms", 150, 900),
    "axis_deg": ValueSpec("QRS axis", "deg", -180, 180),
    "p_axis_deg": ValueSpec("P axis", "deg", -180, 180),
    "t_axis_deg": ValueSpec("T axis", "deg", -180, 180),
    "st_j_mv": ValueSpec("ST level at J", "mV", -2, 2),
    "height_cm": ValueSpec("height", "cm", 30, 250),
    "weight_kg": ValueSpec("weight", "kg", 1, 400),
    "bsa_m2": ValueSpec("body surface area", "m2", 0.1, 3.5),
    "mv_e_cm_s": ValueSpec("mitral E velocity", "cm/s", 10, 300),
    "mv_a_cm_s": ValueSpec("mitral A velocity", "cm/s", 5, 250),
    "e_prime_septal_cm_s": ValueSpec("septal e' velocity", "cm/s", 1, 40),
    "e_prime_lateral_cm_s": ValueSpec("lateral e' velocity", "cm/s", 1, 40),
    "e_prime_cm_s": ValueSpec("e' velocity", "cm/s", 1, 40),
    # colour-Doppler regurgitant jet grades (device/usecases/echo_jets.py): 0 none, 1 mild, 2 moderate, 3 severe
    **{f"{v}_grade": ValueSpec(f"{v.upper()} grade (0 none, 1 mild, 2 moderate, 3 severe)", "", 0, 3)
       for v in ("mr", "tr", "ar", "pr")},
    "ar_jet_lvot_pct": ValueSpec("AR jet width/LVOT", "%", 0, 150),
    "pr_jet_rvot_pct": ValueSpec("PR jet width/RVOT", "%", 0, 150),
    "av_ava_index_cm2_m2": ValueSpec("indexed aortic valve area", "cm2/m2", 0.02, 5),
    "la_volume_ml": ValueSpec("LA volume", "mL", 3, 600),     # biplane area-length (device/services/la_biplane.py)
}
SUFFIX: tuple[tuple[str, ValueSpec], ...] = (
    ("_ef_pct", ValueSpec("ejection fraction", "%", 3, 95)),
    ("_fs_pct", ValueSpec("fractional shortening", "%", 1, 75)),
    ("_edv_ml", ValueSpec("end-diastolic volume", "mL", 5, 800)),
    ("_esv_ml", ValueSpec("end-systolic volume", "mL", 2, 700)),
    ("_sv_ml", ValueSpec("stroke volume", "mL", 3, 250)),
    ("_ml_m2", ValueSpec("indexed volume", "mL/m2", 1, 400)),
    ("_g_m2", ValueSpec("LV mass index", "g/m2", 10, 500)),
    ("_mass_g", ValueSpec("LV mass", "g", 20, 1500)),
    ("e_e_prime", ValueSpec("E/e'", "", 1, 60)),
    ("_cm_s", ValueSpec("velocity", "cm/s", 1, 700)),
    ("_mm", ValueSpec("length", "mm", 1, 150)),
    ("_mm2", ValueSpec("area", "mm2", 10, 15000)),          # 2-D contours (RA / LA areas)
    ("_cm2", ValueSpec("area", "cm2", 0.1, 150)),
    ("_ms", ValueSpec("duration", "ms", 1, 5000)),
    ("_pct", ValueSpec("percentage", "%", 0, 100)),
    ("_bpm", ValueSpec("rate", "/min", 20, 300)),
    ("_deg", ValueSpec("angle", "deg", -180, 180)),
)


def spec(name: str) -> ValueSpec | None:
    """The spec of measurement ``name`` (None: not an editable value the table knows)."""
    if name in EXACT:
        return EXACT[name]
    return next((s for suf, s in SUFFIX if name.endswith(suf)), None)


def parse_number(raw: str) -> float:
    """A typed number: optional sign, 1-6 ASCII digits, optional decimal point (or comma) and 1-4 decimals."""
    text = raw.strip().replace(",", ".")
    if not text.isascii() or not _NUMBER.fullmatch(text):
        shown = raw.strip()[:20] + ("..." if len(raw.strip()) > 20 else "")
        raise InputError(f"'{shown}' is not a plain number; type it with the digits 0-9 and a decimal point, "
                         "e.g. 412 or 62.5")
    return float(text)


def check(name: str, value: float) -> float:
    """``value`` when it lies in the range of ``name``; InputError naming the range otherwise."""
    if not math.isfinite(value):
        raise InputError("the value must be a finite number")
    s = spec(name)
    if s is not None and not s.low <= value <= s.high:
        unit = f" {s.unit}" if s.unit else ""
        raise InputError(f"{s.label} must be {s.low:g}-{s.high:g}{unit}; {value:g}{unit} is outside that range "
                         "(check for a typo)")
    return value


# indexed values: base (after a view prefix such as biplane_) -> its index by body surface area
INDEXED = {"edv_ml": "edv_index_ml_m2", "esv_ml": "esv_index_ml_m2", "sv_ml": "sv_index_ml_m2",
           "la_volume_ml": "la_volume_index_ml_m2", "lv_mass_g": "lv_mass_index_g_m2",
           "ava_cm2": "ava_index_cm2_m2"}
_E_PRIMES = ("e_prime_septal_cm_s", "e_prime_lateral_cm_s")


def bsa_m2(height_cm: float | None, weight_kg: float | None) -> float | None:
    """Mosteller body surface area (m2); None when height or weight is missing."""
    return math.sqrt(height_cm * weight_kg / 3600.0) if height_cm and weight_kg and height_cm > 0 < weight_kg \
        else None


def lv_mass_g(ivsd_mm: float, lvidd_mm: float, lvpwd_mm: float) -> float:
    """ASE/Devereux linear LV mass: 0.8 x 1.04 x [(IVSd + LVIDd + PWd)^3 - LVIDd^3] + 0.6 g (dimensions in cm)."""
    ivs, lvid, pw = ivsd_mm / 10.0, lvidd_mm / 10.0, lvpwd_mm / 10.0
    return 0.8 * 1.04 * ((ivs + lvid + pw) ** 3 - lvid ** 3) + 0.6


def ava_cm2(lvot_diam_mm: float, lvot_vti_cm: float, av_vti_cm: float) -> float:
    """Aortic valve area by the continuity equation (ASE/EACVI 2017): pi (LVOT d / 2)^2 x LVOT VTI / AV VTI, cm2."""
    return math.pi * (lvot_diam_mm / 20.0) ** 2 * lvot_vti_cm / av_vti_cm


def _index_names(values: dict[str, float]) -> dict[str, str]:
    """index name -> base name, for the indexed values present in ``values`` whose base is present too."""
    out = {}
    for name in values:
        for base, idx in INDEXED.items():
            if name.endswith(idx) and (b := name[: len(name) - len(idx)] + base) in values:
                out[name] = b
    return out


def reindexed(values: dict[str, float], bsa: float | None) -> dict[str, float]:
    """Every indexed value present in ``values`` recomputed from its base and ``bsa`` (after height or weight
    changed); nothing when the BSA is unknown."""
    if not bsa:
        return {}
    return {idx: round(values[base] / bsa, 2) for idx, base in _index_names(values).items()}


def check_derived(derived_values: dict[str, float], edited: str) -> None:
    """Refuse an edit whose derived values fall outside their ranges (InputError naming the value and range)."""
    for name, v in derived_values.items():
        s = spec(name)
        if s is not None and not (math.isfinite(v) and s.low <= v <= s.high):
            unit = f" {s.unit}" if s.unit else ""
            src = spec(edited)
            raise InputError(f"with this {src.label if src else edited}, {s.label} would be {v:g}{unit}, outside "
                             f"{s.low:g}-{s.high:g}{unit}; check the value (and the values it is computed with)")


def derived(edited: str, values: dict[str, float], bsa: float | None = None) -> dict[str, float]:
    """Values to recompute after ``edited`` changed, from the current ``values`` (name -> value, the edit
    included): QTc (Bazett, Fridericia) from QT and RR (or heart rate); stroke volume and EF from EDV and ESV of
    the same view prefix; E/e' from mitral E and e' (the mean of septal and lateral when both are known); Doppler
    peak gradients (4 v^2) from TR/AV/LVOT peak velocity and RVSP from TR velocity and the RA pressure; the
    linear LV mass from IVSd, LVIDd and LVPWd; indexed values (``INDEXED``) from their base and ``bsa`` (m2).
    Only names already in ``values`` are returned (nothing is invented)."""
    out: dict[str, float] = {}
    if edited in ("qt_ms", "rr_ms", "hr_bpm"):
        qt, hr = values.get("qt_ms"), values.get("hr_bpm")
        if edited == "hr_bpm" or "rr_ms" not in values:
            rr_ms = 60000.0 / hr if hr else None
        else:
            rr_ms = values["rr_ms"]
        if edited == "hr_bpm" and "rr_ms" in values and rr_ms:
            out["rr_ms"] = rr_ms
        if edited == "rr_ms" and "hr_bpm" in values and rr_ms:
            out["hr_bpm"] = 60000.0 / rr_ms
        if qt and rr_ms:
            rr_s = rr_ms / 1000.0
            if "qtc_bazett_ms" in values:
                out["qtc_bazett_ms"] = qt / math.sqrt(rr_s)
            if "qtc_fridericia_ms" in values:
                out["qtc_fridericia_ms"] = qt / rr_s ** (1.0 / 3.0)
    for suf in ("_edv_ml", "_esv_ml"):
        if edited.endswith(suf):
            prefix = edited[: -len(suf)]
            edv, esv = values.get(prefix + "_edv_ml"), values.get(prefix + "_esv_ml")
            if edv and esv is not None and edv > 0:
                if prefix + "_sv_ml" in values:
                    out[prefix + "_sv_ml"] = edv - esv
                if prefix + "_ef_pct" in values:
                    out[prefix + "_ef_pct"] = 100.0 * (edv - esv) / edv
    if edited in ("mv_e_cm_s", "e_prime_cm_s", *_E_PRIMES) and "mv_e_cm_s" in values:
        primes = [values[k] for k in _E_PRIMES if values.get(k)] or \
            ([values["e_prime_cm_s"]] if values.get("e_prime_cm_s") else [])
        if primes and "mv_e_e_prime" in values:
            out["mv_e_e_prime"] = values["mv_e_cm_s"] / (sum(primes) / len(primes))
    for pre in ("tr", "av", "lvot"):    # spectral Doppler: simplified Bernoulli 4 v^2 (mmHg, v in m/s)
        if edited == f"{pre}_vmax_m_s" and f"{pre}_peak_gradient_mmhg" in values:
            out[f"{pre}_peak_gradient_mmhg"] = float(round(4.0 * values[edited] ** 2))
    if edited in ("lvot_vti_cm", "av_vti_cm") and "av_dvi" in values and values.get("av_vti_cm") \
            and values.get("lvot_vti_cm") is not None:     # dimensionless velocity index (aortic stenosis)
        out["av_dvi"] = float(round(values["lvot_vti_cm"] / values["av_vti_cm"], 2))
    if edited in ("lvot_diam_mm", "lvot_vti_cm", "av_vti_cm") and "av_ava_cm2" in values and values.get("av_vti_cm") \
            and values.get("lvot_vti_cm") and values.get("lvot_diam_mm"):     # continuity-equation AVA
        out["av_ava_cm2"] = ava_cm2(values["lvot_diam_mm"], values["lvot_vti_cm"], values["av_vti_cm"])
    if edited in ("tr_vmax_m_s", "ra_pressure_mmhg") and "rvsp_mmhg" in values and "tr_vmax_m_s" in values \
            and "ra_pressure_mmhg" in values:
        out["rvsp_mmhg"] = float(round(4.0 * values["tr_vmax_m_s"] ** 2 + values["ra_pressure_mmhg"]))
    for suf in ("_ivsd_mm", "_lvidd_mm", "_lvpwd_mm"):
        if edited.endswith(suf):
            p = edited[: -len(suf)]
            dims = [values.get(p + k) or 0.0 for k in ("_ivsd_mm", "_lvidd_mm", "_lvpwd_mm")]
            if all(dims) and p + "_lv_mass_g" in values:
                out[p + "_lv_mass_g"] = lv_mass_g(*dims)
    if bsa:
        now = {**values, **out}
        out |= {idx: now[base] / bsa for idx, base in _index_names(now).items() if base == edited or base in out}
    return {k: round(v, 2) for k, v in out.items()}
