"""Parsed outside input through the analysis behind each CLI command: a file the parser accepts must not crash the
step after it. ``lv sax`` (read_frames -> measure_sax_series), ``echo measure`` (read_clip -> measure_clip) and
``perfusion polar`` (load_volume -> analyse_study) on odd but readable inputs: tiny, flat, one-frame, extreme pixel
spacings and voxel sizes, one hot voxel. Contract and harness as in ``test_fuzz_inputs.py``.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import strategies as st

from device.paths import MODELS_DIR
from tests.stress.test_fuzz_dicom import _to_bytes, mr_slice, us_cine
from tests.stress.test_fuzz_inputs import Fuzz, finish, write_case

needs_lv = pytest.mark.skipif(not (MODELS_DIR / "lv_seg" / "manifest.json").exists(),
                              reason="the lv_seg model is not built (make models)")

_SPACINGS = [1e-6, 0.01, 0.7, 1.4, 5.0, 1e3, 1e9]


@st.composite
def sax_series(draw) -> list[bytes]:
    from device.lv.phantom import sax_cine

    kind = draw(st.sampled_from(("phantom", "phantom", "phantom", "flat", "noise", "tiny")))
    n = draw(st.integers(1, 4))
    if kind == "phantom":
        size = draw(st.sampled_from([96, 128, 48]))
        frames = list(sax_cine(n, size, 1.4, seed=draw(st.integers(0, 20)))[0])
    elif kind == "tiny":
        h, w = draw(st.integers(1, 6)), draw(st.integers(1, 6))
        frames = [np.full((h, w), draw(st.integers(0, 4000)), np.float32) for _ in range(n)]
    else:
        h, w = draw(st.integers(8, 80)), draw(st.integers(8, 80))
        rng = np.random.default_rng(h * w)
        frames = [np.full((h, w), draw(st.integers(0, 4000)), np.float32) if kind == "flat"
                  else rng.uniform(0, 4000, (h, w)).astype(np.float32) for _ in range(n)]
    out = []
    for k, f in enumerate(frames):
        ds = mr_slice(f, n=k + 1, loc=draw(st.sampled_from([0.0, 10.0, float(k)])))
        ds.PixelSpacing = [draw(st.sampled_from([1.4, 1.4, 0.7, *_SPACINGS]))] * 2
        out.append(_to_bytes(ds))
    return out


@needs_lv
def test_fuzz_lv_sax_pipeline(tmp_path, budget, figures):
    from device.lv.dicom_io import read_frames
    from device.lv.sax import measure_sax_series
    from device.lv.segment import load_lv_model

    model = load_lv_model("sax")

    def call(files: list[bytes]):
        d = tmp_path / "series"
        d.mkdir(exist_ok=True)
        for old in d.iterdir():
            old.unlink()
        for k, data in enumerate(files):
            write_case(d, f"IM{k:04d}.dcm", data)
        res = measure_sax_series(read_frames(d), model)
        assert len(res.frames) == len(files)
    fuzz = Fuzz("LV SAX pipeline", "lv sax: read_frames -> measure_sax_series", call, case_timeout_s=60)
    fuzz.run(sax_series(), budget(short=4, full=300))
    finish(fuzz, figures, [("test_regression_sax_spacing_one_micron", sax_spacing_one_micron)],
           note="PixelSpacing 0.000001 mm: the 160 mm crop around the LV became 1.6e8 px and numpy asked for 12.8 "
           "PiB (MemoryError). Fixed in device/lv/segment.py: an image covering under 40 mm (a quarter of the crop) "
           "is refused as a wrong spacing.")


@st.composite
def echo_clips(draw) -> bytes:
    from models.training.lv_seg_sim import sim_clip

    kind = draw(st.sampled_from(("sim", "sim", "sim", "flat", "tiny")))
    if kind == "sim":
        frames, _, mmpp, _ = sim_clip(draw(st.sampled_from(["A4C", "A2C", "PLAX"])), draw(st.integers(2, 12)),
                                      seed=draw(st.integers(0, 20)))
        frames = frames[:, ::2, ::2]
    else:
        n = draw(st.integers(2, 6))
        h, w = (draw(st.integers(1, 6)), draw(st.integers(1, 6))) if kind == "tiny" else (60, 80)
        frames = np.full((n, h, w), draw(st.integers(0, 255)), np.uint8)
    return _to_bytes(us_cine(frames, mm_per_px=draw(st.sampled_from([0.3, 0.3, 0.05, 2.0, 50.0]))))


@needs_lv
def test_fuzz_echo_measure_pipeline(tmp_path, budget, figures):
    pytest.importorskip("models.training.lv_seg_sim", reason="needs the echo simulator")
    from device.cli.echo_measure import read_clip
    from device.lv.echo import measure_clip
    from device.lv.segment import load_lv_model

    model = load_lv_model("echo")

    def call(data: bytes):
        frames, cal = read_clip(write_case(tmp_path, "clip.dcm", data), None)
        if cal is not None:
            measure_clip(frames, cal, model, "auto")
    fuzz = Fuzz("Echo measure pipeline", "echo measure: read_clip -> measure_clip", call, case_timeout_s=60)
    fuzz.run(echo_clips(), budget(short=4, full=100))
    finish(fuzz, figures)


def _npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


@st.composite
def perfusion_volumes(draw) -> bytes:
    from device.sim.spect import simulate_study

    kind = draw(st.sampled_from(("sim", "hot_voxel", "flat", "noise", "slab")))
    shape = draw(st.sampled_from([(8, 8, 8), (8, 40, 8), (24, 24, 24), (64, 64, 64)]))
    if kind == "sim":
        s = simulate_study((), orientation=draw(st.sampled_from(["short_axis", "transaxial"])),
                           seed=draw(st.integers(0, 9)))
        vol, orient = s.stress, s.orientation
    else:
        vol = np.zeros(shape, np.float32)
        if kind == "hot_voxel":
            vol[tuple(s // 2 for s in shape)] = 1000
        elif kind == "flat":
            vol[:] = 7
        elif kind == "noise":
            vol = np.random.default_rng(sum(shape)).poisson(5, shape).astype(np.float32)
        else:
            vol[shape[0] // 2] = 100
        orient = draw(st.sampled_from(["short_axis", "transaxial"]))
    arrays = {"stress": vol, "voxel_mm": np.array(draw(st.sampled_from([0.01, 3.2, 12.0, 49.0, [1, 40, 1]]))),
              "orientation": np.array(orient)}
    if draw(st.booleans()):
        arrays["rest"] = vol[::-1].copy()
    if draw(st.booleans()):
        arrays["direction"] = draw(st.sampled_from([np.eye(3), np.eye(3)[::-1], np.diag([1.0, -1.0, 1.0]),
                                                    np.zeros((3, 3))]))
    return _npz(**arrays)


def test_fuzz_perfusion_polar_pipeline(tmp_path, budget, figures):
    from device.perfusion.analysis import analyse_study
    from device.perfusion.io import load_volume

    def call(data: bytes):
        stress, rest = load_volume(write_case(tmp_path, "study.npz", data))
        o = stress.orientation if stress.orientation != "unknown" else "auto"
        res = analyse_study(stress.counts, stress.voxel_mm, rest.counts if rest else None, o, stress.direction)
        assert np.isfinite(res.polar_stress_pct).all()
    fuzz = Fuzz("Perfusion polar pipeline", "perfusion polar: load_volume -> analyse_study", call, case_timeout_s=60)
    fuzz.run(perfusion_volumes(), budget(short=4, full=200))
    finish(fuzz, figures, [("test_regression_npz_singular_direction", npz_singular_direction)],
           note="a transaxial .npz whose 'direction' is all zeros passed the loader and raised numpy's LinAlgError "
           "(singular matrix) in the re-orientation. Fixed in device/perfusion/io.py: 'direction' must have three "
           "independent axes (|det| >= 0.001).")


def npz_singular_direction() -> bytes:
    vol = np.zeros((16, 16, 16), np.float32)
    vol[6:10, 6:10, 6:10] = 100
    return _npz(stress=vol, voxel_mm=np.array(6.4), orientation=np.array("transaxial"), direction=np.zeros((3, 3)))


def test_regression_npz_singular_direction(tmp_path):
    from device.errors import InputError
    from device.perfusion.io import load_volume

    with pytest.raises(InputError, match="direction"):
        load_volume(write_case(tmp_path, "study.npz", npz_singular_direction()))


def sax_spacing_one_micron() -> list[bytes]:
    """The phantom short-axis cine written with PixelSpacing 0.000001 mm."""
    from device.lv.phantom import sax_cine

    out = []
    for k, f in enumerate(sax_cine(2, 96, 1.4, seed=3)[0]):
        ds = mr_slice(f, n=k + 1)
        ds.PixelSpacing = [1e-6, 1e-6]
        out.append(_to_bytes(ds))
    return out


@needs_lv
def test_regression_sax_spacing_one_micron(tmp_path):
    """PixelSpacing 1e-6 mm: the 160 mm crop became 1.6e8 px and numpy asked for 12.8 PiB (MemoryError)."""
    from device.errors import InputError
    from device.lv.dicom_io import read_frames
    from device.lv.sax import measure_sax_series
    from device.lv.segment import load_lv_model

    d = tmp_path / "series"
    d.mkdir()
    for k, data in enumerate(sax_spacing_one_micron()):
        write_case(d, f"IM{k}.dcm", data)
    with pytest.raises(InputError):
        measure_sax_series(read_frames(d), load_lv_model("sax"))
