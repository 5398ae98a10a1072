"""Fuzzing of the perfusion study loaders: ``python -m device perfusion polar VOLUME`` and the UI upload
(``device.perfusion.io.load_volume``: DICOM NM/PET file or folder, .npy, .npz) and the stored upload read back for
analysis (``device.usecases.perfusion_volumes.load_capture``: a .zip of DICOM slices, a multi-frame DICOM, a .npz). DICOM seeds
and ``weird_dicom`` come from ``test_fuzz_dicom.py``; the harness from ``test_fuzz_inputs.py``.
"""

from __future__ import annotations

import io
import struct
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import strategies as st

from tests.stress.test_fuzz_dicom import _to_bytes, dcm_huge_length, dicom_cases, make_seeds, mr_slice, weird_dicom
from tests.stress.test_fuzz_inputs import Fuzz, finish, mutated, write_case


@pytest.fixture(scope="module")
def seeds(tmp_path_factory) -> dict[str, list[bytes]]:
    return make_seeds(tmp_path_factory.mktemp("dicom_seeds"))


def _perf_case(tmp: Path):
    from device.perfusion.io import load_volume

    def call(x: tuple[str, list[bytes]]):
        mode, files = x
        if mode == "folder":
            d = tmp / "study"
            d.mkdir(exist_ok=True)
            for old in d.iterdir():
                old.unlink()
            for k, data in enumerate(files):
                write_case(d, f"s{k:03d}.dcm", data)
            path = d
        else:
            path = write_case(tmp, "study" + mode, files[0])
        vol, rest = load_volume(path, None if mode != ".npy" else 3.2)
        c = vol.counts
        assert c.ndim == 3 and min(c.shape) >= 8 and np.isfinite(c).all() and c.min() >= 0 and c.max() > 0
        assert all(np.isfinite(v) and v > 0 for v in vol.voxel_mm), vol.voxel_mm
    return call


def _npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


@st.composite
def weird_arrays(draw) -> tuple[str, list[bytes]]:
    shape = draw(st.sampled_from([(0,), (8,), (8, 8), (7, 8, 8), (8, 8, 8), (1, 8, 8, 8), (2, 8, 8, 8), (8, 8, 8, 1),
                                  (9, 12, 10)]))
    dtype = draw(st.sampled_from([np.float32, np.float64, np.uint16, np.int8, np.bool_, np.complex64, "U3",
                                  np.float16]))
    fill = draw(st.sampled_from(["rand", "zero", "nan", "neg", "inf", "huge"]))
    a = np.random.default_rng(1).random(shape) * 100
    a = {"rand": a, "zero": a * 0, "nan": a * np.nan, "neg": -a, "inf": a * np.inf, "huge": a * 1e300}[fill]
    with np.errstate(all="ignore"):
        a = a.astype(dtype)
    if draw(st.booleans()):
        return ".npy", [_npy(a)]
    arrays: dict[str, Any] = {draw(st.sampled_from(["stress", "volume", "counts", "other"])): a}
    if draw(st.booleans()):
        arrays["voxel_mm"] = np.array(draw(st.sampled_from([3.2, [4, 3.2, 3.2], 0, -1, np.nan, [1, 2], "abc", 1e9,
                                                            [[1, 2, 3]]])))
    if draw(st.booleans()):
        arrays["orientation"] = np.array(draw(st.sampled_from(["short_axis", "transaxial", "auto", "sideways", ""])))
    if draw(st.booleans()):
        arrays["direction"] = draw(st.sampled_from([np.eye(3), np.zeros((3, 3)), np.eye(2), np.full((3, 3), np.nan),
                                                    np.array("x")]))
    if draw(st.booleans()):
        arrays["rest"] = draw(st.sampled_from([a, a[:-1], np.zeros((8, 8, 8)), np.array(1.0)]))
    return ".npz", [_npz(**arrays)]


