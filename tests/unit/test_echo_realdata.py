"""A site's labelled folder for fine-tuning: sub-folder per view or labels.csv; images, videos and DICOM."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from device.sim.echo_probe import random_sample
from device.sim.echo_views import VIEWS
from models.training.echo_view_data import load_real_folder


def _png(path, view, seed):
    img, _ = random_sample(np.random.default_rng(seed), view=view, size=(320, 240))
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))


def test_subfolder_per_view_with_images_and_a_clip(tmp_path):
    _png(tmp_path / "A4C" / "a.png", "A4C", 1)
    _png(tmp_path / "PLAX" / "b.png", "PLAX", 2)
    w = cv2.VideoWriter(str(tmp_path / "A4C" / "loop.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10, (320, 240))
    for k in range(12):
        img, _ = random_sample(np.random.default_rng(k), view="A4C", size=(320, 240))
        w.write(img[:, :, ::-1].copy())
    w.release()
    (tmp_path / "A4C" / "notes.txt").write_text("not an image")  # skipped, not fatal
    s, clips = load_real_folder(tmp_path, 64, frames_per_clip=4)
    assert s.x.shape == (6, 64, 64) and len(clips) == 6
    assert sorted(VIEWS[v] for v in s.view) == ["A4C"] * 5 + ["PLAX"]
    assert (s.quality == -1).all() and (s.guidance == -1).all()
    assert len(set(clips)) == 3


def test_labels_csv_and_bad_labels(tmp_path):
    _png(tmp_path / "x" / "1.png", "A2C", 3)
    (tmp_path / "labels.csv").write_text("path,view\nx/1.png,A2C\n")
    s, _ = load_real_folder(tmp_path, 48)
    assert [VIEWS[v] for v in s.view] == ["A2C"]
    (tmp_path / "labels.csv").write_text("path,view\nx/1.png,A7C\n")
    with pytest.raises(ValueError, match="A7C.*valid"):
        load_real_folder(tmp_path, 48)
    (tmp_path / "labels.csv").write_text("path,view\nx/missing.png,A2C\n")
    with pytest.raises(ValueError, match="no readable"):
        load_real_folder(tmp_path, 48)
