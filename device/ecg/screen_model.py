"""Image screening model (patent 003 style, small): per-beat local features + whole-printout global features, fused.

Inputs built here are shared by the training recipe (``models/training/ecg_screen.py``) and the cart:

- ``beats`` float32 (1, N_BEATS, 92): each row one beat of one printed lead, 0.8 s around its R peak resampled to
  100 Hz (80 values, mV, the first 100 ms' median removed, clipped to +-5) followed by a one-hot of the lead (12).
- ``beat_mask`` float32 (1, N_BEATS): 1 for a real beat, 0 for padding.
- ``image`` float32 (1, 1, 96, 256): the ink map (0 paper .. 1 black trace) of the printed area, resized.

The model's output ``logits`` (1, 2) is [normal, abnormal]; the decision threshold lives in the manifest.
"""

from __future__ import annotations

import cv2
import numpy as np

from device.ecg.screening import Screen
from device.ecg.types import EcgReading

N_BEATS = 64
BEAT_LEN = 80  # samples at 100 Hz
IMG_H, IMG_W = 96, 256
MODEL_NAME = "ecg_screen"


def beat_matrix(signals_mv: np.ndarray, r_peaks_s: tuple[float, ...] | np.ndarray, fs_hz: float = 500.0,
                rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(beats float32 (N_BEATS, 92), mask float32 (N_BEATS,)) from a (n, 12) mV array and beat times (s).
    Beats are taken lead by lead wherever 0.8 s around the R peak was printed; with more than N_BEATS, an even
    subsample (or a random one when ``rng`` is given, for training)."""
    rows = []
    pre, post = int(0.3 * fs_hz), int(0.5 * fs_hz)
    src_t = np.arange(pre + post) / fs_hz
    dst_t = np.arange(BEAT_LEN) / 100.0
    for j in range(min(12, signals_mv.shape[1])):
        x = signals_mv[:, j]
        for t in r_peaks_s:
            c = int(round(t * fs_hz))
            if c - pre < 0 or c + post > x.size:
                continue
            seg = x[c - pre : c + post]
            if not np.isfinite(seg).all():
                continue
            b = np.interp(dst_t, src_t, seg)
            b = np.clip(b - np.median(b[:10]), -5, 5)
            one = np.zeros(12)
            one[j] = 1
            rows.append(np.concatenate([b, one]))
    out = np.zeros((N_BEATS, BEAT_LEN + 12), np.float32)
    mask = np.zeros(N_BEATS, np.float32)
    if rows:
        if len(rows) > N_BEATS:
            idx = (np.sort(rng.choice(len(rows), N_BEATS, replace=False)) if rng is not None
                   else np.linspace(0, len(rows) - 1, N_BEATS).round().astype(int))
            rows = [rows[i] for i in idx]
        out[: len(rows)] = np.stack(rows)
        mask[: len(rows)] = 1
    return out, mask


def ink_map(rgb: np.ndarray, px_per_mm: float) -> np.ndarray:
    """float32 (H, W) 0..1 darkness relative to the local paper white (the trace is ~1, grid lines faint)."""
    from device.ecg.traces import darkness

    return darkness(rgb, px_per_mm)


def global_image(ink: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """float32 (IMG_H, IMG_W): the ink map cropped to ``box`` (x0, y0, x1, y1 px) and resized (area averaging,
    then max-normalised per image so faint photos and dark scans look alike)."""
    h, w = ink.shape
    x0, y0, x1, y1 = (int(max(0, box[0])), int(max(0, box[1])), int(min(w, box[2])), int(min(h, box[3])))
    crop = ink[y0:y1, x0:x1] if x1 > x0 + 10 and y1 > y0 + 10 else ink
    img = cv2.resize(crop.astype(np.float32), (IMG_W, IMG_H), interpolation=cv2.INTER_AREA)
    return img / max(float(img.max()), 1e-3)


def reading_inputs(reading: EcgReading, r_peaks_s: tuple[float, ...]) -> dict[str, np.ndarray]:
    """The model's inputs for a digitised printout."""
    beats, mask = beat_matrix(reading.signals_mv, r_peaks_s, reading.fs_hz)
    b = reading.layout.boxes
    box = (min(x.x0 for x in b), min(x.y0 for x in b), max(x.x1 for x in b), max(x.y1 for x in b))
    img = global_image(ink_map(reading.rectified.image, reading.calibration.px_per_mm_x), box)
    return {"beats": beats[None], "beat_mask": mask[None], "image": img[None, None]}


def model_screen(reading: EcgReading, r_peaks_s: tuple[float, ...], variant: str | None = None) -> Screen | None:
    """Run the ``ecg_screen`` model; None when it is not installed (the signal screen still runs)."""
    from device.errors import ModelError
    from device.inference import model_provider

    try:
        model = model_provider().get(MODEL_NAME, variant)
    except ModelError:
        return None
    inputs = reading_inputs(reading, r_peaks_s)
    logits = np.asarray(model.run(inputs)["logits"], np.float64).reshape(-1)
    p = np.exp(logits - logits.max())
    p = p / p.sum()
    thr = float(model.manifest.params.get("threshold", 0.5))
    score = float(p[1])
    label = "abnormal" if score >= thr else "normal"
    n = int(inputs["beat_mask"].sum())
    why = f"image model: abnormal probability {score:.2f} from {n} beats + the whole printout"
    return Screen(label, score, (why,), model.tag)
