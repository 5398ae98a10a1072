"""Frame sources: registry, simulator, DICOM (incl. corrupt), video at native rate, OpenCV reconnection, picamera2."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from device.drivers.base import SourceFrame
from device.drivers.files import file_kind, iter_file_frames, read_any_frames
from device.drivers.opencv_capture import OpenCvCapture
from device.drivers.registry import available_sources, make_source, source_names
from device.errors import ConfigError, InputError


def test_registry_lists_valid_names_on_unknown_key():
    with pytest.raises(ConfigError) as e:
        make_source("firewire")
    for n in ("sim", "opencv", "picamera2", "dicom", "video"):
        assert n in str(e.value) and n in source_names()
    assert available_sources()["sim"] == "ok"


def test_sim_source_frames_carry_truth():
    src = make_source("sim", realtime=False, max_frames=4, width=320, height=240, sim_seed=1)
    frames = list(src)
    assert [f.index for f in frames] == [0, 1, 2, 3]
    f = frames[0]
    assert isinstance(f, SourceFrame) and f.pixels.shape == (240, 320, 3) and f.truth is not None
    assert f.mm_per_px == pytest.approx(f.truth.mm_per_px) and f.fps == 30.0
    assert frames[1].t_mono_ns >= f.t_mono_ns


def _write_video(path, n=12, fps=20.0):
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (64, 48))
    for k in range(n):
        img = np.full((48, 64, 3), k * 15, np.uint8)
        w.write(img)
    w.release()


def test_video_file_replays_at_its_native_rate(tmp_path):
    p = tmp_path / "clip.avi"
    _write_video(p, n=10, fps=20.0)
    src = make_source("video", path=p, realtime=True)
    t0 = time.perf_counter()
    frames = list(src)
    el = time.perf_counter() - t0
    assert len(frames) == 10 and frames[0].pixels.shape == (48, 64, 3) and src.fps == pytest.approx(20.0)
    assert el >= 0.4  # 10 frames at 20 fps take ~0.45 s
    fast = list(make_source("video", path=p, realtime=False))
    assert len(fast) == 10


def test_bad_files_give_clear_errors(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        file_kind(tmp_path / "missing.dcm")
    bad = tmp_path / "broken.dcm"
    bad.write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00\x10\x00garbage" * 3)
    with pytest.raises(InputError, match="broken.dcm"):
        list(iter_file_frames(bad))
    notvid = tmp_path / "notes.mp4"
    notvid.write_text("hello")
    with pytest.raises(InputError, match="video"):
        list(iter_file_frames(notvid))
    img = tmp_path / "x.png"
    cv2.imwrite(str(img), np.full((20, 30, 3), 99, np.uint8))
    assert read_any_frames(img, 5)[0].shape == (20, 30, 3)


def test_real_jpeg_cine(shared_data):
    src = make_source("dicom", path=shared_data / "echo-dicom" / "color3d_jpeg_baseline.dcm", realtime=False)
    frames = list(src)
    assert len(frames) == 120 and frames[0].pixels.shape == (480, 640, 3)
    assert frames[0].mm_per_px == pytest.approx(0.5105, abs=1e-3) and src.fps == pytest.approx(30.0, abs=0.1)
    assert frames[0].sector_bbox == (84, 31, 596, 415)
    pal = list(iter_file_frames(shared_data / "echo-dicom" / "US-PAL-8-10x-echo.dcm"))
    assert len(pal) == 10 and pal[0].pixels.ndim == 3


def test_truncated_real_dicom_is_reported(shared_data, tmp_path):
    data = (shared_data / "echo-dicom" / "color3d_jpeg_baseline.dcm").read_bytes()
    p = tmp_path / "cut.dcm"
    p.write_bytes(data[: len(data) // 3])
    with pytest.raises(InputError):
        list(iter_file_frames(p))


class FakeCap:
    """A capture that delivers `good` frames, then fails (unplugged)."""

    def __init__(self, good: int):
        self.good, self.n = good, 0

    def isOpened(self):
        return True

    def read(self):
        self.n += 1
        if self.n <= self.good:
            return True, np.full((24, 32, 3), self.n, np.uint8)
        return False, None

    def release(self):
        pass


def test_opencv_capture_reconnects_after_unplug():
    opens = []

    def opener(device, w, h, fps):
        opens.append(device)
        if len(opens) == 2:  # the first retry finds nothing (still unplugged)
            return None
        return FakeCap(good=3)

    cap = OpenCvCapture("/dev/video9", 32, 24, 30, retry_s=0.01, max_retry_s=0.02, opener=opener)
    got = []
    for f in cap:
        got.append(f)
        if len(got) == 6:
            cap.stop()
    assert len(got) == 6 and len(opens) == 3 and cap.reconnects == 1
    assert got[3].pixels.shape == (24, 32, 3) and got[0].source == "opencv:/dev/video9"


def test_opencv_capture_gives_up_when_asked():
    from device.drivers.base import SourceLost

    cap = OpenCvCapture("/dev/video9", retry_s=0.01, max_retry_s=0.01, give_up_s=0.05, opener=lambda *a: None)
    with pytest.raises(SourceLost, match="check the cable"):
        list(cap)


def test_opencv_capture_reads_a_file_device(tmp_path):
    p = tmp_path / "card.avi"
    _write_video(p, n=5)
    cap = OpenCvCapture(str(p), retry_s=0.01, give_up_s=0.2)
    frames = []
    for f in cap:
        frames.append(f)
        if len(frames) == 5:
            cap.stop()
    assert len(frames) == 5 and frames[4].pixels.shape == (48, 64, 3)


def test_picamera2_missing_is_a_clear_error():
    pytest.importorskip("cv2")
    try:
        import picamera2  # noqa: F401
        pytest.skip("picamera2 is installed here")
    except ImportError:
        pass
    src = make_source("picamera2")
    with pytest.raises(InputError, match="opencv"):
        src.open()
