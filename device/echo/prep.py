"""Model input from a machine screen: grey, fan only, cropped to the fan's box, resized; and output decoding.

The same functions feed training (models/training/echo_view.py) and the cart, so the model sees one distribution.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from device.echo.screen import Sector, to_grey


def model_input(frame: np.ndarray, sector: Sector | None, size: int) -> np.ndarray:
    """(1, 1, size, size) float32 in [-1, 1]: the fan (outside masked to 0 grey level) cropped and resized.

    frame: (H, W, 3) RGB or (H, W) uint8. Without a sector the whole frame is used.
    Normalisation: x/255 then (x - 0.5) / 0.5.
    """
    return normalise(crop_fan(frame, sector, size))[None, None]


def crop_fan(frame: np.ndarray, sector: Sector | None, size: int) -> np.ndarray:
    """(size, size) uint8 grey crop of the fan."""
    if sector is not None:
        x0, y0, x1, y1 = sector.bbox
        grey = to_grey(frame[y0:y1, x0:x1])
        grey[~sector.mask[y0:y1, x0:x1]] = 0
    else:
        grey = to_grey(frame)
    return cv2.resize(grey, (size, size), interpolation=cv2.INTER_AREA)


def normalise(crop: np.ndarray) -> np.ndarray:
    return ((crop.astype(np.float32) / 255.0) - 0.5) / 0.5


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


@dataclass(frozen=True)
class ViewOutput:
    """Decoded model output for one frame.

    view: label; view_conf: its (calibrated, where the model has a temperature) probability; view_probs: (n_views,)
    float; quality: 0..1; guidance: label; guidance_conf: its probability.
    uncertain: the model abstains (confidence below its threshold, or the frame is out of its distribution): the cart
    shows "view uncertain", plays no tone, saves no clip. ood_score: how far the frame lies from the training data
    (higher = farther; 0.0 when the model has no out-of-distribution statistics).
    """

    view: str
    view_conf: float
    view_probs: np.ndarray
    quality: float
    guidance: str
    guidance_conf: float
    uncertain: bool = False
    ood_score: float = 0.0


def decode(outputs: dict[str, np.ndarray], labels: tuple[str, ...], guidance_labels: tuple[str, ...]) -> ViewOutput:
    """Turn the model's three heads (view_logits, quality, guidance_logits) for one frame into a ViewOutput."""
    pv = softmax(np.asarray(outputs["view_logits"], dtype=np.float64).reshape(-1))
    pg = softmax(np.asarray(outputs["guidance_logits"], dtype=np.float64).reshape(-1))
    q = float(np.clip(np.asarray(outputs["quality"]).reshape(-1)[0], 0.0, 1.0))
    iv, ig = int(np.argmax(pv)), int(np.argmax(pg))
    return ViewOutput(labels[iv], float(pv[iv]), pv, q, guidance_labels[ig], float(pg[ig]))
