"""LV segmentation with the ``lv_seg`` model: frames in, label masks the size of the frames out.

Short-axis series (MR or echo PSAX): equalise each frame (patent 002), find the LV on the whole first frame
(a localisation pass), then segment a ``sax_crop_mm`` square around it in every frame (one batch) and paste the
result back. Echo clips (apical / PLAX): the imaging fan (bounding box) of each frame is equalised and segmented.
Masks: uint8 0 background, 1 LV cavity, 2 LV myocardium, 3 left atrium, 4 aortic root (SAX masks keep 0-2).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage

from device.errors import InputError
from device.lv import AORTIC_ROOT, CAVITY, LEFT_ATRIUM, MYOCARDIUM
from device.lv.calibration import require_spacing
from device.lv.indices import largest_component
from device.lv.preprocess import equalise, to_grey

MODEL_NAME = "lv_seg"
# Short-axis cavity convention: "holes" = the network's cavity with holes filled; "hull" = its convex hull. The
# Sunnybrook experts draw the endocardium round the papillary muscles and trabeculae (their cavity fills 98 % of
# its own convex hull) while the network leaves them out; the hull halved the LOPO cavity-area bias
# (device/eval/lv_area.py, EVALUATION.md "Cavity area bias"), so it is the default.
CAVITY_CONVENTIONS = ("holes", "hull")
SAX_CAVITY = "hull"


@dataclass(frozen=True)
class Segmentation:
    """Label masks (T, H, W) uint8 and the identity of the model that made them (for every result it feeds)."""

    masks: np.ndarray
    model_tag: str
    model_name: str
    model_version: str
    frames: tuple[int, ...]


def load_lv_model(kind: str = "sax", variant: str | None = None, threads: int | None = None):
    """The runtime model from the process's model provider (its settings' models directory, variant and threads):
    ``kind`` "sax" uses the manifest's ``params.sax_variant`` (ensemble when it helped)."""
    from device.inference import model_provider
    provider = model_provider()
    if variant is None and kind == "sax":
        variant = provider.manifest(MODEL_NAME).params.get(f"{kind}_variant")
    return provider.get(MODEL_NAME, variant, threads=threads)


def _run(model, batch_u8: np.ndarray, size: int, chunk: int = 32) -> np.ndarray:
    """(N, S, S) uint8 equalised -> (N, 5, S, S) float32 probabilities."""
    x = ((batch_u8.astype(np.float32) / 255.0 - 0.5) / 0.5)[:, None]
    outs = [model.run({"image": x[i:i + chunk]})["probs"] for i in range(0, len(x), chunk)]
    return np.concatenate(outs).astype(np.float32)


def grey_frames(frames) -> np.ndarray:
    """Frames as (T, H, W) grey: one frame or colour frames are converted; bad shapes raise InputError."""
    a = np.asarray(frames)
    if a.ndim == 2 or (a.ndim == 3 and a.shape[-1] in (3, 4)):   # one grey or one colour frame
        a = a[None]
    if a.ndim == 4:
        a = np.stack([to_grey(f) for f in a])
    if a.ndim != 3 or a.shape[0] == 0 or min(a.shape[1:]) < 16:
        raise InputError(f"frames must be (T, H, W) grey or (T, H, W, 3) colour images; got shape {np.shape(frames)}")
    return a


def _crop(img: np.ndarray, cx: float, cy: float, half_w: int, half_h: int) -> np.ndarray:
    pad = max(half_w, half_h) + 2
    p = np.pad(img, pad)
    x0, y0 = int(round(cx)) - half_w + pad, int(round(cy)) - half_h + pad
    return p[y0:y0 + 2 * half_h, x0:x0 + 2 * half_w]


