"""Fuzzing of the DICOM readers: echo DICOM cines, the LV short-axis series reader, the echo measure clip reader and
the DICOM ECG waveform reader (the perfusion loaders are in ``test_fuzz_perfusion.py``, using the seeds and
``weird_dicom`` from here).

Seeds are written here with pydicom (and the project's own writers: ``device.sim.spect.write_nm_dicom``,
``device.ecg.export.write_dicom``) in several transfer syntaxes; cases are either mutated bytes of the seeds or
structurally valid datasets with odd tags (see ``weird_dicom``). The harness is in ``test_fuzz_inputs.py``.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import strategies as st
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.tag import Tag
from pydicom.uid import (DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian, ExplicitVRLittleEndian,
                         ImplicitVRLittleEndian, JPEGBaseline8Bit, MRImageStorage, RLELossless,
                         UltrasoundMultiFrameImageStorage, generate_uid)

from tests.stress.test_fuzz_inputs import Fuzz, assert_user_error, finish, memory_cap, mutated, write_case

SYNTAXES = (ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian, DeflatedExplicitVRLittleEndian)


def _to_bytes(ds: Dataset, syntax=ExplicitVRLittleEndian) -> bytes:
    ds.file_meta.TransferSyntaxUID = syntax
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def _base(sop: str, modality: str) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID, ds.SOPInstanceUID = sop, ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality = modality
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    return ds


def us_cine(frames: np.ndarray, mm_per_px: float | None = 0.3, rgb: bool = False) -> Dataset:
    """An ultrasound multi-frame (8-bit grey or RGB) with a Sequence of Ultrasound Regions."""
    ds = _base(UltrasoundMultiFrameImageStorage, "US")
    ds.NumberOfFrames = len(frames)
    ds.Rows, ds.Columns = frames.shape[1:3]
    if rgb:
        ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
    else:
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.FrameTime = "33.3"
    if mm_per_px is not None:
        r = Dataset()
        r.RegionSpatialFormat, r.RegionDataType = 1, 1
        r.PhysicalUnitsXDirection = r.PhysicalUnitsYDirection = 3
        r.PhysicalDeltaX = r.PhysicalDeltaY = mm_per_px / 10.0
        r.RegionLocationMinX0, r.RegionLocationMinY0 = 0, 0
        r.RegionLocationMaxX1, r.RegionLocationMaxY1 = frames.shape[2] - 1, frames.shape[1] - 1
        ds.SequenceOfUltrasoundRegions = [r]
    ds.PixelData = np.ascontiguousarray(frames, np.uint8).tobytes()
    return ds


def mr_slice(pixels: np.ndarray, n: int = 1, loc: float = 10.0) -> Dataset:
    """A 16-bit MR short-axis image (single or multi-frame) like the LVQuan / Sunnybrook series."""
    ds = _base(MRImageStorage, "MR")
    ds.SeriesDescription, ds.InstanceNumber = "SAX cine", n
    arr = np.clip(pixels, 0, 4000).astype(np.uint16)
    if arr.ndim == 3:
        ds.NumberOfFrames = arr.shape[0]
    ds.Rows, ds.Columns = arr.shape[-2:]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PixelSpacing = [1.4, 1.4]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 0.8, -0.6]
    ds.ImagePositionPatient = [0, 0, loc]
    ds.SliceLocation, ds.TriggerTime = loc, 40.0 * n
    ds.PixelData = arr.tobytes()
    return ds


def _jpeg_cine(frames: np.ndarray) -> bytes:
    from PIL import Image
    from pydicom.encaps import encapsulate

    ds = us_cine(frames)
    buf = []
    for f in frames:
        b = io.BytesIO()
        Image.fromarray(f).save(b, format="JPEG", quality=80)
        buf.append(b.getvalue())
    ds.PixelData = encapsulate(buf)
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.PhotometricInterpretation = "YBR_FULL_422"
    ds.LossyImageCompression = "01"
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def _rle(ds: Dataset) -> bytes:
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.compress(RLELossless)
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


@pytest.fixture(scope="module")
def seeds(tmp_path_factory) -> dict[str, list[bytes]]:
    return make_seeds(tmp_path_factory.mktemp("dicom_seeds"))


def make_seeds(tmp: Path) -> dict[str, list[bytes]]:
    """Valid DICOM files: US cines in six transfer syntaxes (incl. RLE and JPEG), MR short-axis slices, NM
    multi-frame volumes (device.sim.spect.write_nm_dicom), a 12-lead ECG waveform (device.ecg.export)."""
    from device.ecg import export
    from device.lv.phantom import sax_cine
    from device.sim.spect import simulate_study, write_nm_dicom

    rng = np.random.default_rng(3)
    cine = rng.integers(0, 256, (4, 24, 32), dtype=np.uint8)
    mr, _ = sax_cine(3, 32, 1.4, seed=1)
    us = [_to_bytes(us_cine(cine), s) for s in SYNTAXES]
    us += [_to_bytes(us_cine(np.repeat(cine[..., None], 3, -1), rgb=True)), _jpeg_cine(cine), _rle(us_cine(cine))]
    mrs = [_to_bytes(mr_slice(mr[0]), s) for s in SYNTAXES] + [_to_bytes(mr_slice(np.stack(mr)))]
    study = simulate_study((), orientation="transaxial", seed=1)
    nm = []
    for k, orient in enumerate(("short_axis", "transaxial")):
        p = tmp / f"nm{k}.dcm"
        write_nm_dicom(str(p), study.stress[::4, ::4, ::4], (12.8, 12.8, 12.8), orientation=orient)
        nm.append(p.read_bytes())
    t = np.arange(500) / 500.0
    ecg = export.write_dicom(tmp / "ecg.dcm", np.column_stack([np.sin(2 * np.pi * t * k) for k in range(1, 13)]),
                             500.0).read_bytes()
    return {"us": us, "mr": mrs, "nm": nm, "ecg": [ecg], "all": us + mrs + nm + [ecg]}


# ------------------------------------------------------------------------------------------------ odd but valid

_ODD_DS = [b"0.3\\0.3", b"nan\\nan", b"0\\1", b"-1\\1", b"1", b"abc\\def", b"inf\\1", b"1e999\\1", b"", b"\\",
           b"1\\2\\3", b" 1 \\ 1 "]
_ODD_IS = [b"0", b"1", b"2", b"-1", b"abc", b"", b"2147483647", b"99999999999", b"1.5", b"+3"]
_ODD_PHOTOMETRIC = ["MONOCHROME1", "MONOCHROME2", "RGB", "YBR_FULL", "YBR_FULL_422", "PALETTE COLOR", "CMYK", "",
                    "BANANA"]


@st.composite
def weird_dicom(draw) -> bytes:
    """A dataset that pydicom writes without complaint but whose tags disagree with each other or with sense:
    0 / 1 / 65535 rows, frame counts that do not match the data, bits allocated 1..32, missing or short pixel
    data, NaN / negative / non-numeric pixel spacing, slice location, frame time, rescale, orientation, odd
    photometric interpretations, modality; written implicit VR so tags with bad text are read back as-is."""
    kind = draw(st.sampled_from(("us", "mr", "nm")))
    ds = _base({"us": UltrasoundMultiFrameImageStorage, "mr": MRImageStorage,
                "nm": "1.2.840.10008.5.1.4.1.1.20"}[kind], draw(st.sampled_from(["US", "MR", "NM", "PT", "", "XX"])))
    rows, cols = draw(st.sampled_from([0, 1, 2, 8, 17, 64, 65535])), draw(st.sampled_from([0, 1, 3, 8, 16, 65535]))
    frames = draw(st.sampled_from([None, b"0", b"1", b"2", b"3", b"-1", b"abc", b"", b"2147483647"]))
    bits = draw(st.sampled_from([1, 8, 12, 16, 32]))
    spp = draw(st.sampled_from([1, 3, 4]))
    ds.Rows, ds.Columns = rows, cols
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = bits, bits, max(bits - 1, 0)
    ds.PixelRepresentation = draw(st.sampled_from([0, 1]))
    ds.SamplesPerPixel = spp
    if spp > 1:
        ds.PlanarConfiguration = draw(st.sampled_from([0, 1]))
    ds.PhotometricInterpretation = draw(st.sampled_from(_ODD_PHOTOMETRIC))
    raw: dict[int, tuple[str, bytes]] = {}
    if frames is not None:
        raw[0x00280008] = ("IS", frames)
    for tag, vr, choices in ((0x00280030, "DS", _ODD_DS), (0x00201041, "DS", _ODD_DS[:4] + [b"abc", b"nan"]),
                             (0x00181060, "DS", _ODD_DS), (0x00181063, "DS", [b"0", b"-5", b"abc", b"nan", b"33"]),
                             (0x00281053, "DS", [b"nan", b"0", b"abc", b"1e308", b"-1"]),
                             (0x00281052, "DS", [b"nan", b"abc", b"1e308"]),
                             (0x00200037, "DS", [b"1\\0\\0\\0\\1\\0", b"0\\0\\0\\0\\0\\0", b"nan\\0\\0\\0\\1\\0",
                                                 b"1\\0\\0", b"a\\b\\c\\d\\e\\f"]),
                             (0x00200032, "DS", [b"0\\0\\0", b"nan\\0\\0", b"1", b"x\\y\\z"]),
                             (0x00180088, "DS", [b"0", b"-4", b"nan", b"abc"]),
                             (0x00180050, "DS", [b"0", b"nan", b"abc"]),
                             (0x00200013, "IS", _ODD_IS),
                             (0x0008103E, "LO", [b"SAX", b"4CH cine", b"", b"\xff\xfe"])):
        if draw(st.booleans()):
            raw[tag] = (vr, draw(st.sampled_from(choices)))
    if draw(st.booleans()):
        r = Dataset()
        for name in ("PhysicalUnitsXDirection", "PhysicalUnitsYDirection"):
            setattr(r, name, draw(st.sampled_from([0, 3, 4, 65535])))
        for name in ("PhysicalDeltaX", "PhysicalDeltaY"):
            setattr(r, name, draw(st.sampled_from([0.03, 0.0, -0.03, float("nan"), float("inf"), 1e300])))
        for name in ("RegionLocationMinX0", "RegionLocationMinY0", "RegionLocationMaxX1", "RegionLocationMaxY1"):
            setattr(r, name, draw(st.sampled_from([0, 5, 63, 4294967295])))
        r.RegionSpatialFormat = draw(st.sampled_from([0, 1, 2]))
        ds.SequenceOfUltrasoundRegions = [r] * draw(st.integers(0, 2))
    n_frames = {b"2": 2, b"3": 3}.get(frames, 1)
    want = rows * cols * spp * max(bits // 8, 1) * n_frames
    size = draw(st.sampled_from(["exact", "short", "empty", "long", "odd", "none"]))
    if size != "none" and want <= 1 << 20:
        n = {"exact": want, "short": want // 2, "empty": 0, "long": want + 64, "odd": want + 1}[size]
        ds.PixelData = bytes(np.random.default_rng(n).integers(0, 256, n, dtype=np.uint8))
        ds["PixelData"].VR = "OB" if bits <= 8 else "OW"
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    for tag, (_vr, value) in raw.items():
        if len(value) % 2:
            value += b" "
        # a raw element is written as it is: read back with the dictionary's VR, bad text and all
        ds._dict[Tag(tag)] = RawDataElement(Tag(tag), None, len(value), value, 0, True, True)
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def dicom_cases(seeds: list[bytes]) -> st.SearchStrategy[bytes]:
    return st.one_of(mutated(seeds, head=2048), weird_dicom(), st.binary(max_size=300),
                     st.binary(max_size=200).map(lambda b: b"\0" * 128 + b"DICM" + b))


# ------------------------------------------------------------------------------------------------ echo DICOM cine

def _cine_case(tmp: Path):
    from device.drivers.files import open_file_source

    def call(data: bytes):
        src = open_file_source(write_case(tmp, "cine.dcm", data))
        src.open()
        try:
            for i, fr in enumerate(src):
                assert fr.pixels.ndim == 3 and fr.pixels.shape[2] == 3 and fr.pixels.dtype == np.uint8
                assert fr.mm_per_px is None or (np.isfinite(fr.mm_per_px) and fr.mm_per_px > 0), fr.mm_per_px
                assert fr.fps is None or (np.isfinite(fr.fps) and fr.fps > 0), fr.fps
                if i >= 63:
                    break
        finally:
            src.close()
    return call


def test_fuzz_echo_dicom_cine(tmp_path, budget, figures, seeds):
    fuzz = Fuzz("Echo DICOM cine", "device.drivers.files.open_file_source -> DicomCineSource", _cine_case(tmp_path),
                case_timeout_s=20)
    fuzz.run(dicom_cases(seeds["us"] + seeds["mr"][:1]), budget(short=150, full=2000))
    finish(fuzz, figures, CINE_REGRESSIONS,
           note="a file whose first element declares 4 GB (MemoryError), a file cut inside an element header "
           "(struct.error), FrameTime stored with the unknown VR 'DU' (NotImplementedError), a 1-bit 'CMYK' image that "
           "decoded into frames of 16 channels, a two-valued PhysicalDeltaX (TypeError). Fixed in "
           "device/drivers/dicom_cine.py: any read failure is the user error 'not a readable DICOM file', unusable frame "
           "rate or region tags fall back to 30 fps / no calibration, frame shapes are checked; NaN/inf region deltas "
           "are ignored (device/echo/screen.py).")


# ------------------------------------------------------------------------------------------------ LV SAX series

def _sax_case(tmp: Path):
    from device.lv.dicom_io import check_short_axis_description, read_frames

    def call(x: tuple[bool, list[bytes]]):
        as_folder, files = x
        if as_folder:
            d = tmp / "series"
            d.mkdir(exist_ok=True)
            for old in d.iterdir():
                old.unlink()
            for k, data in enumerate(files):
                write_case(d, f"IM{k:04d}.dcm", data)
            frames = read_frames(d)
        else:
            frames = read_frames(write_case(tmp, "sax.dcm", files[0]))
        check_short_axis_description(frames)
        for f in frames:
            assert f.pixels.dtype == np.float32 and f.pixels.ndim in (2, 3) and 0 not in f.pixels.shape
            assert f.spacing_rc is None or (all(np.isfinite(f.spacing_rc)) and min(f.spacing_rc) > 0), f.spacing_rc
    return call


def test_fuzz_lv_sax_series(tmp_path, budget, figures, seeds):
    """``python -m device lv sax SERIES``: one file or a folder of files (read_frames)."""
    fuzz = Fuzz("LV SAX series", "device.lv.dicom_io.read_frames (lv sax)", _sax_case(tmp_path), case_timeout_s=20)
    cases = dicom_cases(seeds["mr"] + seeds["us"][:2])
    fuzz.run(st.tuples(st.booleans(), st.lists(cases, min_size=1, max_size=3)), budget(short=120, full=1500))
    finish(fuzz, figures, SAX_REGRESSIONS,
           note="SliceLocation with two values (TypeError), a deflated file with a broken deflate stream "
           "(zlib.error), a 4 GB element (MemoryError, also inside a folder). Fixed in device/lv/dicom_io.py: read "
           "failures are the user error (a damaged file in a folder is skipped), tag values are converted by _float/"
           "_floats (unusable -> absent), frame shapes are checked.")


def _clip_case(tmp: Path):
    from device.cli.echo_measure import read_clip

    def call(data: bytes):
        frames, cal = read_clip(write_case(tmp, "clip.dcm", data), None)
        assert frames.ndim in (3, 4) and (cal is None or all(np.isfinite(cal)) and min(cal) > 0)
    return call


def test_fuzz_echo_measure_clip(tmp_path, budget, figures, seeds):
    """``python -m device echo measure CINE``: frames and calibration of a DICOM cine (read_clip)."""
    fuzz = Fuzz("Echo measure clip", "device.cli.echo_measure.read_clip", _clip_case(tmp_path), case_timeout_s=20)
    fuzz.run(dicom_cases(seeds["us"]), budget(short=80, full=1000))
    finish(fuzz, figures, CLIP_REGRESSIONS,
           note="the 4 GB element MemoryError of the series reader (read_clip uses it); same fix.")


# ------------------------------------------------------------------------------------------------ DICOM ECG waveform

def test_fuzz_ecg_dicom_waveform(tmp_path, budget, figures, seeds):
    """DICOM 12-lead ECG waveforms (device.ecg.export.read_dicom_waveform, the reader of what the cart exports)."""
    from device.ecg.export import read_dicom_waveform

    def call(data: bytes):
        x, fs, labels = read_dicom_waveform(write_case(tmp_path, "ecg.dcm", data))
        assert x.ndim == 2 and x.shape[1] == len(labels) and np.isfinite(fs) and fs > 0
    fuzz = Fuzz("ECG DICOM waveform", "device.ecg.export.read_dicom_waveform", call, case_timeout_s=20)
    fuzz.run(dicom_cases(seeds["ecg"]), budget(short=100, full=1500))
    finish(fuzz, figures, WAVEFORM_REGRESSIONS,
           note="read_dicom_waveform had no error handling: InvalidDicomError for a 1-byte file, AttributeError "
           "for an image or a waveform item without data, MemoryError for a 4 GB element, NotImplementedError for an "
           "unknown VR in a channel definition. Fixed in device/ecg/export.py.")


# ------------------------------------------------------------------------------------------------ regressions
# Crashes fuzzing found, each as a hand-written minimal input. Fixed in device/drivers/dicom_cine.py,
# device/lv/dicom_io.py, device/perfusion/{io,dicom_io}.py and device/ecg/export.py.

_PREAMBLE = b"\0" * 128 + b"DICM"


def dcm_huge_length() -> bytes:
    """A 150-byte file whose first element declares 4 GB: pydicom allocates it (MemoryError on a small cart)."""
    return _PREAMBLE + b"\x02\x00\x01\x00OB\x00\x00" + struct.pack("<I", 0xFFFFFFF0) + b"\x00\x01"


def dcm_cut_in_header() -> bytes:
    """The file ends inside an element header: struct.error from pydicom."""
    return _PREAMBLE + b"\x02\x00\x01\x00OB\x00\x00\x02"


def dcm_unknown_vr() -> bytes:
    """FrameTime (0018,1063) stored with the non-existent VR 'DU': NotImplementedError when read."""
    data = _to_bytes(us_cine(np.zeros((2, 8, 8), np.uint8)))
    i = data.index(b"\x18\x00\x63\x10DS")
    return data[:i + 4] + b"DU" + data[i + 6:]


def dcm_one_bit_cmyk() -> bytes:
    """8 x 16 px, 1 bit, 'CMYK', no NumberOfFrames: pydicom gives (4, 8, 16); it became frames of 16 channels."""
    ds = _base(UltrasoundMultiFrameImageStorage, "US")
    ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.PhotometricInterpretation = 8, 16, 1, "CMYK"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 1, 1, 0, 0
    ds.PixelData = bytes(range(64))
    ds["PixelData"].VR = "OB"
    return _to_bytes(ds, ImplicitVRLittleEndian)


def dcm_two_slice_locations() -> bytes:
    """SliceLocation '1\\2' (two values): float(MultiValue) raised TypeError in read_frames."""
    ds = mr_slice(np.zeros((8, 8)))
    del ds.SliceLocation
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    ds._dict[Tag(0x00201041)] = RawDataElement(Tag(0x00201041), None, 4, b"1\\2 ", 0, True, True)
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def dcm_bad_deflate() -> bytes:
    """Deflated Explicit VR Little Endian whose deflate stream is garbage: zlib.error from pydicom."""
    data = bytearray(_to_bytes(mr_slice(np.zeros((8, 8))), DeflatedExplicitVRLittleEndian))
    body = 132 + 12 + struct.unpack_from("<I", data, 140)[0]    # after the file meta group
    data[body] = 0xFF                      # deflate block type 3 (reserved): "invalid block type"
    return bytes(data)


def waveform_without_data() -> bytes:
    from device.ecg.export import dicom_waveform

    ds = dicom_waveform(np.zeros((500, 12)), 500.0)
    del ds.WaveformSequence[0].WaveformData
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def dcm_region_delta_two_values() -> bytes:
    """PhysicalDeltaX stored with two values: float(list) raised TypeError in the region calibration."""
    ds = us_cine(np.zeros((2, 8, 8), np.uint8))
    ds.SequenceOfUltrasoundRegions[0].PhysicalDeltaX = [0.03, 0.03]
    return _to_bytes(ds)


CINE_REGRESSIONS = [("test_regression_dicom_declaring_4gb_element", dcm_huge_length),
                    ("test_regression_dicom_region_delta_two_values", dcm_region_delta_two_values),
                    ("test_regression_dicom_cut_inside_element_header", dcm_cut_in_header),
                    ("test_regression_dicom_unknown_vr_frame_time", dcm_unknown_vr),
                    ("test_regression_dicom_one_bit_cmyk_frames", dcm_one_bit_cmyk)]
SAX_REGRESSIONS = [("test_regression_sax_two_slice_locations", lambda: (False, [dcm_two_slice_locations()])),
                   ("test_regression_sax_bad_deflate_stream", lambda: (False, [dcm_bad_deflate()])),
                   ("test_regression_dicom_declaring_4gb_element", lambda: (False, [dcm_huge_length()])),
                   ("test_regression_sax_folder_with_4gb_element", lambda: (True, [dcm_huge_length()]))]
CLIP_REGRESSIONS = [("test_regression_dicom_declaring_4gb_element", dcm_huge_length)]
def waveform_unknown_vr() -> bytes:
    """ChannelSensitivity (003A,0212) stored with the VR 'D0': pydicom raises NotImplementedError on access."""
    from device.ecg.export import dicom_waveform

    buf = io.BytesIO()
    dicom_waveform(np.zeros((500, 12)), 500.0).save_as(buf, enforce_file_format=True)
    data = buf.getvalue()
    i = data.index(b"\x3a\x00\x12\x02DS")
    return data[:i + 4] + b"D0" + data[i + 6:]


def test_regression_waveform_unknown_vr(tmp_path):
    _refused_waveform(tmp_path, waveform_unknown_vr)


WAVEFORM_REGRESSIONS = [("test_regression_waveform_unknown_vr", waveform_unknown_vr),
                        ("test_regression_waveform_one_byte_file", lambda: b"\0"),
                        ("test_regression_waveform_of_an_image", lambda: _to_bytes(mr_slice(np.zeros((8, 8))))),
                        ("test_regression_waveform_without_data", waveform_without_data),
                        ("test_regression_dicom_declaring_4gb_element", dcm_huge_length)]


def test_regression_dicom_declaring_4gb_element(tmp_path):
    """Every DICOM reader, under the cart's memory: a declared 4 GB element is refused with a user error."""
    from device.ecg.export import read_dicom_waveform
    from device.perfusion.io import load_volume

    with memory_cap():
        assert_user_error(lambda: _cine_case(tmp_path)(dcm_huge_length()))
        assert_user_error(lambda: _sax_case(tmp_path)((False, [dcm_huge_length()])))
        assert_user_error(lambda: _clip_case(tmp_path)(dcm_huge_length()))
        assert_user_error(lambda: load_volume(write_case(tmp_path, "nm.dcm", dcm_huge_length())))
        assert_user_error(lambda: read_dicom_waveform(write_case(tmp_path, "ecg.dcm", dcm_huge_length())))


