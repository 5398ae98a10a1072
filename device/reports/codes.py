"""Codes for measurements: LOINC where one exists (echo codes from DICOM PS3.16 CIDs 12200-12300 as shipped in
pydicom; every code passes LOINC's mod-10 check digit, see :func:`loinc_check_digit_ok`), a local code system
otherwise; UCUM units.

Measurement names are matched after normalising: lower case, a trailing unit suffix (``_pct``, ``_ml``, ``_ms``...)
removed, and aliases resolved (``ef`` -> ``lvef`` in echo). The same name can mean different things in different
report kinds (``ef`` by ultrasound vs by SPECT), so lookups take the kind.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

LOINC_SYSTEM = "http://loinc.org"
UCUM_SYSTEM = "http://unitsofmeasure.org"
LOCAL_SYSTEM = "urn:cardiocart:measurement"  # FHIR system URI of the local code system
LOCAL_DICOM_SCHEME = "99CCART"                # DICOM private coding scheme designator for the same codes


@dataclass(frozen=True)
class Concept:
    """A coded concept. ``scheme`` is a DICOM coding scheme designator: ``LN``, ``DCM``, ``SCT`` or ``99CCART``."""

    code: str
    scheme: str
    meaning: str

    @property
    def fhir_system(self) -> str:
        return {"LN": LOINC_SYSTEM, "SCT": "http://snomed.info/sct",
                "DCM": "http://dicom.nema.org/resources/ontology/DCM"}.get(self.scheme, LOCAL_SYSTEM)

    @property
    def is_local(self) -> bool:
        return self.scheme == LOCAL_DICOM_SCHEME


def _ln(code: str, meaning: str) -> Concept:
    return Concept(code, "LN", meaning)


# name -> (concept, canonical UCUM unit). Keys are normalised names.
ECHO: dict[str, tuple[Concept, str]] = {
    "lvef": (_ln("18043-0", "Left Ventricular Ejection Fraction by US"), "%"),
    "lvef_biplane": (_ln("79991-6", "Left ventricular ejection fraction biplane (MOD)"), "%"),
    "lvef_a4c": (_ln("79993-2", "Left ventricular ejection fraction single plane 4C (MOD)"), "%"),
    "lvef_a2c": (_ln("79992-4", "Left ventricular ejection fraction single plane 2C (MOD)"), "%"),
    "lvef_teichholz": (_ln("77891-0", "Left ventricular ejection fraction (Teichholz) 2D"), "%"),
    "edv": (_ln("18026-5", "Left Ventricular End Diastolic Volume"), "mL"),
    "esv": (_ln("18148-7", "Left Ventricular End Systolic Volume"), "mL"),
    "fs": (_ln("18051-3", "Left Ventricular Fractional Shortening"), "%"),
    "ivsd": (_ln("18154-5", "Interventricular Septum Diastolic Thickness"), "mm"),
    "ivss": (_ln("18158-6", "Interventricular Septum Systolic Thickness"), "mm"),
    "lvidd": (_ln("29436-3", "Left Ventricle Internal End Diastolic Dimension"), "mm"),
    "lvids": (_ln("29438-9", "Left Ventricle Internal Systolic Dimension"), "mm"),
    "lvpwd": (_ln("18152-9", "Left Ventricle Posterior Wall Diastolic Thickness"), "mm"),
    "lvpws": (_ln("18156-0", "Left Ventricle Posterior Wall Systolic Thickness"), "mm"),
    "lv_mass": (_ln("18087-7", "Left Ventricle Mass"), "g"),
    "la_ap": (_ln("29469-4", "Left Atrium Antero-posterior Systolic Dimension"), "mm"),
    "aortic_root": (_ln("18015-8", "Aortic Root Diameter"), "mm"),
    "mv_e": (_ln("18037-2", "Mitral Valve E-Wave Peak Velocity"), "cm/s"),
    "mv_a": (_ln("17978-8", "Mitral Valve A-Wave Peak Velocity"), "cm/s"),
    "mv_e_a": (_ln("18038-0", "Mitral Valve E to A Ratio"), "{ratio}"),
    "rv_fac": (_ln("79936-1", "Right ventricular fractional area change"), "%"),
    "hr": (_ln("8867-4", "Heart rate"), "/min"),
    # spectral Doppler (issue 14): pre-coordinated LOINC codes of DICOM CID 12300 "Core Echocardiography
    # Measurements" (ASE), as shipped in pydicom.sr._concepts_dict; RVSP from CID 12204 (SNOMED CT). Names without a
    # code there (a', E/e' per site, LVOT gradients, assumed RA pressure) stay local codes.
    "mv_dt": (_ln("78191-4", "Mitral valve deceleration time"), "ms"),
    "e_prime_septal": (_ln("79911-4", "Mitral septal e-prime Vmax"), "cm/s"),
    "e_prime_lateral": (_ln("80054-0", "Mitral lateral e-prime Vmax"), "cm/s"),
    "mv_e_e_prime": (_ln("59111-5", "E Velocity to Annulus E Velocity Ratio"), "{ratio}"),
    "lvot_vmax": (_ln("80029-2", "Left ventricular outflow tract Vmax"), "m/s"),
    "lvot_vti": (_ln("80030-0", "Left ventricular outflow tract VTI"), "cm"),
    "av_vmax": (_ln("79964-3", "Aortic valve Vmax"), "m/s"),
    "av_vti": (_ln("79965-0", "Aortic valve VTI"), "cm"),
    "av_peak_gradient": (_ln("79963-5", "Aortic valve peak instantaneous gradient"), "mm[Hg]"),
    "av_mean_gradient": (_ln("79962-7", "Aortic valve mean gradient"), "mm[Hg]"),
    "tr_vmax": (_ln("79921-3", "Tricuspid regurgitation Vmax"), "m/s"),
    "tr_peak_gradient": (_ln("79937-9", "Tricuspid regurgitation peak gradient"), "mm[Hg]"),
    "rvsp": (Concept("399023006", "SCT", "Right Ventricular Peak Systolic Pressure"), "mm[Hg]"),
    "pv_vmax": (_ln("79920-5", "Pulmonic valve Vmax"), "m/s"),
    "pv_vti": (_ln("79910-6", "Pulmonic valve VTI"), "cm"),
    "pv_at": (_ln("79928-8", "Pulmonic valve acceleration time"), "ms"),
    # colour-Doppler regurgitant jets (issue 14 part 3), CID 12300 LOINC codes; jet areas (LOINC 59123-0 "Jet Area"
    # is valve-agnostic), jet/atrium ratios, PR VC and the grades stay local codes.
    "mr_vc": (_ln("80061-5", "Mitral regurgitation vena contracta width"), "mm"),
    "tr_vc": (_ln("79933-8", "Tricuspid regurgitation vena contracta width"), "mm"),
    "ar_vc": (_ln("79948-6", "Aortic regurgitation vena contracta width"), "mm"),
    "ar_jet_lvot": (_ln("79944-5", "Aortic regurgitant jet width/LVOT width %"), "%"),
    # IVC (issue 14 part 2): the maximal diameter is the end-expiration one of CID 12300; the collapse is CID 12215's
    # "% Collapse". The minimal diameter and the RA pressure estimated from them stay local codes.
    "ivc_max": (_ln("79967-6", "Inferior vena cava diameter at end expiration"), "mm"),
    "ivc_collapse": (_ln("18050-5", "Inferior Vena Cava % Collapse"), "%"),
    # aortic root by station (issue 14 part 2, PLAX) and the continuity AVA: CID 12300 LOINC codes as shipped in
    # pydicom.sr._concepts_dict ("aortic root diameter" = at the sinuses, ASE). The LVOT diameter has no code there:
    # local code.
    "ao_annulus": (_ln("79940-3", "Aortic annulus diameter"), "mm"),
    "ao_sinus": (_ln("79953-6", "Aortic root diameter"), "mm"),
    "ao_stj": (_ln("79955-1", "Aortic sinotubular junction dimension"), "mm"),
    "ao_asc": (_ln("79966-8", "Ascending Aorta Dimension"), "mm"),
    "av_ava": (_ln("79958-5", "Aortic valve area (Continuity VTI)"), "cm2"),
    # right heart and atria on A4C/A2C (issue 14 part 2): CID 12300/12210 LOINC codes as shipped in
    # pydicom.sr._concepts_dict. RA minor axis, LA lengths, the A2C LA area and the LA volume index by area-length
    # (LOINC 79984-1 is the MOD index, not area-length) stay local codes.
    "rv_basal": (_ln("80080-5", "Right ventricular basal dimension 4C"), "mm"),
    "rv_mid": (_ln("80085-4", "Right ventricular mid-cavity dimension 4C"), "mm"),
    "tapse": (_ln("77903-3", "Tricuspid Annular Plane Systolic Excursion (TAPSE)"), "mm"),
    "ra_area": (_ln("17988-7", "Right Atrium Area A4C view"), "mm2"),
    "la_a4c_area": (_ln("17977-0", "Left Atrium Area A4C view"), "mm2"),
    "la_volume": (_ln("79981-7", "Left atrial end systolic volume biplane (area-length)"), "mL"),
}
ECG: dict[str, tuple[Concept, str]] = {
    "hr": (_ln("8867-4", "Heart rate"), "/min"),
    "pr": (_ln("8625-6", "P-R Interval"), "ms"),
    "qrs": (_ln("8633-0", "QRS duration"), "ms"),
    "qt": (_ln("8634-8", "Q-T interval"), "ms"),
    "qtc": (_ln("8636-3", "Q-T interval corrected"), "ms"),
    "p_axis": (_ln("8626-4", "P wave axis"), "deg"),
    "qrs_axis": (_ln("8632-2", "R wave axis"), "deg"),
    "t_axis": (_ln("8638-9", "T wave axis"), "deg"),
    "rr": (Concept("122182", "DCM", "R-R interval"), "ms"),
}
PERFUSION: dict[str, tuple[Concept, str]] = {
    "hr": (_ln("8867-4", "Heart rate"), "/min"),
}
_TABLES = {"echo": ECHO, "ecg": ECG, "perfusion": PERFUSION}

_ALIASES = {
    "echo": {"ef": "lvef", "ef_biplane": "lvef_biplane", "lvedv": "edv", "lvesv": "esv", "mass": "lv_mass",
             "lvmass": "lv_mass", "lvm": "lv_mass", "heart_rate": "hr", "e_a": "mv_e_a"},
    "ecg": {"heart_rate": "hr", "pr_interval": "pr", "qrs_duration": "qrs", "qrsd": "qrs", "qt_interval": "qt",
            "qtc_bazett": "qtc", "qtcb": "qtc", "rr_interval": "rr"},
    "perfusion": {"heart_rate": "hr"},
}
_UNIT_SUFFIX = re.compile(r"_(pct|percent|ml|mm|cm|ms|s|bpm|g|deg|cm_s|m_s|mm2|cm2|ratio|mmhg)$")

_UCUM = {"%": "%", "pct": "%", "percent": "%", "ml": "mL", "mm": "mm", "cm": "cm", "ms": "ms", "s": "s",
         "bpm": "/min", "/min": "/min", "1/min": "/min", "beats/min": "/min", "g": "g", "deg": "deg",
         "°": "deg", "cm/s": "cm/s", "m/s": "m/s", "mm2": "mm2", "cm2": "cm2", "mv": "mV", "uv": "uV",
         "µv": "uV", "mmhg": "mm[Hg]", "ratio": "{ratio}", "": "1", "1": "1", "{ratio}": "{ratio}", "hz": "Hz"}


def loinc_check_digit_ok(code: str) -> bool:
    """LOINC's mod-10 (Luhn) check digit: ``"8867-4"`` -> True, ``"8633-2"`` -> False."""
    m = re.fullmatch(r"(\d{1,7})-(\d)", code)
    if not m:
        return False
    total = 0
    for i, ch in enumerate(reversed(m.group(1))):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            d = d - 9 if d > 9 else d
        total += d
    return (10 - total % 10) % 10 == int(m.group(2))


