"""Issue 13: the calibration pulses alone never decide which way up a page is when its limb leads say otherwise.

A printer that draws the 1 mV pulses at the RIGHT end of the rows (ECG-Image-Kit ecg00012 does) makes a mirrored
photo look upright to the pulses: they stand at the left, pointing up. Before, that page was read mirrored (leads
in the wrong boxes, traces time-reversed); now the limb leads (II = I + III, aVR + aVL + aVF = 0) fit the page the
other way round far better, so it is refused with the reason. The page as printed is still read."""

from __future__ import annotations

import numpy as np
import pytest

from device.ecg import orientation
from device.ecg.reader import read_ecg_image
from device.errors import InputError
from device.sim import ecg_paper


def _pulses_at_right_end(page: ecg_paper.RenderedPage) -> np.ndarray:
    """``page`` with its left pulses wiped (grid patched from the blank margin below the rows, same grid phase)
    and 1 mV pulses drawn after the end of each row instead."""
    import cv2

    img, p = page.image.copy(), page.px_per_mm
    assert p == 10.0  # the patch keeps the grid phase only on whole-pixel millimetres
    for yb_px in page.baselines_px:
        yb = yb_px / p
        y0 = yb - 12.0
        src = 186.0 + ((y0 - 186.0) % 5.0)
        h, xa, xb = int(14 * p), int(9 * p), int(page.x0_px) + 3
        img[int(y0 * p):int(y0 * p) + h, xa:xb] = img[int(src * p):int(src * p) + h, xa:xb]
        x_end = page.x0_px + 10.0 * 25.0 * p
        xs = [x_end + 1 * p, x_end + 1 * p, x_end + 6 * p, x_end + 6 * p]
        ys = [yb_px, yb_px - 10 * p, yb_px - 10 * p, yb_px]
        pts = np.round(np.stack([xs, ys], 1)).astype(np.int32).reshape(-1, 1, 2)
        cv2.polylines(img, [pts], False, (20, 20, 20), 2, cv2.LINE_AA)
    return img


@pytest.fixture(scope="module")
def right_pulsed_page():
    rng = np.random.default_rng(21)
    sig = ecg_paper.synthetic_ecg(rng, hr_bpm=72)
    return _pulses_at_right_end(ecg_paper.render(sig, rng=rng))


def test_mirrored_page_with_pulses_at_the_right_end_is_refused(right_pulsed_page):
    mirrored = np.ascontiguousarray(right_pulsed_page[:, ::-1])
    with pytest.raises(InputError) as ei:
        read_ecg_image(mirrored)
    assert ei.value.step == "orientation"
    msg = str(ei.value)
    assert "calibration pulses say it is upright" in msg and "mirrored left-right" in msg
    assert "\n" not in msg


def test_the_same_page_as_printed_is_read(right_pulsed_page):
    r = read_ecg_image(right_pulsed_page)
    assert not any(w.startswith("the page was") for w in r.warnings)
    assert orientation.limb_relations(r.signals_mv) > 0.5


def test_pulses_contradicted_needs_a_far_better_fit():
    assert orientation.pulses_contradicted(-0.44, {"mirrored left-right": 0.48}) is not None
    # a page whose limb leads read poorly every way up keeps the pulses' word
    assert orientation.pulses_contradicted(-0.05, {"mirrored left-right": 0.2, "rotated 180 degrees": 0.3}) is None
    assert orientation.pulses_contradicted(0.3, {"mirrored left-right": 0.6}) is None
    assert orientation.pulses_contradicted(float("nan"), {"x": float("nan")}) is None


def _page_with_names_above(mirror: bool) -> tuple[np.ndarray, object]:
    """A red-grid strip at 8 px/mm with the lead names printed above the baseline just left of each box start (as
    ECG-Image-Kit and many carts print them), and the boxes of the top row; ``mirror`` flips the strip."""
    import cv2

    from device.ecg.types import Layout, LeadBox

    p, w, h = 8.0, 2000, 300
    img = np.full((h, w, 3), 255, np.uint8)
    for k in range(0, w, 8):
        img[:, k] = (235, 160, 160) if k % 40 else (220, 110, 110)
    for k in range(0, h, 8):
        img[k, :] = (235, 160, 160) if k % 40 else (220, 110, 110)
    yb = 150
    cv2.line(img, (40, yb), (w - 40, yb), (20, 20, 20), 2)
    boxes = []
    for i, lead in enumerate(("I", "aVR", "V1", "V4")):
        x0 = 60 + i * 480
        cv2.putText(img, lead, (int(x0 - 4 * p), int(yb - 3 * p)), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (20, 20, 20), 2,
                    cv2.LINE_AA)
        boxes.append(LeadBox(lead, float(x0), 0.0, float(x0 + 470), float(h), float(yb), 2.5 * i, 2.5 * (i + 1), 0))
    if mirror:
        img = np.ascontiguousarray(img[:, ::-1])
    return img, Layout("3x4", tuple(boxes), "default")


@pytest.mark.skipif(not __import__("shutil").which("tesseract"), reason="needs the tesseract binary")
def test_lead_names_printed_above_the_baseline_are_read_only_upright():
    up, lay = _page_with_names_above(False)
    assert orientation.labels_read(up, lay, 8.0) >= 2          # aVR, V1, V4 (names of 2+ characters) above
    mirrored, lay = _page_with_names_above(True)
    assert orientation.labels_read(mirrored, lay, 8.0) == 0
