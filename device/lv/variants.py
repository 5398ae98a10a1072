"""Short-axis index variants: patent 002's direct regression of the 11 LVQuan indices beside the U-Net's
segment-then-measure path.

``regress_sax`` (patent 002): equalise each frame, find the LV once on the first frame with the segmentation
model's localisation pass (the same one ``segment.segment_sax`` uses), cut a ``span_mm`` square around it turned to
the canonical orientation (anterior up, septum on the left, from DICOM ImageOrientationPatient), resize to
``size`` x ``size`` and run the ``lv_dla`` model (a small deep-layer-aggregation network; the variant ``ens_int8``
is the mean of 5 members trained on K-means-balanced folds). The model outputs the 11 indices in mm2 / mm, in the
order of ``INDEX_NAMES``; a 20-frame cine then gets its phase from the predicted cavity areas
(``phase.phase_from_areas``).

``canonical_crop`` is shared with the training recipe (models/training/lv_patent002.py), so training and runtime
crops are made the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from device.errors import InputError
from device.lv.calibration import require_spacing
from device.lv.indices import SaxIndices, SaxOrientation

REG_MODEL_NAME = "lv_dla"
INDEX_NAMES = ("cavity_area_mm2", "myo_area_mm2", "dim1_mm", "dim2_mm", "dim3_mm",
               "rwt1_mm", "rwt2_mm", "rwt3_mm", "rwt4_mm", "rwt5_mm", "rwt6_mm")
SAX_METHODS = ("segment", "regress")   # segment-then-measure (U-Net, default) or direct regression (patent 002)


def canonical_matrix(centre_xy: tuple[float, float], spacing_rc: tuple[float, float], orientation: SaxOrientation,
                     size: int, span_mm: float, rot_deg: float = 0.0, scale: float = 1.0) -> np.ndarray:
    """2 x 3 affine from image pixels to a (size, size) crop: ``span_mm`` * ``scale`` around ``centre_xy`` (x, y
    pixels), turned so the anterior wall is up and the septum on the left (then ``rot_deg`` more,
    counter-clockwise), at ``span_mm / size`` mm per output pixel when ``scale`` is 1."""
    row_mm, col_mm = spacing_rc
    cx, cy = centre_xy
    out_mm = span_mm * scale / size                  # mm per output pixel
    theta = np.radians(90.0 - orientation.anterior_deg + rot_deg)
    # image (x right, y down) -> mm about the centre, with y up
    to_mm = np.array([[col_mm, 0.0, -cx * col_mm], [0.0, -row_mm, cy * row_mm], [0, 0, 1]])
    c, s = np.cos(theta), np.sin(theta)
    rot = np.array([[c, -s, 0.0], [s, c, 0.0], [0, 0, 1]])
    flip = np.diag([1.0 if orientation.septum_ccw else -1.0, 1.0, 1.0])   # after the turn: septum to the left
    to_px = np.array([[1 / out_mm, 0.0, size / 2], [0.0, -1 / out_mm, size / 2], [0, 0, 1]])
    return (to_px @ flip @ rot @ to_mm)[:2]


def canonical_crop(img: np.ndarray, matrix: np.ndarray, size: int, nearest: bool = False) -> np.ndarray:
    return cv2.warpAffine(img, matrix, (size, size), flags=cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR,
                          borderValue=0)


@dataclass(frozen=True)
class RegressedIndices:
    """Per-frame 11 indices predicted directly (no mask) and the model that made them."""

    values: np.ndarray                     # (T, 11) in INDEX_NAMES order (mm2, mm)
    model_tag: str
    centre_xy: tuple[float, float]

    def rows(self) -> list[dict[str, float]]:
        return [dict(zip(INDEX_NAMES, (float(v) for v in r))) for r in self.values]

    def as_indices(self, frame: int, orientation: SaxOrientation) -> SaxIndices:
        v = self.values[frame]
        return SaxIndices(float(v[0]), float(v[1]), tuple(float(x) for x in v[2:5]),  # type: ignore[arg-type]
                          tuple(float(x) for x in v[5:11]), (self.centre_xy[1], self.centre_xy[0]),  # type: ignore[arg-type]
                          orientation, 1.0)


def localise(eq_first: np.ndarray, seg_model) -> tuple[float, float]:
    """(x, y) pixel centre of the LV cavity on an equalised frame by the segmentation model's whole-image pass."""
    from device.lv.indices import largest_component
    from device.lv.segment import _run
    from device.lv import CAVITY
    params = seg_model.manifest.params
    size = int(params.get("input_size", 128))
    h, w = eq_first.shape
    p0 = _run(seg_model, cv2.resize(eq_first, (size, size), interpolation=cv2.INTER_AREA)[None], size)[0]
    cav0 = largest_component(cv2.resize(p0[CAVITY], (w, h), interpolation=cv2.INTER_LINEAR) > 0.5)
    if cav0.sum() < int(params.get("min_cavity_px", 20)):
        raise InputError("no LV cavity was found in this series; is it a short-axis view of the left ventricle?")
    ys, xs = np.nonzero(cav0)
    return float(xs.mean()), float(ys.mean())


def regress_sax(frames, seg_model, reg_model, mm_per_px, orientation: SaxOrientation | None = None,
                centre_xy: tuple[float, float] | None = None) -> RegressedIndices:
    """Patent 002: the 11 indices of every frame of a short-axis series straight from the image.

    frames: (T, H, W) or (H, W); mm_per_px: spacing (required); orientation: from DICOM (default: anterior up,
    septum left); centre_xy: skip the localisation pass when given.
    Raises InputError for missing calibration or when no LV is found."""
    from device.lv.preprocess import equalise
    from device.lv.segment import grey_frames
    spacing = require_spacing(mm_per_px, "short-axis indices")
    orientation = orientation or SaxOrientation()
    a = grey_frames(frames)
    eq = np.stack([equalise(f) for f in a])
    centre = centre_xy if centre_xy is not None else localise(eq[0], seg_model)
    p = reg_model.manifest.params
    size, span = int(p["input_size"]), float(p["span_mm"])
    m = canonical_matrix(centre, spacing, orientation, size, span)
    crops = np.stack([canonical_crop(f, m, size) for f in eq])
    x = ((crops.astype(np.float32) / 255.0 - 0.5) / 0.5)[:, None]
    vals = reg_model.run({"image": x})["indices"].astype(np.float64)
    return RegressedIndices(np.maximum(vals, 0.0), reg_model.tag, centre)


def load_reg_model(variant: str | None = None, threads: int | None = None):
    """The ``lv_dla`` model from the process's model provider (default variant: the 5-member ensemble)."""
    from device.inference import model_provider
    return model_provider().get(REG_MODEL_NAME, variant, threads=threads)