def normalise_name(name: str, kind: str) -> str:
    """``"EF_pct"`` -> ``"lvef"`` (echo); ``"qtc_ms"`` -> ``"qtc"``."""
    n = re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")
    if n not in _TABLES.get(kind, {}):
        n = _UNIT_SUFFIX.sub("", n)
    return _ALIASES.get(kind, {}).get(n, n)


def concept_for(kind: str, name: str, label: str = "") -> Concept:
    """The LOINC (or DCM) concept for a measurement, or a local concept ``99CCART``/``urn:cardiocart:measurement``
    whose code is the normalised name and whose meaning is the label."""
    n = normalise_name(name, kind)
    hit = _TABLES.get(kind, {}).get(n)
    if hit:
        return hit[0]
    code = f"{kind}.{n}"
    if len(code) > 16:  # DICOM Code Value is SH (16 chars): keep it unique with a hash
        code = f"{kind[:3]}.{hashlib.sha1(n.encode(), usedforsecurity=False).hexdigest()[:12]}"
    return Concept(code, LOCAL_DICOM_SCHEME, (label or name)[:64])


def ucum(unit: str) -> str:
    """A UCUM code for a unit string (``"bpm"`` -> ``"/min"``); unknown units are returned unchanged."""
    return _UCUM.get(unit.strip().lower(), unit.strip())
