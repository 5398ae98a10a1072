"""Issue 16 point 4: every LV value the cart outputs has a case-table row (or is a named, documented gap), and a
site's own table (settings [lv] case_table) changes a range."""

from dataclasses import fields
from types import SimpleNamespace

from device.lv.casetable import DEFAULT_TABLE, interpret, load_case_table
from device.lv.interpret import PLAX_NAMES, SAX_LABELS, SAX_STACK_NAMES, case_name, interpret_value, mri_name, split_name
from device.lv.sax_volumes import StackVolumes
from device.usecases.echo_exam import case_table as site_case_table
from device.usecases.sax import COLUMNS as SAX_MRI_COLUMNS
from device.values import INDEXED

# values the cart outputs for which no published reference is in the bundled table yet (README / issue 16 notes):
# ASE/EACVI 2015 gives no SV or un-indexed LA volume ranges and advises against Teichholz volumes.
KNOWN_GAPS = {"sv_ml", "sv_index_ml_m2", "la_volume_ml", "teichholz_edv_ml", "teichholz_esv_ml"}
# short-axis values with an explicit "no published reference" row (2-D areas, diameters, ES wall, stack SV)
NO_PUBLISHED = {f"{m}_{ph}_{k}" for m in ("sax", "cmr") for ph in ("ed", "es")
                for k in ("cavity_area_mm2", "myo_area_mm2", "dimension_mm")} | {
    "sax_es_wall_thickness_mm", "cmr_es_wall_thickness_mm", "cmr_sv_ml"}


def stored_names() -> list[str]:
    """Every LV name the cart stores or writes, enumerated from the code's own name lists: echo apical/PLAX/PSAX
    names, and short-axis MRI: each LVQuan column of device/usecases/sax.py at ED and ES and each stack value
    of device/lv/sax_volumes.py."""
    stored = [f"{v}_{b}" for v in ("biplane", "a4c", "a2c") for b in ("edv_ml", "esv_ml", "sv_ml", "ef_pct")]
    stored += list(PLAX_NAMES) + [f"sax_{ph}_{k}" for ph in ("ed", "es") for k in SAX_LABELS]
    mri_cols = [c for c in SAX_MRI_COLUMNS if c not in ("file", "frame", "phase")]
    assert set(mri_cols) == set(SAX_LABELS)
    stack = [f.name for f in fields(StackVolumes) if f.type == "float" and f.name.endswith(("_ml", "_pct"))]
    assert set(stack) == set(SAX_STACK_NAMES), stack
    stored += [mri_name(c, ph) for ph in ("ed", "es") for c in mri_cols] + [mri_name(k) for k in stack]
    return stored


def output_names() -> set[str]:
    """Case-table names of every LV value the code writes."""
    names = {case_name(n) for n in stored_names()}
    # INDEXED holds name suffixes; the LV ones are names too. The aortic valve area (av_ava_cm2 and its index) is
    # graded by stenosis severity, not normal/abnormal: its rows are checked below
    names |= {n for n in set(INDEXED) | set(INDEXED.values()) if not n.startswith("ava_")}
    names |= {"mv_e_e_prime", "e_prime_septal_cm_s", "e_prime_lateral_cm_s"}
    return names


def test_every_output_has_a_reference_or_is_a_named_gap():
    table = load_case_table()
    names = output_names()
    assert len(names) >= 40
    missing = set()
    for name in sorted(names):
        for sex in ("male", "female"):
            rules = table.for_measurement(name, sex)
            if not rules:
                missing.add(name)
                continue
            assert all(r.source for r in rules), name
            if name in NO_PUBLISHED:
                assert [r.interpretation for r in rules] == ["no published reference"], name
            else:
                assert any(r.interpretation == "normal" for r in rules), (name, sex)
            for v in (-1e6, 0.0, 1e6):          # the rows cover the whole line: nothing falls between them
                (got,) = interpret({name: v}, sex, table)
                assert got.interpretation != "no reference", (name, sex, v)
    assert missing == KNOWN_GAPS & names, sorted(missing ^ (KNOWN_GAPS & names))
    assert names >= NO_PUBLISHED


