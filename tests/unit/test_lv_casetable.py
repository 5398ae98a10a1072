import pytest

from device.errors import ConfigError, InputError
from device.lv.casetable import alerts, interpret, load_case_table, parse_case_table

HEADER = "measurement,sex,low,high,interpretation,alert,source\n"


def by_name(items):
    return {i.measurement: i for i in items}


def test_default_table_interprets_and_alerts():
    got = by_name(interpret({"ef_pct": 35.0, "lvidd_mm": 55.0, "ivsd_mm": 12.0, "esv_ml": None}, "female"))
    assert got["ef_pct"].interpretation == "moderately abnormal" and got["ef_pct"].alert
    assert (got["ef_pct"].normal_low, got["ef_pct"].normal_high) == (54.0, 75.0)
    assert got["lvidd_mm"].interpretation == "mildly abnormal"
    assert got["ivsd_mm"].interpretation == "mildly abnormal" and not got["ivsd_mm"].alert
    assert "esv_ml" not in got


def test_sex_specific_ranges():
    male = by_name(interpret({"lvidd_mm": 55.0, "ef_pct": 53.0}, "male"))
    female = by_name(interpret({"lvidd_mm": 55.0, "ef_pct": 53.0}, "F"))
    assert male["lvidd_mm"].interpretation == "normal" and female["lvidd_mm"].interpretation == "mildly abnormal"
    assert male["ef_pct"].interpretation == "normal" and female["ef_pct"].interpretation == "mildly abnormal"


@pytest.mark.parametrize("ef,alert", [(39.9, True), (40.0, False), (25.0, True), (60.0, False)])
def test_critical_ef_below_40(ef, alert):
    assert bool(alerts(interpret({"ef_pct": ef}, "male"))) is alert


def test_unknown_measurement_has_no_reference():
    (i,) = interpret({"cavity_area_mm2": 900.0}, "male")
    assert i.interpretation == "no reference" and not i.alert


def test_sex_is_required():
    with pytest.raises(InputError):
        interpret({"ef_pct": 50.0}, "")


def test_a_site_can_edit_the_table(tmp_path):
    p = tmp_path / "table.csv"
    p.write_text("# site table\n" + HEADER + "ef_pct,any,,45,reduced,critical,site\nef_pct,any,45,,preserved,,site\n")
    got = interpret({"ef_pct": 44.0}, "male", load_case_table(p))
    assert got[0].interpretation == "reduced" and got[0].alert


@pytest.mark.parametrize("body,where", [
    ("ef_pct,male,abc,50,normal,,x\n", "line 2"),
    ("ef_pct,other,1,50,normal,,x\n", "line 2"),
    ("ef_pct,male,60,50,normal,,x\n", "line 2"),
    ("ef_pct,male,1,50,normal,loud,x\n", "line 2"),
    ("ef_pct,male,1,50,normal,,x\nef_pct,any,40,60,mild,,x\n", "line 3"),
    ("ef_pct,male,1\n", "line 2"),
])
def test_bad_tables_name_the_line(body, where):
    with pytest.raises(ConfigError, match=where):
        parse_case_table(HEADER + body)


def test_missing_or_bad_header(tmp_path):
    with pytest.raises(ConfigError):
        load_case_table(tmp_path / "absent.csv")
    with pytest.raises(ConfigError, match="header"):
        parse_case_table("a,b,c\n")
    with pytest.raises(ConfigError, match="empty"):
        parse_case_table("# only a comment\n")


def test_bundled_table_is_consistent():
    t = load_case_table()
    for m in {r.measurement for r in t.rules}:
        for sex in ("male", "female"):
            rules = t.for_measurement(m, sex)
            if [r.interpretation for r in rules] == ["no published reference"]:   # one explicit whole-line row
                assert rules[0].low is None and rules[0].high is None and rules[0].source, m
                continue
            # a range that includes normal ("normal", "normal or mild pulmonic stenosis" where the guideline does not
            # separate them, "no LVOT obstruction") must exist so the report can show where normal lies; a pattern
            # index without a normal range (E/A: impaired relaxation / indeterminate / restrictive) must instead
            # cover the whole line, so no value falls between its rows
            if not any(r.interpretation.startswith(("normal", "no ")) for r in rules):
                edges = sorted({e for r in rules for e in (r.low, r.high) if e is not None})
                probes = [-1e9, 1e9] + edges + [(a + b) / 2 for a, b in zip(edges, edges[1:])]
                assert all(any(r.contains(v) for r in rules) for v in probes), (m, sex)
