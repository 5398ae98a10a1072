"""Paper-ECG latency: photo (JPEG file) to report (digitised 12-lead + measurements + screen)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from device.paths import shared_data_dir


def _photo() -> tuple[Path, str]:
    d = shared_data_dir()
    if d is not None:
        photos = sorted((d / "ecg-photos-paper2pulse" / "images").glob("*.jpg"))
        if photos:
            return photos[0], f"Paper2Pulse {photos[0].name}"
    from device.ecg import export
    from device.sim import ecg_paper

    rng = np.random.default_rng(0)
    page = ecg_paper.render(ecg_paper.synthetic_ecg(rng), rng=rng)
    p = Path(tempfile.mkdtemp()) / "sim_photo.jpg"
    export.write_png(p, ecg_paper.photograph(page.image, rng))
    return p, "simulated photo"


def bench() -> list[dict]:
    from device.ecg.api import read_file

    path, what = _photo()
    read_file(path)  # warm-up (imports, allocations)
    times = []
    stages: dict[str, list[float]] = {}
    for _ in range(3):
        t0 = time.perf_counter()
        res = read_file(path)
        times.append(time.perf_counter() - t0)
        for k, v in res.reading.timings_ms.items():
            stages.setdefault(k, []).append(v)
    rows = [{"section": "ecg", "item": f"photo to report ({what})", "metric": "median latency",
             "value": float(np.median(times)), "unit": "s", "goal": "<= 2"}]
    for k, v in stages.items():
        rows.append({"section": "ecg", "item": f"stage {k}", "metric": "median", "value": float(np.median(v)),
                     "unit": "ms", "goal": ""})
    return rows + signal_model_rows()


def signal_model_rows(runs: int = 200) -> list[dict]:
    """p50/p99 of one ``ecg_signal`` inference (a 12-lead 10-s input) per variant: int8 and fp32 ONNX, .tflite."""
    from device.ecg.signal_model import MODEL_NAME, signal_input
    from device.errors import ModelError
    from device.inference import load_manifest, load_model
    from device.sim import ecg_paper

    try:
        variants = sorted(load_manifest(MODEL_NAME).variants)
    except ModelError:
        return []
    x = signal_input(ecg_paper.synthetic_ecg(np.random.default_rng(1)), 500.0)
    rows = []
    for v in variants:
        try:
            m = load_model(MODEL_NAME, v, cache=False)
        except ModelError:
            continue
        for _ in range(runs):
            m.run({"signal": x})
        st = m.stats()
        for metric, val in (("p50", st.p50_ms), ("p99", st.p99_ms)):
            rows.append({"section": "ecg", "item": f"signal screen {m.tag}", "metric": f"{metric} latency",
                         "value": float(val), "unit": "ms", "goal": ""})
    return rows
