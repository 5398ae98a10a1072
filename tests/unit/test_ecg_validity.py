"""Issue 13, paper ECG validity: a turned, mirrored, greyscale, low-resolution or cut photo is never read as a normal
page. Turned and mirrored pages are turned upright (and say so), or refused; the others are refused naming why."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from device.ecg.eval_metrics import lead_snr_db
from device.ecg.imageio import load_image
from device.ecg.reader import read_ecg_image
from device.errors import InputError
from device.sim import ecg_paper

TURNS = {
    "rotated 180 degrees": lambda a: a[::-1, ::-1],
    "mirrored left-right": lambda a: a[:, ::-1],
    "upside down": lambda a: a[::-1],
    "rotated 90 degrees anticlockwise": lambda a: np.rot90(a, 1),
    "rotated 90 degrees clockwise": lambda a: np.rot90(a, 3),
}


@pytest.fixture(scope="module")
def photo():
    rng = np.random.default_rng(5)
    sig = ecg_paper.synthetic_ecg(rng, hr_bpm=70)
    page = ecg_paper.render(sig, rng=rng)
    img = ecg_paper.photograph(page.image, rng, strength=0.6)
    upright = read_ecg_image(img)
    return sig, page, img, upright


def _snr(reading, sig) -> float:
    return float(np.nanmean(lead_snr_db(reading.signals_mv, sig)))


@pytest.mark.parametrize("how", list(TURNS))
def test_turned_photo_is_turned_upright(photo, how):
    sig, _, img, upright = photo
    r = read_ecg_image(np.ascontiguousarray(TURNS[how](img)))
    assert r.warnings and r.warnings[0].startswith(f"the page was {how}")
    assert r.layout.name == upright.layout.name
    assert _snr(r, sig) > _snr(upright, sig) - 1.0                      # read as well as the upright photo
    ii = np.isfinite(r.lead("II")) & np.isfinite(upright.lead("II"))
    assert np.corrcoef(r.lead("II")[ii], upright.lead("II")[ii])[0, 1] > 0.8   # not inverted, not reversed
    assert r.quality.score < upright.quality.score                      # a turned page scores lower


def test_upright_photo_has_no_orientation_warning(photo):
    *_, upright = photo
    assert not any("the page was" in w for w in upright.warnings)


def test_6x2_page_rotated_180_is_turned_upright_or_refused():
    """This simulated 6x2 page is misread even upright (read as 3x4+3), so its limb leads do not back the turn the
    pulses ask for: refusing it is right; a turn, if made, must give the upright reading."""
    rng = np.random.default_rng(8)
    sig = ecg_paper.synthetic_ecg(rng)
    page = ecg_paper.render(sig, rng=rng, layout="6x2").image
    r0 = read_ecg_image(page)
    try:
        r = read_ecg_image(np.ascontiguousarray(page[::-1, ::-1]))
    except InputError as exc:
        assert exc.step == "orientation"
        return
    assert r.warnings[0].startswith("the page was rotated 180 degrees") and r.layout.name == r0.layout.name
    ok = np.isfinite(r.signals_mv) & np.isfinite(r0.signals_mv)
    assert ok.mean() > 0.3 and np.corrcoef(r.signals_mv[ok], r0.signals_mv[ok])[0, 1] > 0.95  # the same reading


def _without_pulses(page: ecg_paper.RenderedPage) -> np.ndarray:
    """The page with its calibration pulses painted over by the bare grid of the right margin (same phase)."""
    img = page.image.copy()
    p = int(page.px_per_mm)
    a, b = int(9.5 * p), int(17.3 * p)  # up to the first trace sample (the fall of the pulse is at 17 mm)
    img[int(20 * p):, a:b] = page.image[int(20 * p):, a + 260 * p: b + 260 * p]
    return img


def test_page_without_pulses_is_never_read_turned():
    """Without calibration pulses only the limb leads can tell the orientation; a page they do not settle is refused
    (this simulated page is not read well even upright, so refusing it is right too)."""
    rng = np.random.default_rng(3)
    sig = ecg_paper.synthetic_ecg(rng, hr_bpm=80)
    img = _without_pulses(ecg_paper.render(sig, rng=rng))
    for how in ("upright", "rotated 180 degrees", "mirrored left-right"):
        try:
            r = read_ecg_image(img if how == "upright" else np.ascontiguousarray(TURNS[how](img)))
        except InputError as exc:
            assert exc.step == "orientation"
            continue
        assert not r.calibration.pulse_found
        turned = [w for w in r.warnings if w.startswith("the page was")]
        assert turned == ([] if how == "upright" else [turned[0]]) and (how == "upright" or how in turned[0])


def test_greyscale_photo_is_refused(photo):
    _, _, img, _ = photo
    grey = np.repeat(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
    with pytest.raises(InputError, match="greyscale") as ei:
        read_ecg_image(grey)
    assert ei.value.step == "greyscale"


def test_photo_downscaled_4x_is_refused(photo):
    _, _, img, _ = photo
    small = cv2.resize(img, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA)
    with pytest.raises(InputError, match=r"too low resolution: .* px per mm") as ei:
        read_ecg_image(small)
    assert ei.value.step == "too small"


@pytest.mark.parametrize("half", ["left", "right"])
def test_half_a_page_is_refused(photo, half):
    _, _, img, _ = photo
    w = img.shape[1] // 2
    part = img[:, :w] if half == "left" else img[:, w:]
    with pytest.raises(InputError, match="incomplete page") as ei:
        read_ecg_image(np.ascontiguousarray(part))
    assert ei.value.step == "incomplete"


def test_16_bit_png_reads_like_8_bit(photo, tmp_path):
    sig, page, _, _ = photo
    bgr16 = cv2.cvtColor(page.image, cv2.COLOR_RGB2BGR).astype(np.uint16) * 257
    cv2.imwrite(str(tmp_path / "rgb16.png"), bgr16)
    a = load_image(tmp_path / "rgb16.png")
    assert np.abs(a.astype(int) - page.image.astype(int)).max() <= 1
    assert abs(_snr(read_ecg_image(a), sig) - _snr(read_ecg_image(page.image), sig)) < 0.1


def test_16_bit_grey_png_is_not_a_blank_page(photo, tmp_path):
    _, page, _, _ = photo
    g8 = cv2.cvtColor(page.image, cv2.COLOR_RGB2GRAY)
    cv2.imwrite(str(tmp_path / "g16.png"), g8.astype(np.uint16) * 257)
    a = load_image(tmp_path / "g16.png")
    assert np.abs(a[..., 0].astype(int) - g8.astype(int)).max() <= 1   # was clipped to a white page
    with pytest.raises(InputError) as ei:
        read_ecg_image(a)
    assert ei.value.step == "greyscale"
