"""The median beat a person places the interval calipers on (issue 18 point 3): per-lead median beats of a stored
reading's signal and where the four markers start, for the ECG page to draw. Forming the beats is a quick pure
computation (device.ecg.calipers.median_beats, ~40 ms for 10 s of 12 leads), fine in a request; the intervals are
recomputed on the cart when the calipers are saved (device.usecases.ecg_calipers).

Where the markers start: the positions a person saved last (the ``ecg_calipers`` audit row), while the reading's
current values are still the ones those positions gave; else the automatic QRS onset with the current PR, QRS
and QT laid off from it, so saving unmoved markers stores the same intervals.
"""

from __future__ import annotations

import io
import logging
import sqlite3
import zipfile
from typing import Any

import numpy as np

from device.ecg.calipers import marker_positions, median_beats
from device.errors import UserError
from device.store import audit, clinical
from device.store.blobs import BlobStore
from device.usecases.ecg_calipers import CALIPER_MODEL

log = logging.getLogger(__name__)
DRAW_HZ = 250.0  # the drawn beat's sampling rate (4 ms a point; the markers move in 1 ms steps)


def _saved_positions(conn: sqlite3.Connection, cap_id: int, cur: dict[str, float]) -> dict[str, float | None] | None:
    rows = audit.recent(conn, 1, object_type="ecg_calipers", object_id=str(cap_id))
    if not rows:
        return None
    d = rows[0].detail
    pos = d.get("calipers_s")
    if not isinstance(pos, list) or len(pos) != 4 or pos[1] is None:
        return None
    for name in ("pr_ms", "qrs_ms", "qt_ms"):
        if d.get(name) is not None and (name not in cur or abs(cur[name] - float(d[name])) > 0.5):
            return None  # a later edit changed the values: the saved positions no longer give them
    keys = ("p_onset_ms", "qrs_onset_ms", "qrs_offset_ms", "t_end_ms")
    return {k: None if v is None else round(float(v) * 1000.0, 1) for k, v in zip(keys, pos)}


def beat_view(conn: sqlite3.Connection, blobs: BlobStore, cap: clinical.Capture) -> dict[str, Any] | None:
    """JSON-able drawing data of reading ``cap`` (a signal capture): ``t0_ms``, ``dt_ms``, ``leads``, ``beats``
    (lead -> mV), ``lead`` (the rhythm lead), ``markers`` (ms from R), ``rr_ms``, ``model`` (what computes the
    saved intervals) and ``signal_model`` (what digitised the signal); None when the signal cannot be
    read or forms no median beat (the page then offers the typed calipers only)."""
    try:
        with np.load(io.BytesIO(blobs.get(cap.blob_sha256)), allow_pickle=False) as z:
            x, fs, leads = z["signals_mv"], float(z["fs_hz"]), tuple(str(v) for v in z["leads"])
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, UserError) as exc:
        log.info("reading %s: no signal to draw a median beat from (%s)", cap.id, exc)
        return None
    mb = median_beats(x, fs, leads)
    if mb is None:
        return None
    step = max(1, round(fs / DRAW_HZ))
    cur = {m.name: float(m.value) for m in clinical.current_measurements(conn, cap.exam_id) if m.capture_id == cap.id}
    markers = _saved_positions(conn, cap.id, cur) or {
        k: None if v is None else round(v, 1)
        for k, v in marker_positions(mb.qrs_onset_s, cur.get("pr_ms"), cur.get("qrs_ms"), cur.get("qt_ms")).items()}
    return {"t0_ms": -mb.pre_s * 1000.0, "dt_ms": 1000.0 * step / fs, "leads": list(mb.beats),
            "beats": {k: np.round(v[::step], 3).tolist() for k, v in mb.beats.items()}, "lead": mb.rhythm_lead,
            "markers": markers, "rr_ms": cur.get("rr_ms"),
            "model": f"{CALIPER_MODEL[0]} {CALIPER_MODEL[1]}", "signal_model": str(cap.meta.get("model", ""))}
