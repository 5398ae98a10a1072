"""Method choice for the short-axis indices (device/lv/variants_series.py): segment (default), regress, p001."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from device.errors import InputError
from device.lv.dicom_io import ImageFrame
from device.lv.phantom import sax_cine
from device.lv.variants import INDEX_NAMES
from device.lv.variants_series import DEFAULT_METHOD, METHODS, measure_frames


class _Seg:
    tag = "fake-seg 0"

    def __init__(self):
        self.manifest = SimpleNamespace(params={"input_size": 128, "sax_input_size": 96, "sax_crop_mm": 120.0,
                                                "min_cavity_px": 20}, name="fake-seg", version="0")

    def run(self, feeds):
        x = feeds["image"]
        cav = (x[:, 0] > 0.55).astype(np.float32)
        probs = np.zeros((x.shape[0], 5) + x.shape[2:], np.float32)
        probs[:, 1], probs[:, 0] = cav, 1 - cav
        return {"probs": probs}


class _Reg:
    """Cavity area falls then rises over the frames: ED at frame 0, ES at frame 3."""

    tag = "fake-reg 0"

    def __init__(self):
        self.manifest = SimpleNamespace(params={"input_size": 64, "span_mm": 120.0})

    def run(self, feeds):
        n = len(feeds["image"])
        out = np.ones((n, 11), np.float32)
        out[:, 0] = [2000 - 300 * min(i, 6 - i) if i <= 6 else 2000 for i in range(n)]
        return {"indices": out}


def _frames(n=7):
    cine, _ = sax_cine(n, 160, 1.4, seed=4, rv=False)
    return [ImageFrame(pixels=f, file=Path(f"{i}.dcm"), frame=0, n_frames_in_file=1, spacing_rc=(1.4, 1.4),
                       orientation=None, slice_location=10.0, trigger_time_ms=40.0 * i, description="sax")
            for i, f in enumerate(cine)]


def test_segment_is_the_default_and_rows_carry_every_index():
    assert DEFAULT_METHOD == "segment" and set(METHODS) == {"segment", "regress", "p001"}
    rows = measure_frames(_frames(), "segment", _Seg())
    assert len(rows) == 7 and all(set(INDEX_NAMES) <= set(r) for r in rows)
    assert rows[0]["model"] == "fake-seg 0" and rows[0]["cavity_area_mm2"] > 500
    assert [r["phase"] for r in rows].count("ED") == 1 and [r["phase"] for r in rows].count("ES") == 1


def test_regress_takes_its_indices_and_phase_from_the_regression_model():
    rows = measure_frames(_frames(), "regress", _Seg(), _Reg())
    assert rows[0]["model"] == "fake-reg 0"
    assert [r["cavity_area_mm2"] for r in rows][:4] == [2000, 1700, 1400, 1100]
    assert rows[3]["phase"] == "ES"


def test_bad_method_or_missing_spacing_is_refused():
    with pytest.raises(InputError, match="unknown method"):
        measure_frames(_frames(), "guess", _Seg())
    fr = _frames(3)
    fr[0] = ImageFrame(**{**fr[0].__dict__, "spacing_rc": None})
    with pytest.raises(InputError, match="pixel spacing"):
        measure_frames(fr, "segment", _Seg())
