"""Patent 002 direct regression plumbing (device/lv/variants.py): canonical crops keep the 11 indices, the runtime
path feeds the model canonical crops around the LV, and the shipped ``lv_dla`` loads and answers in mm."""

import numpy as np
import pytest

from device.lv import CAVITY, MYOCARDIUM
from device.lv.indices import SaxOrientation, sax_indices
from device.lv.variants import INDEX_NAMES, canonical_crop, canonical_matrix, regress_sax

IOP_101 = [-0.1046, 0.3464, -0.9322, -0.7332, -0.6602, -0.163]   # Sunnybrook SCD0000101: anterior at ~242 degrees


def _lv(n=200, centre=(110.0, 90.0), sp=1.3):
    """Ring whose wall is thicker on one side, so the six regional thicknesses differ."""
    yy, xx = np.mgrid[:n, :n].astype(float)
    dy, dx = (yy - centre[1]) * sp, (xx - centre[0]) * sp
    r, phi = np.hypot(dy, dx), np.arctan2(-dy, dx)
    mask = np.zeros((n, n), np.uint8)
    mask[r < 30 + 4 * np.cos(phi - 0.7)] = MYOCARDIUM
    mask[r < 22] = CAVITY
    return mask


def test_canonical_crop_keeps_the_indices_under_any_orientation():
    mask, sp = _lv(), 1.3
    for orient in (SaxOrientation.from_dicom(IOP_101), SaxOrientation(30.0, False), SaxOrientation()):
        ref = sax_indices(mask, sp, orient)
        m2 = canonical_matrix((110.0, 90.0), (sp, sp), orient, 160, 120.0)
        got = sax_indices(canonical_crop(mask, m2, 160, nearest=True), 120.0 / 160)   # default: anterior up
        assert abs(got.cavity_area_mm2 - ref.cavity_area_mm2) < 0.03 * ref.cavity_area_mm2
        np.testing.assert_allclose(got.dims_mm, ref.dims_mm, atol=1.0)
        np.testing.assert_allclose(got.rwt_mm, ref.rwt_mm, atol=0.6)
    assert np.ptp(ref.rwt_mm) > 3      # the test ring really has regional differences


def test_canonical_turn_puts_the_anterior_wall_up_and_septum_left():
    img = np.zeros((200, 200), np.uint8)
    orient = SaxOrientation(anterior_deg=0.0, septum_ccw=False)   # anterior to the right, septum below
    img[100, 140] = 255          # 40 px to the right of the centre = anterior
    img[140, 100] = 128          # 40 px below = septum side (clockwise of anterior)
    crop = canonical_crop(img, canonical_matrix((100.0, 100.0), (1.0, 1.0), orient, 100, 100.0), 100)
    ya, xa = np.unravel_index(np.argmax(crop == crop.max()), crop.shape)
    assert ya < 20 and abs(xa - 50) < 3                            # anterior at the top
    sep = np.argwhere((crop > 40) & (crop < 200))
    assert sep[:, 1].mean() < 20 and abs(sep[:, 0].mean() - 50) < 3   # septum on the left


class _Seg:
    """Localisation stand-in: cavity where the equalised input is bright."""

    def __init__(self):
        from types import SimpleNamespace
        self.manifest = SimpleNamespace(params={"input_size": 128, "min_cavity_px": 20})

    def run(self, feeds):
        x = feeds["image"]
        cav = (x[:, 0] > 0.55).astype(np.float32)
        probs = np.zeros((x.shape[0], 5) + x.shape[2:], np.float32)
        probs[:, 1], probs[:, 0] = cav, 1 - cav
        return {"probs": probs}


class _Reg:
    """Returns, per crop, the bright-pixel count in its centre vs its border (so the test sees what it was fed)."""

    tag = "fake-reg 0"

    def __init__(self):
        from types import SimpleNamespace
        self.manifest = SimpleNamespace(params={"input_size": 64, "span_mm": 120.0})
        self.shapes = []

    def run(self, feeds):
        x = feeds["image"]
        self.shapes.append(x.shape)
        out = np.zeros((len(x), 11), np.float32)
        out[:, 0] = (x[:, 0, 24:40, 24:40] > 0.5).mean(axis=(1, 2))
        out[:, 2] = -1.0                                 # negative outputs are clipped to 0
        return {"indices": out}


def test_regress_sax_feeds_canonical_crops_centred_on_the_lv():
    from device.lv.phantom import sax_cine
    frames, truth = sax_cine(5, 192, 1.4, seed=3, centre_rc=(80.0, 110.0), rv=False)
    reg = _Reg()
    res = regress_sax(frames, _Seg(), reg, 1.4, SaxOrientation())
    assert reg.shapes == [(5, 1, 64, 64)]
    assert res.values.shape == (5, 11) and res.model_tag == "fake-reg 0"
    ys, xs = np.nonzero(truth[0] == CAVITY)
    assert abs(res.centre_xy[0] - xs.mean()) < 4 and abs(res.centre_xy[1] - ys.mean()) < 4
    assert (res.values[:, 0] > 0.9).all()            # the bright cavity fills the crop's centre
    assert (res.values[:, 2] == 0).all()
    assert list(res.rows()[0]) == list(INDEX_NAMES)


def test_regress_sax_needs_calibration():
    from device.errors import InputError
    with pytest.raises(InputError):
        regress_sax(np.zeros((2, 64, 64)), _Seg(), _Reg(), None)


def test_shipped_lv_dla_loads_verified_and_answers_in_mm():
    from device.inference import load_manifest, load_model
    from device.paths import MODELS_DIR
    if not (MODELS_DIR / "lv_dla" / "manifest.json").exists():
        pytest.skip("lv_dla not trained in this checkout")
    man = load_manifest("lv_dla")
    assert man.default == "ens_int8" and len(man.variants["ens_int8"].members) == 5
    assert tuple(man.labels) == INDEX_NAMES
    ens = load_model("lv_dla", variant="ens_int8", cache=False, warm_up=False)
    one = load_model("lv_dla", variant="f0_int8", cache=False, warm_up=False)
    x = np.random.default_rng(0).uniform(-1, 1, (2, 1, 64, 64)).astype(np.float32)
    a, b = ens.run({"image": x})["indices"], one.run({"image": x})["indices"]
    assert a.shape == (2, 11) and np.isfinite(a).all()
    assert not np.allclose(a, b)                          # the ensemble is not member 0