def test_fuzz_perfusion_study(tmp_path, budget, figures, seeds):
    """``python -m device perfusion polar VOLUME`` and the UI upload: DICOM NM/PET file or folder, .npy, .npz."""
    from device.sim.spect import simulate_study

    s = simulate_study((), orientation="short_axis", seed=2)
    npz = [_npz(stress=s.stress[::3, ::3, ::3], rest=s.rest[::3, ::3, ::3], voxel_mm=np.array(s.voxel_mm),
                orientation=np.array(s.orientation))]
    npy = [_npy(s.stress[::3, ::3, ::3].astype(np.float32))]
    nm = seeds["nm"]
    fuzz = Fuzz("Perfusion study", "device.perfusion.io.load_volume (perfusion polar, UI upload)",
                _perf_case(tmp_path), case_timeout_s=20)
    strategy = st.one_of(
        st.tuples(st.just(".dcm"), st.lists(dicom_cases(nm), min_size=1, max_size=1)),
        st.tuples(st.just("folder"), st.lists(st.one_of(mutated(nm), weird_dicom()), min_size=1, max_size=3)),
        st.tuples(st.just(".npz"), st.lists(mutated(npz), min_size=1, max_size=1)),
        st.tuples(st.just(".npy"), st.lists(mutated(npy, head=128), min_size=1, max_size=1)),
        weird_arrays())
    fuzz.run(strategy, budget(short=150, full=2000))
    finish(fuzz, figures, PERF_REGRESSIONS,
           note="a .npz that is not a zip or fails its CRC (BadZipFile), member offsets made negative (OSError), "
           "an unterminated .npy header (tokenize.TokenError, also inside a .npz), a 4 GB DICOM element (MemoryError), "
           "and (by analogy with the ECG waveform crash) PixelSpacing with an unknown VR (NotImplementedError). "
           "Fixed in device/perfusion/io.py and dicom_io.py: every numpy / zip / pydicom read failure is the user error; "
           "DICOM voxel sizes and orientations are validated like .npz ones.")


def npz_not_a_zip() -> bytes:
    return b"PK\x03\x04" + b"\0" * 26


def npz_bad_crc() -> bytes:
    data = bytearray(_npz(stress=np.ones((8, 8, 8), np.float32), voxel_mm=np.array(3.2)))
    data[200] ^= 0xFF                      # inside the stored (uncompressed) array: CRC-32 mismatch
    return bytes(data)


def npz_bad_directory_offset() -> bytes:
    data = bytearray(_npz(stress=np.ones((8, 8, 8), np.float32), voxel_mm=np.array(3.2)))
    i = data.rfind(b"PK\x05\x06")
    struct.pack_into("<I", data, i + 16, struct.unpack_from("<I", data, i + 16)[0] + 1000)
    return bytes(data)                     # member offsets go negative: OSError EINVAL on seek


def npy_unterminated_header() -> bytes:
    header = b"{'descr': '<f4', 'fortran_order': False, 'shape': (8, 8, 8"
    header += b" " * (118 - len(header)) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + bytes(2048)  # TokenError


def nm_unknown_vr(tmp: Path) -> bytes:
    """PixelSpacing (0028,0030) of an NM volume stored with the VR 'D0': NotImplementedError on access."""
    data = make_seeds(tmp)["nm"][0]
    i = data.index(b"\x28\x00\x30\x00DS")
    return data[:i + 4] + b"D0" + data[i + 6:]


def test_regression_nm_unknown_vr(tmp_path):
    from device.errors import InputError
    from device.perfusion.io import load_volume

    with pytest.raises(InputError):
        load_volume(write_case(tmp_path, "nm.dcm", nm_unknown_vr(tmp_path)))