def convex_fill(binary: np.ndarray) -> np.ndarray:
    """The convex hull of a boolean mask (H, W), filled; an empty mask stays empty."""
    if not binary.any():
        return binary.astype(bool)
    contours, _ = cv2.findContours(binary.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    out = np.zeros(binary.shape, np.uint8)
    cv2.fillPoly(out, [cv2.convexHull(np.concatenate(contours))], 1)
    return out.astype(bool) | binary


def _clean_sax(mask: np.ndarray, cavity: str = "holes") -> np.ndarray:
    """Keep the largest cavity (holes filled; with ``cavity="hull"`` its convex hull, which takes in the papillary
    muscles and trabeculae the way the expert contours do) and the myocardium around it; drop LA/aortic labels."""
    if cavity not in CAVITY_CONVENTIONS:
        raise InputError(f"unknown cavity convention '{cavity}'; use one of {', '.join(CAVITY_CONVENTIONS)}")
    cav = ndimage.binary_fill_holes(largest_component(mask == CAVITY))
    if cavity == "hull":
        cav = convex_fill(cav)
    myo = (mask == MYOCARDIUM) & ~cav
    if cav.any() and myo.any():
        near = ndimage.binary_dilation(cav, iterations=3)
        lab, n = ndimage.label(myo)
        keep = np.unique(lab[near & myo])
        myo = np.isin(lab, keep[keep > 0])
    out = np.zeros(mask.shape, np.uint8)
    out[myo] = MYOCARDIUM
    out[cav] = CAVITY
    return out


def segment_sax(frames, model, mm_per_px, cavity: str | None = None) -> Segmentation:
    """Segment a short-axis series. frames: (T, H, W) or (H, W) array of any numeric dtype; mm_per_px: spacing;
    cavity: the cavity convention (``CAVITY_CONVENTIONS``; default ``SAX_CAVITY``).

    Raises InputError when calibration is missing or no LV cavity can be found (not a short-axis view?).
    """
    row_mm, col_mm = require_spacing(mm_per_px, "short-axis segmentation")
    cavity = SAX_CAVITY if cavity is None else cavity
    if cavity not in CAVITY_CONVENTIONS:
        raise InputError(f"unknown cavity convention '{cavity}'; use one of {', '.join(CAVITY_CONVENTIONS)}")
    a = grey_frames(frames)
    params = model.manifest.params
    size = int(params.get("input_size", 128))
    eq = np.stack([equalise(f) for f in a])
    t, h, w = eq.shape
    first = eq[0]   # a cine starts at the R wave (end-diastole): the cavity is at its largest
    p0 = _run(model, cv2.resize(first, (size, size), interpolation=cv2.INTER_AREA)[None], size)[0]
    cav0 = cv2.resize(p0[CAVITY], (w, h), interpolation=cv2.INTER_LINEAR) > 0.5
    cav0 = largest_component(cav0)
    min_px = int(params.get("min_cavity_px", 20))
    if cav0.sum() < min_px:
        raise InputError("no LV cavity was found in this series; is it a short-axis view of the left ventricle?")
    ys, xs = np.nonzero(cav0)
    cx, cy = float(xs.mean()), float(ys.mean())
    crop_mm = float(params.get("sax_crop_mm", 160.0))
    csize = int(params.get("sax_input_size", size))
    if min(h * row_mm, w * col_mm) < crop_mm / 4:   # a crop of many times the image: the spacing is wrong
        raise InputError(f"the image covers only {h * row_mm:.3g} x {w * col_mm:.3g} mm at PixelSpacing "
                         f"({row_mm:g}, {col_mm:g}) mm; a short-axis view of the heart is larger - check the spacing")
    hw, hh = int(round(crop_mm / col_mm / 2)), int(round(crop_mm / row_mm / 2))
    crops = np.stack([cv2.resize(_crop(f, cx, cy, hw, hh), (csize, csize), interpolation=cv2.INTER_AREA
                                 if 2 * hw > csize else cv2.INTER_LINEAR) for f in eq])
    probs = _run(model, crops, csize)
    masks = np.zeros((t, h, w), np.uint8)
    x0, y0 = int(round(cx)) - hw, int(round(cy)) - hh
    sx0, sy0 = max(0, -x0), max(0, -y0)
    dx0, dy0 = max(0, x0), max(0, y0)
    dx1, dy1 = min(w, x0 + 2 * hw), min(h, y0 + 2 * hh)
    for i in range(t):
        pr = cv2.resize(np.ascontiguousarray(probs[i, :3].transpose(1, 2, 0)), (2 * hw, 2 * hh),
                        interpolation=cv2.INTER_LINEAR)
        lab = pr.argmax(axis=2).astype(np.uint8)
        masks[i, dy0:dy1, dx0:dx1] = _clean_sax(lab[sy0:sy0 + dy1 - dy0, sx0:sx0 + dx1 - dx0], cavity)
    m = model.manifest
    return Segmentation(masks, model.tag, m.name, m.version, tuple(range(t)))


def fan_bbox(frames) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of the ultrasound image area: pixels that vary over time or are lit, largest region."""
    a = grey_frames(frames)
    lit = (a > 8).mean(0) > 0.5
    if a.shape[0] > 1:
        lit |= a.std(0) > 4
    lit = ndimage.binary_opening(lit, iterations=2)
    region = largest_component(lit)
    if region.sum() < 0.05 * region.size:
        raise InputError("no ultrasound image area was found in this clip (blank or frozen frames?)")
    ys, xs = np.nonzero(region)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def _clean_echo(mask: np.ndarray) -> np.ndarray:
    out = np.zeros_like(mask)
    for label in (MYOCARDIUM, LEFT_ATRIUM, AORTIC_ROOT, CAVITY):
        comp = largest_component(mask == label)
        if label == CAVITY:
            comp = ndimage.binary_fill_holes(comp)
        out[comp] = label
    return out


def plausible_lv(grey: np.ndarray, mask: np.ndarray, min_px: int = 30, min_contrast: float = 0.1) -> bool:
    """An echo LV needs a cavity with myocardium, and blood darker than muscle: mean(myocardium) - mean(cavity)
    above ``min_contrast`` standard deviations of the lit image. Noise or a screen without a heart fails."""
    cav, myo = mask == CAVITY, mask == MYOCARDIUM
    if cav.sum() < min_px or myo.sum() < min_px:
        return False
    lit = grey[grey > 0]
    sd = float(lit.std()) if lit.size else 0.0
    return sd > 0 and float(grey[myo].mean() - grey[cav].mean()) > min_contrast * sd


def segment_echo(frames, model, bbox: tuple[int, int, int, int] | None = None) -> Segmentation:
    """Segment an apical / PLAX / PSAX echo clip. frames: (T, H, W[, 3]); bbox: the imaging fan (found if None).

    Frames whose result is not a plausible LV (see :func:`plausible_lv`) get an empty mask."""
    a = grey_frames(frames)
    x0, y0, x1, y1 = bbox if bbox is not None else fan_bbox(a)
    size = int(model.manifest.params.get("input_size", 128))
    crops = np.stack([cv2.resize(equalise(f[y0:y1, x0:x1]), (size, size), interpolation=cv2.INTER_AREA) for f in a])
    probs = _run(model, crops, size)
    t, h, w = a.shape
    masks = np.zeros((t, h, w), np.uint8)
    for i in range(t):
        pr = cv2.resize(np.ascontiguousarray(probs[i].transpose(1, 2, 0)), (x1 - x0, y1 - y0),
                        interpolation=cv2.INTER_LINEAR)
        masks[i, y0:y1, x0:x1] = _clean_echo(pr.argmax(axis=2).astype(np.uint8))
        if not plausible_lv(a[i], masks[i]):
            masks[i] = 0   # no LV on this frame rather than an invented one
    m = model.manifest
    return Segmentation(masks, model.tag, m.name, m.version, tuple(range(t)))
