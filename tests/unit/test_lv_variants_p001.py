"""Patent 001 network plumbing (device/lv/variants_p001.py): one systolic run from per-frame probabilities, masks
pasted back where the LV is, the cine fed whole."""

from types import SimpleNamespace

import numpy as np
import pytest

from device.errors import InputError
from device.lv import CAVITY
from device.lv.phantom import sax_cine
from device.lv.variants_p001 import best_two_runs, p001_sax


def test_best_two_runs_finds_the_systolic_run_despite_a_flicker():
    p = np.full(20, 0.1)
    p[4:11] = 0.9           # systole = frames 4..10: ED = 3, ES = 10
    p[7] = 0.4              # one doubtful frame inside does not split the run
    p[15] = 0.6             # one doubtful frame outside does not start another
    assert best_two_runs(p) == (3, 10)
    q = np.full(10, 0.1)
    q[[8, 9, 0, 1]] = 0.95  # a run wrapping round the end of the cine
    assert best_two_runs(q) == (7, 1)
    with pytest.raises(InputError):
        best_two_runs([0.5, 0.5])


class _Seg:
    def __init__(self):
        self.manifest = SimpleNamespace(params={"input_size": 128, "min_cavity_px": 20})

    def run(self, feeds):
        x = feeds["image"]
        cav = (x[:, 0] > 0.55).astype(np.float32)
        probs = np.zeros((x.shape[0], 5) + x.shape[2:], np.float32)
        probs[:, 1], probs[:, 0] = cav, 1 - cav
        return {"probs": probs}


class _Net:
    """Cavity = bright centre of the canonical crop; systole on frames 2..5; indices = frame number."""

    tag = "fake-p001 0"

    def __init__(self):
        self.manifest = SimpleNamespace(params={"input_size": 64, "span_mm": 120.0})
        self.shapes = []

    def run(self, feeds):
        x = feeds["cine"]
        self.shapes.append(x.shape)
        t = x.shape[1]
        yy, xx = np.mgrid[:64, :64]
        centre = np.hypot(yy - 32, xx - 32) < 10
        probs = np.zeros((1, t, 3, 64, 64), np.float32)
        probs[0, :, 1] = ((x[0, :, 0] > 0.55) & centre).astype(np.float32)
        probs[0, :, 0] = 1 - probs[0, :, 1]
        phase = np.zeros((1, t, 2), np.float32)
        phase[0, :, 1] = [0.9 if 2 <= i <= 5 else 0.1 for i in range(t)]
        phase[0, :, 0] = 1 - phase[0, :, 1]
        return {"probs": probs, "indices": np.tile(np.arange(t, dtype=np.float32)[None, :, None], (1, 1, 11)),
                "phase": phase}


def test_p001_sax_feeds_the_cine_whole_and_pastes_masks_back_on_the_lv():
    frames, truth = sax_cine(8, 160, 1.4, seed=1, centre_rc=(70.0, 90.0), rv=False)
    net = _Net()
    r = p001_sax(frames, _Seg(), net, 1.4)
    assert net.shapes == [(1, 8, 1, 64, 64)]
    assert r.masks.shape == frames.shape and r.values.shape == (8, 11)
    assert (r.ed_frame, r.es_frame) == (1, 5)
    assert r.labels[2:6] == ("systole",) * 4 and r.labels[0] == "diastole"
    for m, t in zip(r.masks, truth):
        got, ref = m == CAVITY, t == CAVITY
        assert (got & ref).sum() > 0.9 * got.sum() > 0   # the pasted cavity lies on the true one
    assert r.model_tag == "fake-p001 0"


def test_shipped_lv_p001_loads_verified_and_reads_a_cine_of_any_length():
    from device.inference import load_manifest, load_model
    from device.paths import MODELS_DIR
    if not (MODELS_DIR / "lv_p001" / "manifest.json").exists():
        pytest.skip("lv_p001 not trained in this checkout")
    man = load_manifest("lv_p001")
    net = load_model("lv_p001", cache=False, warm_up=False)
    for t in (5, 20):
        x = np.random.default_rng(t).uniform(-1, 1, (1, t, 1, 64, 64)).astype(np.float32)
        out = net.run({"cine": x})
        assert out["probs"].shape == (1, t, 3, 64, 64) and out["indices"].shape == (1, t, 11)
        assert out["phase"].shape == (1, t, 2)
        np.testing.assert_allclose(out["phase"].sum(-1), 1.0, atol=1e-4)
        np.testing.assert_allclose(out["probs"].sum(2), 1.0, atol=1e-3)
    assert man.params["input_size"] == 64
