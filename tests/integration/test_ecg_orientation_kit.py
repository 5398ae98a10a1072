"""Issue 13 on the 52 real ECG-Image-Kit printouts (cropped web images, calibration pulses often cut off): the
orientation gate must not refuse more of them than it has to, and a page taken "as given" on the limb leads and the
QRS polarity (orientation.upright_as_given) must be refused or turned when it is fed turned 180 degrees, mirrored
or upside down, never read as it is. (The turned Paper2Pulse photos: test_ecg_orientation_real.py.)"""

from __future__ import annotations

import numpy as np
import pytest

from device.ecg import orientation
from device.ecg.imageio import load_image
from device.ecg.reader import read_ecg_image
from device.errors import InputError

pytestmark = pytest.mark.shared_data

# measured 2026-12-04 (E11): 17/52 read before (limb leads alone could take a page as given), 18/52 after; 1 margin
MIN_READ = 17
TURNS = {"rotated 180": lambda a: a[::-1, ::-1], "mirrored": lambda a: a[:, ::-1], "upside down": lambda a: a[::-1]}


def test_image_kit_read_rate_and_turned_pages_never_read_as_is(shared_data, monkeypatch):
    d = shared_data / "ecg-images-ecg-image-kit" / "sample-data" / "ecg-images"
    imgs = sorted(p for p in d.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp"))
    assert len(imgs) == 52
    as_given: list[bool] = []
    real = orientation.upright_as_given

    def spy(votes):
        ok = real(votes)
        as_given.append(ok)
        return ok

    monkeypatch.setattr(orientation, "upright_as_given", spy)
    read, by_cues = 0, []
    for p in imgs:
        img = load_image(p)
        as_given.clear()
        try:
            r = read_ecg_image(img)
        except InputError:
            continue
        read += 1
        assert not any(w.startswith("the page was") for w in r.warnings), p.name   # all 52 are upright
        if any(as_given):
            by_cues.append((p.name, img))
    assert read >= MIN_READ, read
    assert by_cues, "no page was taken as given on the cues: the test would check nothing"
    as_is = []
    for name, img in by_cues:
        for how, f in TURNS.items():
            as_given.clear()
            try:
                r = read_ecg_image(np.ascontiguousarray(f(img)))
            except InputError as exc:
                assert exc.step, (name, how)
                continue
            assert not any(as_given), (name, how, "a turned page taken as given on the cues")
            if not (r.warnings and r.warnings[0].startswith("the page was")):
                as_is.append((name, how))
    # KNOWN HOLE (not the cues'): ecg00012 has its calibration pulses at the RIGHT end; mirrored, they stand at the
    # left pointing up and decide the page on their own (orientation.decisive), although its limb leads say -0.44
    assert set(as_is) <= {("ecg00012.jpg", "mirrored")}, as_is