def test_regression_sax_folder_with_4gb_element(tmp_path):
    """In a folder a damaged file is skipped like any non-DICOM file; alone it leaves no images: a user error."""
    from device.errors import InputError

    with memory_cap(), pytest.raises(InputError, match="no DICOM images"):
        _sax_case(tmp_path)((True, [dcm_huge_length()]))


def test_regression_dicom_region_delta_two_values(tmp_path):
    """The cine still plays, without a calibration."""
    _cine_case(tmp_path)(dcm_region_delta_two_values())


def test_regression_dicom_cut_inside_element_header(tmp_path):
    assert_user_error(lambda: _cine_case(tmp_path)(dcm_cut_in_header()))
    assert_user_error(lambda: _sax_case(tmp_path)((False, [dcm_cut_in_header()])))


def test_regression_dicom_unknown_vr_frame_time(tmp_path):
    """An unknown VR on FrameTime: the cine plays at the default rate instead of crashing."""
    _cine_case(tmp_path)(dcm_unknown_vr())


def test_regression_dicom_one_bit_cmyk_frames(tmp_path):
    assert_user_error(lambda: _cine_case(tmp_path)(dcm_one_bit_cmyk()))
    assert_user_error(lambda: _sax_case(tmp_path)((False, [dcm_one_bit_cmyk()])))


