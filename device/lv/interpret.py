"""Echo LV measurement names read against the case table (pure): which view group and case-table name a stored
name has, its label, and its interpretation for the patient's sex.

Stored names are the ones device/services/echo_measure.py writes: ``a4c_ef_pct``, ``a2c_edv_ml``,
``biplane_ef_pct``, ``lvidd_mm``, ``sax_ed_rwt1_mm`` ...; short-axis MRI values are stored as ``mri_sax_ed_rwt1_mm``,
``mri_sax_edv_ml`` (:func:`mri_name`). The case table knows the case names (``ef_pct``, ``sax_ed_wall_thickness_mm``,
``cmr_edv_ml`` ...: :func:`case_name`). The table is always passed in (built from the settings by the caller), never
read here.
"""

from __future__ import annotations

from device.lv.casetable import CaseTable, interpret
from device.lv.report import LABELS_EN

SAX_LABELS = {"cavity_area_mm2": "cavity area", "myo_area_mm2": "myocardium area", "dim1_mm": "dimension IS-AL",
              "dim2_mm": "dimension I-A", "dim3_mm": "dimension IL-AS", "rwt1_mm": "wall thickness IS",
              "rwt2_mm": "wall thickness I", "rwt3_mm": "wall thickness IL", "rwt4_mm": "wall thickness AL",
              "rwt5_mm": "wall thickness A", "rwt6_mm": "wall thickness AS"}
SAX_STACK_NAMES = ("edv_ml", "esv_ml", "sv_ml", "ef_pct")   # of a short-axis MRI stack (device/lv/sax_volumes.py)
PLAX_NAMES = ("lvidd_mm", "lvids_mm", "ivsd_mm", "lvpwd_mm", "aortic_root_mm", "la_diameter_mm", "fs_pct",
              "teichholz_edv_ml", "teichholz_esv_ml", "teichholz_ef_pct")


def split_name(name: str) -> tuple[str, str] | None:
    """(group, case-table name) of a stored echo LV measurement name, or None for other names."""
    for pre in ("biplane", "a4c", "a2c"):
        if name.startswith(pre + "_") and name[len(pre) + 1:] in ("edv_ml", "esv_ml", "sv_ml", "ef_pct"):
            return pre, name[len(pre) + 1:]
    if name in PLAX_NAMES:
        return "plax", name
    if name.startswith(("sax_ed_", "sax_es_")) and name[7:] in SAX_LABELS:
        return "sax", name[7:]
    return None


def mri_name(column: str, phase: str | None = None) -> str:
    """The stored name of a short-axis MRI value: an LVQuan column of one phase (``mri_name("rwt4_mm", "ed")`` ->
    ``mri_sax_ed_rwt4_mm``) or a stack value (``mri_name("edv_ml")`` -> ``mri_sax_edv_ml``)."""
    return f"mri_sax_{phase}_{column}" if phase else f"mri_sax_{column}"


def case_name(name: str) -> str:
    """The case-table name of a stored LV value (names it does not know are returned unchanged).

    Per-segment and per-axis short-axis names fold to one case-table name per phase (one reference range for every
    sector): echo PSAX ``sax_ed_rwt4_mm`` -> ``sax_ed_wall_thickness_mm``, ``sax_es_dim2_mm`` ->
    ``sax_es_dimension_mm``; short-axis MRI ``mri_sax_ed_rwt4_mm`` -> ``cmr_ed_wall_thickness_mm`` and stack values
    ``mri_sax_edv_ml`` -> ``cmr_edv_ml`` (CMR rows, never the echo ones). Other echo names: their
    :func:`split_name` base (``a4c_ef_pct`` -> ``ef_pct``)."""
    if name.startswith("mri_sax_"):
        rest = name[len("mri_sax_"):]
        if rest in SAX_STACK_NAMES:
            return "cmr_" + rest
        if split_name("sax_" + rest) is None:
            return name
        return "cmr_" + case_name("sax_" + rest)[len("sax_"):]
    sp = split_name(name)
    if sp is None:
        return name
    group, base = sp
    if group != "sax":
        return base
    phase = name[:7]                       # "sax_ed_" / "sax_es_"
    if base.startswith("rwt"):
        return phase + "wall_thickness_mm"
    if base.startswith("dim"):
        return phase + "dimension_mm"
    return phase + base


def label_of(name: str) -> str:
    if name.startswith("mri_sax_"):
        rest = name[len("mri_sax_"):]
        if rest in SAX_STACK_NAMES:
            return f"{LABELS_EN.get(rest, rest)} (short-axis MRI)"
        if split_name("sax_" + rest) is not None:
            return f"{label_of('sax_' + rest)} (short-axis MRI)"
    sp = split_name(name)
    if sp is None:
        return LABELS_EN.get(name, name)
    group, base = sp
    if group == "sax":
        return f"{name[4:6].upper()} {SAX_LABELS[base]}"
    label = LABELS_EN.get(base, base)
    return label if group == "plax" else f"{label} ({'biplane' if group == 'biplane' else group.upper()})"


def sex_of(patient_sex: str) -> str | None:
    return {"M": "male", "F": "female"}.get((patient_sex or "").upper()[:1])


def interpret_value(base: str, value: float, sex: str | None, table: CaseTable
                    ) -> tuple[str, float | None, float | None, bool]:
    """(interpretation, normal low, normal high, alert) of a stored or case-table name (``sax_ed_rwt4_mm`` is read
    as ``sax_ed_wall_thickness_mm``: :func:`case_name`). Without the patient's sex, a value is interpreted only
    where the male and female rows agree (e.g. EF below 40 % is critical for both); its range is then not shown."""
    base = case_name(base)
    if sex is not None:
        (i,) = interpret({base: value}, sex, table) or [None]
        if i is None:
            return "no reference", None, None, False
        return i.interpretation, i.normal_low, i.normal_high, i.alert
    m = interpret({base: value}, "male", table)
    f = interpret({base: value}, "female", table)
    if m and f and m[0].interpretation == f[0].interpretation and m[0].interpretation != "no reference":
        return m[0].interpretation, None, None, m[0].alert and f[0].alert
    if m and m[0].interpretation == "no reference":
        return "no reference", None, None, False
    return "no reference range: the patient's sex is not recorded", None, None, False


def _inclusive(x: float) -> float | None:
    """The round number a bound like 2.8001 stands for (the table writes "<= 2.8" as high 2.8001), else None."""
    r = round(x, 2)
    return r if 0 < x - r <= 1e-3 else None


def reference_text(lo: float | None, hi: float | None, unit: str) -> str:
    if lo is None and hi is None:
        return ""
    lo_r = _inclusive(lo) if lo is not None else None
    hi_r = _inclusive(hi) if hi is not None else None
    if lo is None and hi is not None:
        return f"<= {hi_r:g} {unit}" if hi_r is not None else f"< {hi:g} {unit}"
    if hi is None and lo is not None:
        return f"> {lo_r:g} {unit}" if lo_r is not None else f">= {lo:g} {unit}"
    lo_v = lo_r if lo_r is not None else lo
    hi_v = hi_r if hi_r is not None else hi
    return f"{lo_v:g}-{hi_v:g} {unit}"
