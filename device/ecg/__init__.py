"""Paper ECG: photo or scan -> digitised 12-lead -> measurements, rhythm and screening (pure analysis).

Entry points (see each module's docstring for shapes and units):

- ``device.ecg.api.read_file(path)`` / ``read_and_analyse(image)`` -> ``PaperEcgResult(reading, analysis)``
- ``device.ecg.reader.read_ecg_image(image)`` -> ``EcgReading`` (signals_mv (5000, 12) at 500 Hz, NaN = not
  printed; layout boxes, calibration, flattened image, traced polylines, quality, warnings)
- ``device.ecg.reader.redigitise(reading, boxes, calibration=None)`` -> ``EcgReading`` (the correction tool)
- ``device.ecg.api.analyse_reading(reading)`` / ``device.ecg.report.analyse(signals_mv, fs_hz)`` -> ``EcgAnalysis``
- ``device.ecg.api.write_outputs(result, out_dir, stem)``: CSV, JSON, overlay PNG, WFDB, DICOM 12-lead waveform

Pipeline: imageio -> rectify (paper quad, perspective) -> grid (period, followed mesh, flatten) -> traces (ink mask,
grid removal) -> layout (rows, calibration pulse, separator ticks, lead boxes, OCR of rhythm labels) -> digitise
(Viterbi over ink runs) -> measure / rhythm / screening: the signal model ``ecg_signal`` (signal_model) is the
screen, the rules (screening, limits in thresholds.toml) its explanation, the image model ``ecg_screen``
(screen_model) the fallback.
"""
