"""Patent 001's network on a short-axis cine (model ``lv_p001``): masks, the 11 indices and the phase of every frame.

Equalise the frames, find the LV once on the first frame with the segmentation model's localisation pass, cut one
canonical crop per frame (``variants.canonical_matrix``: 120 mm, anterior up, septum left), run the whole cine
through the network (dense U-Net with dilated blocks -> convolution stage -> two LSTMs over the frames), paste the
masks back into the frames and read ED/ES from the per-frame systole probabilities as the best single systolic run
(ED = the frame before it starts, ES = its last frame), so the labels never flicker.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from device.errors import InputError
from device.lv.calibration import require_spacing
from device.lv.indices import SaxOrientation

P001_MODEL_NAME = "lv_p001"


@dataclass(frozen=True)
class P001Result:
    masks: np.ndarray            # (T, H, W) uint8 0/1/2 in the frames' pixels
    values: np.ndarray           # (T, 11) indices from the regression LSTM (mm2, mm; INDEX_NAMES order)
    systole_prob: np.ndarray     # (T,) from the phase LSTM
    ed_frame: int
    es_frame: int
    labels: tuple[str, ...]      # "systole" / "diastole" per frame
    model_tag: str


def best_two_runs(p_systole: np.ndarray) -> tuple[int, int]:
    """(ED, ES) maximising the log-likelihood of labels systole in (ED, ES] and diastole elsewhere (cyclic)."""
    p = np.clip(np.asarray(p_systole, float), 1e-6, 1 - 1e-6)
    n = p.size
    if n < 3:
        raise InputError(f"phase needs at least 3 frames; got {n}")
    ls, ld = np.log(p), np.log(1 - p)
    best, arg = -np.inf, (0, 1)
    for ed in range(n):
        for length in range(1, n):
            sysm = np.zeros(n, bool)
            sysm[[(ed + k) % n for k in range(1, length + 1)]] = True
            score = ls[sysm].sum() + ld[~sysm].sum()
            if score > best:
                best, arg = score, (ed, (ed + length) % n)
    return arg


def p001_sax(frames, seg_model, net_model, mm_per_px, orientation: SaxOrientation | None = None,
             centre_xy: tuple[float, float] | None = None) -> P001Result:
    """Run patent 001's network on a short-axis cine (T >= 3 frames of one slice position)."""
    from device.lv.preprocess import equalise
    from device.lv.segment import _clean_sax, grey_frames
    from device.lv.variants import canonical_crop, canonical_matrix, localise
    spacing = require_spacing(mm_per_px, "short-axis indices")
    orientation = orientation or SaxOrientation()
    a = grey_frames(frames)
    eq = np.stack([equalise(f) for f in a])
    centre = centre_xy if centre_xy is not None else localise(eq[0], seg_model)
    prm = net_model.manifest.params
    size, span = int(prm["input_size"]), float(prm["span_mm"])
    m = canonical_matrix(centre, spacing, orientation, size, span)
    crops = np.stack([canonical_crop(f, m, size) for f in eq])
    out = net_model.run({"cine": ((crops.astype(np.float32) / 255.0 - 0.5) / 0.5)[None, :, None]})
    probs, values, phase = out["probs"][0], out["indices"][0].astype(np.float64), out["phase"][0]
    t, h, w = a.shape
    masks = np.zeros((t, h, w), np.uint8)
    for i in range(t):
        back = cv2.warpAffine(np.ascontiguousarray(probs[i].transpose(1, 2, 0)), m, (w, h),
                              flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderValue=(1.0, 0.0, 0.0))
        masks[i] = _clean_sax(back.argmax(axis=2).astype(np.uint8), "holes")
    ed, es = best_two_runs(phase[:, 1])
    labels = tuple("systole" if 0 < (i - ed) % t <= (es - ed) % t else "diastole" for i in range(t))
    return P001Result(masks, np.maximum(values, 0.0), phase[:, 1].astype(np.float64), ed, es, labels,
                      net_model.tag)


def load_p001_model(variant: str | None = None, threads: int | None = None):
    from device.inference import model_provider
    return model_provider().get(P001_MODEL_NAME, variant, threads=threads)
