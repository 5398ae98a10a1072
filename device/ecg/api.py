"""The functions other layers call: read a file or an array, analyse, write every output."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from device.ecg import export
from device.ecg.imageio import load_image
from device.ecg.measure import measure
from device.ecg.reader import read_ecg_image
from device.ecg.report import EcgAnalysis, analyse
from device.ecg.screen_model import model_screen
from device.ecg.signal_model import signal_model_screen
from device.ecg.types import EcgReading


@dataclass(frozen=True)
class PaperEcgResult:
    """A read printout: the digitised ``reading`` and its ``analysis`` (measurements, rhythm, screens)."""

    reading: EcgReading
    analysis: EcgAnalysis


def analyse_reading(reading: EcgReading, use_model: bool = True) -> EcgAnalysis:
    """Measurements, rhythm, the rule screen and the model screen of a reading: the signal model ``ecg_signal``
    on the digitised leads, or (when it is not installed) the older image model ``ecg_screen``."""
    m = measure(reading.signals_mv, reading.fs_hz)
    ms = signal_model_screen(reading.signals_mv, reading.fs_hz) if use_model else None
    if ms is None and use_model and m.n_beats >= 2:
        ms = model_screen(reading, m.r_peaks_s)
    return analyse(reading.signals_mv, reading.fs_hz, model_screen=ms, measurements=m, use_model=False)


def read_and_analyse(image: np.ndarray, use_model: bool = True, **kw) -> PaperEcgResult:
    """``image`` uint8 (H, W, 3) RGB -> digitised + analysed. Raises InputError naming the failed step."""
    reading = read_ecg_image(image, **kw)
    return PaperEcgResult(reading, analyse_reading(reading, use_model))


def write_outputs(result: PaperEcgResult, out_dir: str | Path, stem: str, source: str = "") -> dict[str, Path]:
    """Write ``stem``.csv/.json/.png, the WFDB pair and the DICOM 12-lead waveform into ``out_dir``."""
    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    r, a = result.reading, result.analysis
    paths = {
        "csv": export.write_csv(d / f"{stem}.csv", r.signals_mv, r.fs_hz),
        "json": export.write_json(d / f"{stem}.json", export.reading_dict(r, a, source)),
        "png": export.write_png(d / f"{stem}.png", export.overlay_image(r)),
        "wfdb": export.write_wfdb(d, stem, r.signals_mv, r.fs_hz, [f"layout {r.layout.name}", "digitised paper ECG"]),
        "dicom": export.write_dicom(d / f"{stem}.dcm", r.signals_mv, r.fs_hz, description=f"Paper ECG {stem}"),
    }
    return paths


def read_file(path: str | Path, use_model: bool = True, **kw) -> PaperEcgResult:
    """Load a PNG/JPEG/TIFF/BMP/PDF and read it."""
    return read_and_analyse(load_image(path), use_model, **kw)
