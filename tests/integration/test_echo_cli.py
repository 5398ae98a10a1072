"""`python -m device echo view` on images, videos and DICOM; bad input gives one clear line and exit 2."""

from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from device.paths import MODELS_DIR, REPO_ROOT

pytestmark = pytest.mark.skipif(not (MODELS_DIR / "echo_view" / "manifest.json").is_file(),
                                reason="models/echo_view not trained (run make models)")


def run(*args):
    return subprocess.run([sys.executable, "-m", "device", "echo", *map(str, args)], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=300, check=False)


def _sim_png(path, view="A4C"):
    from device.sim.echo_probe import random_sample

    img, t = random_sample(np.random.default_rng(5), view=view, size=(640, 480), pose_spread=0.2)
    cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    return t


def test_view_on_an_image_json(tmp_path):
    p = tmp_path / "a4c.png"
    _sim_png(p)
    r = run("view", p, "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["n_frames"] == 1 and d["view"] in ("A4C", "A5C", "A2C", "A3C")
    assert 0 <= d["confidence"] <= 1 and 0 <= d["quality"] <= 1
    assert d["model"].startswith("echo_view") and d["disclaimer"]


def test_view_on_a_video_per_frame(tmp_path):
    out = tmp_path / "sim.avi"
    assert run("simulate", out, "--seconds", "1", "--fps", "10").returncode == 0
    r = run("view", out, "--json", "--frames", "--variant", "fp32")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["n_frames"] == 10 and len(d["frames"]) == 10
    assert {"index", "view", "confidence", "quality", "guidance"} <= set(d["frames"][0])


def test_view_on_the_real_cine(shared_data):
    r = run("view", shared_data / "echo-dicom" / "color3d_jpeg_baseline.dcm", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["n_frames"] == 120 and d["mm_per_px"] == pytest.approx(0.5105, abs=1e-3) and d["sector_found"]


def test_bad_inputs_are_one_line_errors(tmp_path):
    bad = tmp_path / "broken.dcm"
    bad.write_bytes(b"\0" * 128 + b"DICM" + b"garbage")
    notpng = tmp_path / "fake.png"
    notpng.write_text("not an image")
    for args in (("view", bad), ("view", tmp_path / "nope.png"), ("view", notpng), ("simulate", tmp_path / "x.gif")):
        r = run(*args)
        assert r.returncode == 2
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in r.stderr