def test_short_axis_names_fold_to_their_rows():
    """Prefixed, per-segment names reach the right rows: echo PSAX against ASE 2015, MRI against CMR (Kawel 2012:
    men 6.3 +/- 1.1 mm); a 9 mm wall is normal on echo but above the CMR range; nothing falls to 'no reference'."""
    table = load_case_table()
    assert {case_name(f"sax_ed_rwt{i}_mm") for i in range(1, 7)} == {"sax_ed_wall_thickness_mm"}
    assert {case_name(mri_name(f"rwt{i}_mm", "ed")) for i in range(1, 7)} == {"cmr_ed_wall_thickness_mm"}
    assert case_name("mri_sax_es_dim3_mm") == "cmr_es_dimension_mm" and case_name("a4c_ef_pct") == "ef_pct"
    assert case_name("mri_sax_unknown_mm") == "mri_sax_unknown_mm"
    assert interpret_value("sax_ed_rwt4_mm", 9.0, "male", table)[:3] == ("normal", 6.0, 11.0)
    assert interpret_value("mri_sax_ed_rwt4_mm", 9.0, "male", table)[:3] == ("above normal range", 4.1, 8.5)
    assert interpret_value("mri_sax_ed_rwt4_mm", 7.5, "female", table)[0] == "above normal range"
    assert interpret_value("mri_sax_ed_cavity_area_mm2", 900.0, None, table)[0] == "no published reference"
    # CMR volumes are larger than echo ones: 190 mL is enlarged on echo (men > 151) but normal on CMR (< 218)
    assert interpret_value("biplane_edv_ml", 190.0, "male", table)[0] == "enlarged"
    assert interpret_value(mri_name("edv_ml"), 190.0, "male", table)[0] == "normal"
    ef = interpret_value(mri_name("ef_pct"), 35.0, "female", table)
    assert ef[0] == "moderately abnormal" and ef[3] is True
    assert split_name("sax_ed_rwt4_mm") == ("sax", "rwt4_mm")     # labels / i18n keys keep the per-segment base


def test_indexed_and_mass_rows_are_sex_specific():
    m = {i.measurement: i for i in interpret({"lv_mass_index_g_m2": 100.0, "edv_index_ml_m2": 70.0}, "male")}
    f = {i.measurement: i for i in interpret({"lv_mass_index_g_m2": 100.0, "edv_index_ml_m2": 70.0}, "female")}
    assert m["lv_mass_index_g_m2"].interpretation == "normal"
    assert f["lv_mass_index_g_m2"].interpretation == "mildly abnormal"
    assert m["edv_index_ml_m2"].interpretation == "normal" and f["edv_index_ml_m2"].interpretation == "enlarged"


def test_site_table_overrides_a_range(tmp_path):
    text = DEFAULT_TABLE.read_text(encoding="utf-8")
    edited = text.replace("lvidd_mm,male,42,59,normal", "lvidd_mm,male,42,56,normal").replace(
        "lvidd_mm,male,59,64,mildly abnormal", "lvidd_mm,male,56,64,mildly abnormal")
    assert edited != text
    site = tmp_path / "site_case_table.csv"
    site.write_text(edited, encoding="utf-8")
    bundled = site_case_table(SimpleNamespace(lv=SimpleNamespace(case_table="")))
    ours = site_case_table(SimpleNamespace(lv=SimpleNamespace(case_table=str(site))))
    (a,) = interpret({"lvidd_mm": 57.0}, "male", bundled)
    (b,) = interpret({"lvidd_mm": 57.0}, "male", ours)
    assert (a.interpretation, a.normal_high) == ("normal", 59.0)
    assert (b.interpretation, b.normal_high) == ("mildly abnormal", 56.0)


def test_aortic_valve_area_grades_cover_the_line():
    table = load_case_table()
    for name, cuts in (("av_ava_cm2", (0.8, 1.2, 2.0)), ("av_ava_index_cm2_m2", (0.5, 0.7, 1.0))):
        got = [interpret({name: v}, "female", table)[0].interpretation for v in (*cuts, -1e6, 1e6)]
        assert got[:3] == ["severe aortic stenosis", "moderate aortic stenosis", "no or mild aortic stenosis"], got
        assert "no reference" not in got