def test_regression_sax_two_slice_locations(tmp_path):
    _sax_case(tmp_path)((False, [dcm_two_slice_locations()]))


def test_regression_sax_bad_deflate_stream(tmp_path):
    from device.errors import InputError

    with pytest.raises(InputError):
        _sax_case(tmp_path)((False, [dcm_bad_deflate()]))


def _refused_waveform(tmp_path, make):
    from device.ecg.export import read_dicom_waveform
    from device.errors import InputError

    with pytest.raises(InputError):
        read_dicom_waveform(write_case(tmp_path, "ecg.dcm", make()))


def test_regression_waveform_one_byte_file(tmp_path):
    _refused_waveform(tmp_path, lambda: b"\0")


def test_regression_waveform_of_an_image(tmp_path):
    _refused_waveform(tmp_path, lambda: _to_bytes(mr_slice(np.zeros((8, 8)))))


def test_regression_waveform_without_data(tmp_path):
    _refused_waveform(tmp_path, waveform_without_data)


def test_regression_nan_ultrasound_region_gives_no_calibration(tmp_path):
    """Found by reading the region code while fixing the above: a NaN / inf PhysicalDelta passed every check and
    became the cine's mm per pixel. Now such a region is ignored (no calibration)."""
    from device.drivers.dicom_cine import DicomCineSource

    for bad in (float("nan"), float("inf")):
        ds = us_cine(np.zeros((2, 8, 8), np.uint8))
        ds.SequenceOfUltrasoundRegions[0].PhysicalDeltaX = bad
        ds.SequenceOfUltrasoundRegions[0].PhysicalDeltaY = bad
        src = DicomCineSource(write_case(tmp_path, "nan.dcm", _to_bytes(ds)), realtime=False)
        src.open()
        assert src.mm_per_px is None
        src.close()
