"""FHIR R4 bundle: structure, LOINC codes, references that resolve, stable ids."""

from __future__ import annotations

import base64
import datetime as dt
import json

from device.reports.codes import concept_for, normalise_name
from device.reports.fhir import diagnostic_report_bundle
from device.reports.model import correct, sign
from device.reports.sample import sample_report

NOW = dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.UTC)


def _by_type(bundle, rtype):
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == rtype]


def test_echo_bundle_structure_and_codes():
    d = sign(sample_report("echo"), "Dr. Roe", NOW)
    b = json.loads(json.dumps(diagnostic_report_bundle(d, pdf=b"%PDF-1.4 x")))
    assert b["resourceType"] == "Bundle" and b["type"] == "transaction"
    urls = {e["fullUrl"] for e in b["entry"]}
    [report] = _by_type(b, "DiagnosticReport")
    obs = _by_type(b, "Observation")
    assert report["status"] == "final" and len(obs) == len(d.measurements)
    assert {r["reference"] for r in report["result"]} <= urls
    assert report["subject"]["reference"] in urls
    assert base64.b64decode(report["presentedForm"][0]["data"]) == b"%PDF-1.4 x"
    lvef = next(o for o in obs if o["code"]["text"] == "LVEF")
    assert lvef["code"]["coding"][0] == {"system": "http://loinc.org", "code": "18043-0",
                                         "display": "Left Ventricular Ejection Fraction by US"}
    assert lvef["valueQuantity"] == {"value": 58.2, "unit": "%", "system": "http://unitsofmeasure.org", "code": "%"}
    assert lvef["referenceRange"][0]["low"]["value"] == 52
    assert lvef["interpretation"][0]["coding"][0]["code"] == "N"
    assert lvef["device"]["reference"] in urls
    edv = next(o for o in obs if o["code"]["text"] == "LVEDV")
    assert edv["interpretation"][0]["coding"][0]["code"] == "H"
    gls = next(o for o in obs if o["code"]["text"] == "GLS")
    assert gls["code"]["coding"][0]["system"] == "urn:cardiocart:measurement"
    assert d.disclaimer in report["conclusion"]
    for e in b["entry"]:
        assert e["request"]["method"] == "PUT" and "?identifier=" in e["request"]["url"]


def test_ecg_codes_and_status_of_draft_and_correction():
    d = sample_report("ecg")
    b = diagnostic_report_bundle(d)
    codes = {o["code"]["coding"][0]["code"] for o in _by_type(b, "Observation")}
    assert codes == {"8867-4", "8625-6", "8633-0", "8636-3"}
    assert _by_type(b, "DiagnosticReport")[0]["status"] == "preliminary"
    signed = sign(d, "Dr. Roe", NOW)
    corrected = sign(correct(signed, "typo", free_text="x"), "Dr. Roe", NOW)
    assert _by_type(diagnostic_report_bundle(corrected), "DiagnosticReport")[0]["status"] == "corrected"


def test_ids_stable_and_distinct_per_version():
    d = sample_report("perfusion")
    a, b = diagnostic_report_bundle(d), diagnostic_report_bundle(d)
    assert [e["fullUrl"] for e in a["entry"]] == [e["fullUrl"] for e in b["entry"]]
    v2 = correct(sign(d, "Dr. Roe", NOW), "fix")
    c = diagnostic_report_bundle(v2)
    assert _by_type(c, "DiagnosticReport")[0]["identifier"][0] != _by_type(a, "DiagnosticReport")[0]["identifier"][0]


def test_name_normalisation():
    assert normalise_name("EF_pct", "echo") == "lvef"
    assert concept_for("ecg", "QTc_ms").code == "8636-3"
    assert concept_for("ecg", "qt_interval").code == "8634-8"
    assert concept_for("echo", "hr_bpm").code == "8867-4"
    c = concept_for("perfusion", "summed_stress_score_with_long_name")
    assert c.is_local and len(c.code) <= 16


def test_signing_updates_the_same_fhir_resources():
    d = sample_report("ecg")
    draft, final = diagnostic_report_bundle(d), diagnostic_report_bundle(sign(d, "Dr. Roe", NOW))
    assert [e["request"]["url"] for e in draft["entry"]] == [e["request"]["url"] for e in final["entry"]]
    assert _by_type(final, "DiagnosticReport")[0]["status"] == "final"


def test_every_loinc_code_passes_its_check_digit():
    from device.reports.codes import ECG, ECHO, PERFUSION, loinc_check_digit_ok
    from device.reports.fhir import _REPORT_CODES
    assert loinc_check_digit_ok("8867-4") and not loinc_check_digit_ok("8633-2") and not loinc_check_digit_ok("x")
    codes = [c.code for table in (ECHO, ECG, PERFUSION) for c, _ in table.values() if c.scheme == "LN"]
    codes += [code for code, _ in _REPORT_CODES.values()]
    bad = [c for c in codes if not loinc_check_digit_ok(c)]
    assert bad == []
