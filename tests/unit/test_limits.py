"""Issue 13, resource limits: small crafted bombs that would take gigabytes without the limit are refused from their
headers. The CLI cases run in a subprocess whose peak RSS is measured: VmHWM of the child's own address space.
(Not ru_maxrss: Linux carries the high-water mark of the pre-exec address space across execve, and subprocess may
vfork, so ru_maxrss of the child reported the pytest parent's 2.4 GB in CI.)"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest

from device import limits
from device.errors import InputError

RUN = ("import resource, runpy, sys; sys.argv = ['device'] + sys.argv[1:]\n"
       "try:\n    runpy.run_module('device', run_name='__main__')\n"
       "except SystemExit as e:\n    code = e.code\nelse:\n    code = 0\n"
       "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')][0].split()[1]\n"
       "print('PEAK_RSS_KB', hwm, file=sys.stderr)\n"
       "sys.exit(code)\n")


def _cli(*args: str) -> tuple[int, str, float]:
    r = subprocess.run([sys.executable, "-c", RUN, *args], capture_output=True, text=True, timeout=300)
    lines = r.stderr.strip().splitlines()
    peak_mb = int(lines[-1].split()[1]) / 1024
    return r.returncode, "\n".join(lines[:-1]), peak_mb


def _npz_bomb(path: Path, n_bytes: int) -> None:
    """An .npz whose 'stress' array holds ``n_bytes`` of zeros, deflated (a few hundred kB per GB)."""
    from numpy.lib import format as npf

    buf = __import__("io").BytesIO()
    npf.write_array_header_1_0(buf, {"descr": "<f4", "fortran_order": False, "shape": (n_bytes // 4,)})
    io_header = buf.getvalue()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("stress.npy", "w", force_zip64=True) as fh:
            fh.write(io_header)
            chunk = bytes(2 ** 24)
            for _ in range(n_bytes // len(chunk)):
                fh.write(chunk)
        zf.writestr("voxel_mm.npy", _npy(np.array([3.2, 3.2, 3.2])))


def _npy(a: np.ndarray) -> bytes:
    import io

    b = io.BytesIO()
    np.save(b, a)
    return b.getvalue()


def _png_bomb(path: Path, side: int) -> None:
    """A greyscale PNG of side x side zero pixels: ~1 kB per megapixel on disk."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    comp = zlib.compressobj(9)
    row = bytes(side + 1)
    idat = b"".join(comp.compress(row) for _ in range(side)) + comp.flush()
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def npz_bomb(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("bomb") / "study.npz"
    _npz_bomb(p, 768 * 2 ** 20)  # 768 MB of float32 zeros in ~0.8 MB (a zip of 1.5 GB is refused by its directory)
    return p


def test_npz_bomb_is_small_on_disk_and_refused_from_its_header(npz_bomb):
    assert npz_bomb.stat().st_size < 4 * 2 ** 20
    with pytest.raises(InputError, match=r"768 MB"):
        limits.check_npz(npz_bomb, npz_bomb.name)
    with pytest.raises(InputError, match=r"768 MB"):
        limits.check_npz(npz_bomb.read_bytes(), "upload")


def test_perfusion_cli_refuses_the_npz_bomb_without_inflating_it(npz_bomb, tmp_path):
    code, err, peak_mb = _cli("perfusion", "polar", str(npz_bomb), "--out", str(tmp_path / "o"))
    assert code != 0 and "768 MB" in err and "Traceback" not in err
    assert peak_mb < 600, peak_mb          # inflating it takes 768 MB (+ a float32 copy); issue 13: 9.3 GB


def test_uploaded_npz_bomb_is_refused_before_np_load(npz_bomb, tmp_path):
    from device.store import clinical
    from device.usecases.perfusion_volumes import load_capture

    class Blobs:
        def get(self, sha):
            return npz_bomb.read_bytes()

    cap = clinical.Capture(id=1, exam_id=1, kind="volume", blob_sha256="0" * 64, label="stress", quality=None,
                           meta={"format": "npz", "array": "stress", "voxel_mm": [3.2] * 3}, created_at="")
    with pytest.raises(InputError, match="768 MB"):
        load_capture(Blobs(), cap, tmp_path)


def test_png_bomb_is_refused_by_echo_view_from_its_header(tmp_path):
    p = tmp_path / "bomb.png"
    _png_bomb(p, 12000)  # 144 megapixels, ~150 kB
    assert p.stat().st_size < 2 ** 20
    code, err, peak_mb = _cli("echo", "view", str(p), "--json")
    assert code != 0 and "megapixels" in err and "Traceback" not in err, err
    assert peak_mb < 600, peak_mb          # decoding takes 144 MB grey + 432 MB BGR + RGB copy; issue 13: 8.7 GB


def test_truncated_jpeg_is_refused(tmp_path):
    import cv2

    img = np.random.default_rng(0).integers(0, 255, (600, 800, 3), np.uint8)
    data = cv2.imencode(".jpg", img)[1].tobytes()
    p = tmp_path / "half.jpg"
    p.write_bytes(data[: len(data) // 2])
    assert cv2.imread(str(p)) is not None          # OpenCV reads the half file silently
    with pytest.raises(InputError, match="incomplete or damaged"):
        limits.check_image_file(p)
    from device.drivers.files import ImageSource

    with pytest.raises(InputError, match="incomplete or damaged"):
        ImageSource(p).open()


def test_zip_members_and_ratio_limits(tmp_path):
    p = tmp_path / "many.zip"
    with zipfile.ZipFile(p, "w") as zf:
        for i in range(limits.MAX_ZIP_MEMBERS + 1):
            zf.writestr(f"{i}.dcm", b"")
    with pytest.raises(InputError, match="holds 5001 files"):
        limits.check_zip(p, p.name)
    q = tmp_path / "ratio.zip"
    with zipfile.ZipFile(q, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.dcm", bytes(50 * 2 ** 20))
    with pytest.raises(InputError, match="inflates"):
        limits.check_zip(q, q.name)


def test_normal_study_passes(tmp_path):
    from device.sim.spect import simulate_study

    s = simulate_study((), seed=0)
    p = tmp_path / "ok.npz"
    np.savez_compressed(p, stress=s.stress, voxel_mm=np.array(s.voxel_mm))
    limits.check_npz(p, p.name)
    limits.check_npz(_npy(s.stress), "x.npy")
    assert json.dumps(limits.MAX_ARRAY_BYTES)


def test_video_over_the_frame_size_or_count_limit_is_refused_before_reading(tmp_path):
    """Frame limits of the video reader (echo view, echo measure, replay): frames larger than 4K, or more frames than
    MAX_VIDEO_FRAMES, are refused from the container's header, before any frame is decoded into memory."""
    import cv2

    from device.drivers.video_file import VideoFileSource

    big = tmp_path / "big.avi"
    w = cv2.VideoWriter(str(big), cv2.VideoWriter_fourcc(*"MJPG"), 30, (4200, 2100))
    w.write(np.zeros((2100, 4200, 3), np.uint8))
    w.release()
    with pytest.raises(InputError, match="larger than 4K"):
        VideoFileSource(big).open()
    with pytest.raises(InputError, match="more than the 10000"):
        limits.check_video(limits.MAX_VIDEO_FRAMES + 1, 640, 480, "long.avi")
    limits.check_video(limits.MAX_VIDEO_FRAMES, 3840, 2160, "4k.avi")     # the limits themselves are allowed
