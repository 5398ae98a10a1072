"""Typed records every layer shares (the bottom layer: it imports nothing else from ``device``).

- ``records``: Patient, Exam, Capture, Measurement (unit, model, source, edited_by), Finding, Alert;
- ``codecs``: the clip blob codec (``encode_clip`` / ``decode_clip``);
- ``live``: the live echo state the core publishes and the web UI reads (LiveState and its codec).
"""

from device.domain.records import (ALERT_LEVELS, MEASUREMENT_SOURCES, REVIEWED_SOURCES, Alert, Capture, Exam,
                                   Finding, Measurement, MeasurementSource, Patient)

__all__ = ["ALERT_LEVELS", "MEASUREMENT_SOURCES", "REVIEWED_SOURCES", "Alert", "Capture", "Exam", "Finding",
           "Measurement", "MeasurementSource", "Patient"]
