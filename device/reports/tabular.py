"""CSV and JSON export of measurements and digitised signals, with sampling rate and units in the header.

Signal CSV layout (``#`` header lines, then a table)::

    # format: cardiocart.signal/1
    # sampling_rate_hz: 500
    # units: mV
    # leads: I,II,III
    # start: 2026-11-21T09:30:00+08:00
    t_s,I_mV,II_mV,III_mV
    0.000000,0.0125,...
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from device.errors import InputError
from device.reports.codes import concept_for
from device.reports.model import ReportDoc

SIGNAL_FORMAT = "cardiocart.signal/1"
MEAS_COLUMNS = ("section", "name", "label", "value", "unit", "ref_low", "ref_high", "flag", "interpretation",
                "model_name", "model_version", "confirmed", "code", "code_system")


@dataclass(frozen=True, eq=False)
class SignalExport:
    """A digitised multi-lead signal. ``samples``: float array, shape (n_leads, n_samples), in ``units``;
    ``sampling_rate_hz`` > 0; ``start`` ISO-8601 text or ""."""

    leads: tuple[str, ...]
    samples: np.ndarray
    sampling_rate_hz: float
    units: str = "mV"
    start: str = ""

    def __post_init__(self) -> None:
        s = np.asarray(self.samples)
        if s.ndim != 2 or s.shape[0] != len(self.leads):
            raise InputError(f"signal samples must be (n_leads={len(self.leads)}, n_samples); got {s.shape}")
        if not (self.sampling_rate_hz > 0 and math.isfinite(self.sampling_rate_hz)):
            raise InputError(f"sampling rate must be a positive number of Hz; got {self.sampling_rate_hz}")


def measurements_csv(doc: ReportDoc) -> str:
    """One row per measurement with unit, reference range, model and code; a ``#`` header names the report."""
    out = io.StringIO()
    out.write(f"# report: {doc.kind} {doc.exam.accession} version {doc.version} "
              f"{'signed' if doc.signed else 'draft'}\n# patient_id: {doc.patient.patient_id}\n"
              f"# disclaimer: {doc.disclaimer}\n")
    w = csv.writer(out, lineterminator="\n")
    w.writerow(MEAS_COLUMNS)
    for s in doc.sections:
        for m in s.measurements:
            c = concept_for(doc.kind, m.name, m.display_label)
            w.writerow([s.title, m.name, m.display_label, repr(float(m.value)), m.unit, _opt(m.ref_low),
                        _opt(m.ref_high), m.flag, m.interpretation, m.model_name, m.model_version,
                        int(m.confirmed), c.code, c.fhir_system])
    return out.getvalue()


def measurements_json(doc: ReportDoc) -> str:
    rows: list[dict[str, Any]] = []
    for s in doc.sections:
        for m in s.measurements:
            c = concept_for(doc.kind, m.name, m.display_label)
            rows.append({"section": s.title, "name": m.name, "label": m.display_label, "value": m.value,
                         "unit": m.unit, "ref_low": m.ref_low, "ref_high": m.ref_high, "flag": m.flag,
                         "interpretation": m.interpretation, "model_name": m.model_name,
                         "model_version": m.model_version, "confirmed": m.confirmed,
                         "code": {"system": c.fhir_system, "code": c.code, "display": c.meaning}})
    return json.dumps({"format": "cardiocart.measurements/1", "kind": doc.kind, "accession": doc.exam.accession,
                       "study_uid": doc.exam.study_uid, "version": doc.version, "signed": doc.signed,
                       "disclaimer": doc.disclaimer, "measurements": rows}, ensure_ascii=False, indent=1)


def _opt(x: float | None) -> str:
    return "" if x is None else repr(float(x))


def signal_csv(sig: SignalExport) -> str:
    """CSV text; first column time in seconds from the first sample, then one column per lead in ``units``."""
    out = io.StringIO()
    out.write(f"# format: {SIGNAL_FORMAT}\n# sampling_rate_hz: {sig.sampling_rate_hz:g}\n# units: {sig.units}\n"
              f"# leads: {','.join(sig.leads)}\n# start: {sig.start}\n")
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["t_s"] + [f"{lead}_{sig.units}" for lead in sig.leads])
    s = np.asarray(sig.samples, dtype=np.float64)
    t = np.arange(s.shape[1]) / sig.sampling_rate_hz
    for i in range(s.shape[1]):
        w.writerow([f"{t[i]:.6f}"] + [f"{v:.6g}" for v in s[:, i]])
    return out.getvalue()


def read_signal_csv(text: str) -> SignalExport:
    """Parse :func:`signal_csv` output (InputError if the header is missing or the table is ragged)."""
    header: dict[str, str] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines) and lines[i].startswith("#"):
        k, _, v = lines[i][1:].partition(":")
        header[k.strip()] = v.strip()
        i += 1
    if header.get("format") != SIGNAL_FORMAT or "sampling_rate_hz" not in header:
        raise InputError(f"not a CardioCart signal CSV (needs '# format: {SIGNAL_FORMAT}' and sampling rate)")
    rows = list(csv.reader(lines[i + 1:]))
    try:
        data = np.array([[float(v) for v in r[1:]] for r in rows if r], dtype=np.float64)
    except ValueError as exc:
        raise InputError(f"signal CSV has a non-numeric value: {exc}") from None
    leads = tuple(x for x in header.get("leads", "").split(",") if x)
    return SignalExport(leads=leads, samples=data.T.reshape(len(leads), -1), units=header.get("units", ""),
                        sampling_rate_hz=float(header["sampling_rate_hz"]), start=header.get("start", ""))


def signal_json(sig: SignalExport) -> str:
    """``{"format", "sampling_rate_hz", "units", "start", "n_samples", "leads": {name: [values]}}``."""
    s = np.asarray(sig.samples, dtype=np.float64)
    return json.dumps({"format": SIGNAL_FORMAT, "sampling_rate_hz": sig.sampling_rate_hz, "units": sig.units,
                       "start": sig.start, "n_samples": int(s.shape[1]),
                       "leads": {lead: [float(f"{v:.6g}") for v in s[i]] for i, lead in enumerate(sig.leads)}})