PERF_REGRESSIONS = [("test_regression_nm_unknown_vr", lambda: (".dcm", [nm_unknown_vr(Path(tempfile.mkdtemp()))])),
                    ("test_regression_npz_not_a_zip", lambda: (".npz", [npz_not_a_zip()])),
                    ("test_regression_npz_bad_crc", lambda: (".npz", [npz_bad_crc()])),
                    ("test_regression_npz_bad_directory_offset", lambda: (".npz", [npz_bad_directory_offset()])),
                    ("test_regression_npy_unterminated_header", lambda: (".npy", [npy_unterminated_header()])),
                    ("test_regression_npz_member_unterminated_header", lambda: (".npz", [_zip_with_member(
                        "stress.npy", npy_unterminated_header())])),
                    ("test_regression_dicom_declaring_4gb_element", lambda: (".dcm", [dcm_huge_length()]))]


def _zip_with_member(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(name, data)
        zf.writestr("voxel_mm.npy", _npy(np.array(3.2)))
    return buf.getvalue()


def _refused_npz(tmp_path, make):
    from device.errors import InputError
    from device.perfusion.io import load_volume

    with pytest.raises(InputError):
        load_volume(write_case(tmp_path, "study.npz", make()))


def test_regression_npz_not_a_zip(tmp_path):
    _refused_npz(tmp_path, npz_not_a_zip)


def test_regression_npz_bad_crc(tmp_path):
    _refused_npz(tmp_path, npz_bad_crc)


def test_regression_npz_bad_directory_offset(tmp_path):
    _refused_npz(tmp_path, npz_bad_directory_offset)


def test_regression_npy_unterminated_header(tmp_path):
    from device.errors import InputError
    from device.perfusion.io import load_volume

    with pytest.raises(InputError):
        load_volume(write_case(tmp_path, "study.npy", npy_unterminated_header()), 3.2)


def test_regression_npz_member_unterminated_header(tmp_path):
    from device.errors import InputError
    from device.perfusion.io import load_volume

    with pytest.raises(InputError):
        load_volume(write_case(tmp_path, "study.npz", _zip_with_member("stress.npy", npy_unterminated_header())))


class _Blobs:
    def __init__(self, data: bytes):
        self.data = data

    def get(self, _sha: str) -> bytes:
        return self.data


def _upload_case(tmp: Path):
    from types import SimpleNamespace

    from device.usecases.perfusion_volumes import load_capture

    counter = {"n": 0}

    def call(x: tuple[str, str | None, bytes]):
        fmt, array, data = x
        counter["n"] += 1
        work = tmp / f"w{counter['n']}"
        work.mkdir()
        cap = SimpleNamespace(id=counter["n"], blob_sha256="-", meta={"format": fmt, "array": array,
                                                                     "voxel_mm": None, "orientation": "auto"})
        vol = load_capture(_Blobs(data), cap, work)
        assert vol.counts.ndim == 3 and np.isfinite(vol.counts).all()
    return call


def test_fuzz_perfusion_upload(tmp_path, budget, figures, seeds):
    """The stored upload read back for analysis (device.usecases.perfusion_volumes.load_capture): a .zip of DICOM slices, a
    multi-frame DICOM, a .npz with a chosen array; damaged archives and zip members with lying sizes."""
    from device.sim.spect import simulate_study

    s = simulate_study((), orientation="transaxial", seed=4)
    vol = s.stress[::3, ::3, ::3]
    slices = []
    for k in range(vol.shape[0]):
        ds = mr_slice(vol[k] * 100, n=k + 1, loc=3.0 * k)
        ds.Modality, ds.SOPClassUID = "NM", "1.2.840.10008.5.1.4.1.1.20"
        ds.ImageOrientationPatient, ds.ImagePositionPatient = [1, 0, 0, 0, 1, 0], [0, 0, 3.0 * k]
        ds.PixelSpacing, ds.SliceThickness = [3.0, 3.0], 3.0
        slices.append(ds)
    uid = slices[0].SeriesInstanceUID
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for k, ds in enumerate(slices):
            ds.SeriesInstanceUID = uid
            zf.writestr(f"{k:05d}_s.dcm", _to_bytes(ds))
    zipped = buf.getvalue()
    npz = _npz(stress=vol, rest=s.rest[::3, ::3, ::3], voxel_mm=np.array(9.6))
    fuzz = Fuzz("Perfusion upload (stored)", "device.usecases.perfusion_volumes.load_capture", _upload_case(tmp_path),
                case_timeout_s=20)
    strategy = st.one_of(
        st.tuples(st.just("zip"), st.none(), mutated([zipped], head=512)),
        st.tuples(st.just("zip"), st.none(), st.binary(max_size=200)),
        st.tuples(st.just("npz"), st.sampled_from(["stress", "rest", "nope"]), mutated([npz])),
        st.tuples(st.just("dicom"), st.none(), mutated(seeds["nm"])))
    fuzz.run(strategy, budget(short=80, full=1000))
    finish(fuzz, figures, UPLOAD_REGRESSIONS,
           note="a stored .zip with a damaged member header (BadZipFile), negative member offsets (ValueError), "
           "a broken deflate stream (zlib.error), and a .npz member with an unterminated header (TokenError) ended the "
           "analysis job as an internal error. Fixed in webui/views/perfusion.py (_unzip, _NPZ_ERRORS).")


def _zip_of_slices() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("00000_s.dcm", _to_bytes(mr_slice(np.arange(64.0).reshape(8, 8))))
    return buf.getvalue()


def zip_bad_local_header() -> bytes:
    return b"XXXX" + _zip_of_slices()[4:]          # the central directory still points at offset 0


def zip_bad_directory_offset() -> bytes:
    data = bytearray(_zip_of_slices())
    i = data.rfind(b"PK\x05\x06")
    struct.pack_into("<I", data, i + 16, struct.unpack_from("<I", data, i + 16)[0] + 1000)
    return bytes(data)                             # ValueError: negative seek value


def zip_bad_deflate() -> bytes:
    data = bytearray(_zip_of_slices())
    start = 30 + len("00000_s.dcm")                # the member's compressed data
    data[start] = 0xFF                             # deflate block type 3 (reserved): zlib.error
    return bytes(data)


UPLOAD_CASES = {
    "zip_bad_local_header": ("zip", None, zip_bad_local_header),
    "zip_bad_directory_offset": ("zip", None, zip_bad_directory_offset),
    "zip_bad_deflate": ("zip", None, zip_bad_deflate),
    "npz_member_unterminated_header": ("npz", "stress",
                                       lambda: _zip_with_member("stress.npy", npy_unterminated_header())),
}


UPLOAD_REGRESSIONS = [(f"test_regression_upload_{k}", lambda v=v: (v[0], v[1], v[2]())) for k, v in UPLOAD_CASES.items()]


def _refused_upload(tmp_path, name: str) -> None:
    from device.errors import InputError

    fmt, array, make = UPLOAD_CASES[name]
    with pytest.raises(InputError):
        _upload_case(tmp_path)((fmt, array, make()))


def test_regression_upload_zip_bad_local_header(tmp_path):
    """A stored .zip whose member header is damaged: BadZipFile escaped the analysis job (an internal error)."""
    _refused_upload(tmp_path, "zip_bad_local_header")


def test_regression_upload_zip_bad_directory_offset(tmp_path):
    _refused_upload(tmp_path, "zip_bad_directory_offset")


def test_regression_upload_zip_bad_deflate(tmp_path):
    _refused_upload(tmp_path, "zip_bad_deflate")


def test_regression_upload_npz_member_unterminated_header(tmp_path):
    _refused_upload(tmp_path, "npz_member_unterminated_header")


def test_regression_nm_parallel_row_and_column_directions(tmp_path):
    """Row and column directions equal: the slice normal is zero, and the study loaded with a degenerate direction."""
    import pydicom

    from device.errors import InputError
    from device.perfusion.io import load_volume

    p = write_case(tmp_path, "nm.dcm", make_seeds(tmp_path)["nm"][0])
    ds = pydicom.dcmread(p)
    ds.ImageOrientationPatient = [1, 0, 0, 1, 0, 0]
    ds.save_as(p)
    with pytest.raises(InputError, match="perpendicular"):
        load_volume(p)
