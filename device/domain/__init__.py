"""Typed records every layer shares (the bottom layer: it imports nothing else from ``device``).

- ``records``: Patient, Exam, Capture, Measurement (unit, model, source, edited_by), Finding, Alert;
- ``codecs``: the clip and signal blob codecs (``encode_clip`` / ``decode_clip``, ``encode_signal`` /
  ``decode_signal``);
- ``live``: the live echo state the core publishes and the web UI reads (LiveState and its codec).
"""

from device.domain.records import (ALERT_LEVELS, MEASUREMENT_SOURCES, REVIEWED_SOURCES, Alert, Capture, Exam,
                                   Finding, Measurement, MeasurementSource, Patient)

__all__ = ["ALERT_LEVELS", "MEASUREMENT_SOURCES", "REVIEWED_SOURCES", "Alert", "Capture", "Exam", "Finding",
           "Measurement", "MeasurementSource", "Patient"]
