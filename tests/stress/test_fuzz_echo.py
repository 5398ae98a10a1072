"""Fuzzing of the echo file sources: still images (OpenCV's decoders), video files (drivers/video_file.py) through
``device.drivers.files.open_file_source``, and ``python -m device echo view`` on small odd images and clips (decode,
find the sector, classify). Harness and image seeds: ``test_fuzz_inputs.py``.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import strategies as st

from tests.stress.test_fuzz_inputs import (Fuzz, finish, make_image_seeds, memory_cap, mutated, png_declaring,
                                           weird_images, write_case)


@pytest.fixture(scope="module")
def image_seeds() -> dict[str, bytes]:
    return make_image_seeds()


# ------------------------------------------------------------------------------------------------ echo images, video

def _video_bytes(tmp: Path, fourcc: str, suffix: str, size=(64, 48), n=8, fps=25.0) -> bytes:
    p = tmp / f"seed{suffix}"
    vw = cv2.VideoWriter(str(p), cv2.VideoWriter_fourcc(*fourcc), fps, size)
    assert vw.isOpened(), f"opencv cannot write {fourcc} {suffix}"
    rng = np.random.default_rng(1)
    for _ in range(n):
        vw.write(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    vw.release()
    return p.read_bytes()


@pytest.fixture(scope="module")
def video_seeds(tmp_path_factory) -> dict[str, bytes]:
    tmp = tmp_path_factory.mktemp("video_seeds")
    return {".mp4": _video_bytes(tmp, "mp4v", ".mp4"), ".avi": _video_bytes(tmp, "MJPG", ".avi"),
            ".mkv": _video_bytes(tmp, "mp4v", ".mkv", size=(16, 16), n=2)}


def _iterate_source(tmp: Path, max_frames: int = 64):
    from device.drivers.files import open_file_source

    def call(x: tuple[str, bytes]):
        suffix, data = x
        src = open_file_source(write_case(tmp, "clip" + suffix, data))
        src.open()
        try:
            for i, fr in enumerate(src):
                assert fr.pixels.ndim == 3 and fr.pixels.shape[2] == 3 and fr.pixels.dtype == np.uint8
                if i + 1 >= max_frames:
                    break
        finally:
            src.close()
    return call


def test_fuzz_echo_video_file(tmp_path, budget, figures, video_seeds):
    """Video files replayed as an echo source (drivers/video_file.py through drivers/files.py)."""
    fuzz = Fuzz("Echo video file", "device.drivers.files.open_file_source -> VideoFileSource",
                _iterate_source(tmp_path), case_timeout_s=20)
    suffixes = sorted(video_seeds)
    strategy = st.tuples(st.sampled_from(suffixes + [".mov", ".webm"]),
                         st.one_of(mutated(list(video_seeds.values())), st.binary(max_size=300)))
    fuzz.run(strategy, budget(short=60, full=1500))
    finish(fuzz, figures)


def test_fuzz_echo_image_file(tmp_path, budget, figures, image_seeds):
    """Still images as an echo source (ImageSource: OpenCV's decoders, not PIL's)."""
    fuzz = Fuzz("Echo still image", "device.drivers.files.open_file_source -> ImageSource",
                _iterate_source(tmp_path), case_timeout_s=20)
    seeds = {k: v for k, v in image_seeds.items() if k != ".pdf"}
    strategy = st.one_of(weird_images().filter(lambda x: x[0] != ".pdf"),
                         st.tuples(st.sampled_from(sorted(seeds)), mutated(list(seeds.values()))))
    fuzz.run(strategy, budget(short=100, full=2000))
    finish(fuzz, figures, [("test_regression_echo_image_declaring_65535x65535", lambda: (".png", png_declaring(
        65535, 65535)))],
           note="a PNG declaring 65535 x 65535 px: cv2.imread raised cv2.error (over CV_IO_MAX_IMAGE_PIXELS, or no "
           "memory for the pixels). Fixed in device/drivers/files.py: ImageSource gives its user error.")


def test_regression_echo_image_declaring_65535x65535(tmp_path):
    from device.errors import InputError

    with memory_cap(), pytest.raises(InputError):
        _iterate_source(tmp_path)((".png", png_declaring(65535, 65535)))


# ------------------------------------------------------------------------------------------------ echo view on files

@st.composite
def echo_frames_files(draw) -> tuple[str, bytes]:
    """Small images and clips as ``echo view`` gets them: any size from 1x1, grey or colour, flat, noisy, a
    bright fan, or a simulator frame; PNG/JPEG/BMP or a short MJPG/MP4 video."""
    h, w = draw(st.integers(1, 160)), draw(st.integers(1, 200))
    kind = draw(st.sampled_from(("flat", "noise", "fan", "sim")))
    if kind == "sim":
        from device.sim.echo_probe import random_sample

        img = random_sample(np.random.default_rng(draw(st.integers(0, 50))), size=(h + 40, w + 40))[0]
        img = np.ascontiguousarray(img if img.ndim == 3 else np.repeat(img[..., None], 3, -1), np.uint8)
    elif kind == "fan":
        img = np.zeros((h, w, 3), np.uint8)
        cv2.ellipse(img, (w // 2, 0), (max(h, 1), max(h, 1)), 90, -40, 40, (200, 200, 200), -1)
    else:
        img = np.full((h, w, 3), draw(st.integers(0, 255)), np.uint8) if kind == "flat" else \
            np.random.default_rng(h * w).integers(0, 256, (h, w, 3), dtype=np.uint8)
    fmt = draw(st.sampled_from((".png", ".jpg", ".bmp", ".avi")))
    if fmt != ".avi":
        ok, enc = cv2.imencode(fmt, img)
        return fmt, enc.tobytes()
    import tempfile

    # OpenCV's MJPG writer itself corrupts its heap on frames under 16 px (a generator limit, not the reader's)
    img = cv2.resize(img, (max(16, img.shape[1] // 2 * 2), max(16, img.shape[0] // 2 * 2)))
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "c.avi"
        vw = cv2.VideoWriter(str(p), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (img.shape[1], img.shape[0]))
        for k in range(draw(st.integers(1, 4))):
            vw.write(np.roll(img, k, axis=1))
        vw.release()
        return fmt, p.read_bytes()


def test_fuzz_echo_view_files(tmp_path, budget, figures):
    """``python -m device echo view FILE``: decode, find the sector, classify the view and quality of each frame."""
    from device.cli.echo import _classifier, view_file
    from device.paths import MODELS_DIR

    if not (MODELS_DIR / "echo_view" / "manifest.json").exists():
        pytest.skip("the echo_view model is not built (make models)")
    clf = _classifier(None)

    def call(x: tuple[str, bytes]):
        suffix, data = x
        res = view_file(write_case(tmp_path, "view" + suffix, data), clf, False)
        assert res["view"] in clf.labels and 0 <= res["confidence"] <= 1 and np.isfinite(res["quality"])
    fuzz = Fuzz("Echo view (image/video)", "device.cli.echo.view_file (echo view)", call, case_timeout_s=30)
    fuzz.run(echo_frames_files(), budget(short=20, full=300))
    finish(fuzz, figures)
