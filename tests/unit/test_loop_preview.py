"""A saved clip plays as a loop (issue 18 part 5): the animated WebP has every frame of the clip (up to MAX_S
seconds), at the clip's rate, scaled to at most MAX_WIDTH, and its frames differ as the clip's do."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from device.usecases.loop_preview import MAX_WIDTH, encode_loop


def _moving(t: int, h: int = 120, w: int = 160, rgb: bool = False) -> np.ndarray:
    frames = np.zeros((t, h, w), np.uint8)
    for k in range(t):
        frames[k, 20:60, 10 + 4 * k: 40 + 4 * k] = 255          # a bright block moving right
    return np.repeat(frames[..., None], 3, axis=3) if rgb else frames


@pytest.mark.parametrize("rgb", [False, True])
def test_every_frame_at_the_clip_rate(rgb):
    frames = _moving(12, rgb=rgb)
    im = Image.open(io.BytesIO(encode_loop(frames, fps=25.0)))
    assert im.format == "WEBP" and im.n_frames == 12 and im.size == (160, 120)
    assert im.info.get("loop", 0) == 0                               # loops forever
    shots = []
    for k in (0, 6):
        im.seek(k)
        im.load()
        assert im.info["duration"] == 40
        shots.append(np.asarray(im.convert("L"), dtype=float))
    assert np.abs(shots[0] - shots[1]).mean() > 5                    # it moves


def test_long_clips_are_cut_and_wide_ones_scaled():
    frames = _moving(90, h=240, w=640)
    im = Image.open(io.BytesIO(encode_loop(frames, fps=10.0, max_s=2.0)))
    assert im.n_frames == 20 and im.size == (MAX_WIDTH, 120)
    with pytest.raises(ValueError, match="uint8"):
        encode_loop(frames.astype(np.float32), fps=10.0)
