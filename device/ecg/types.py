"""Frozen dataclasses of the paper-ECG pipeline. Pixel coordinates refer to the rectified image unless noted."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

LEADS: tuple[str, ...] = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
FS_HZ = 500
DURATION_S = 10.0
N_SAMPLES = int(FS_HZ * DURATION_S)


@dataclass(frozen=True)
class Rectified:
    """The paper, flattened. ``image`` uint8 (H, W, 3) RGB; ``homography`` 3x3 maps original -> rectified pixels;
    ``paper_quad`` float (4, 2) corners (tl, tr, br, bl) in original pixels; ``paper_found`` False when the paper
    filled the frame and the whole photo was used."""

    image: np.ndarray
    homography: np.ndarray
    paper_quad: np.ndarray
    paper_found: bool
    scale: float  # rectified px per original px (approx.)


@dataclass(frozen=True)
class Calibration:
    """Scale of the printout. ``px_per_mm_x/y`` from the grid; ``speed_mm_s`` and ``gain_mm_mv`` as printed."""

    px_per_mm_x: float
    px_per_mm_y: float
    speed_mm_s: float = 25.0
    gain_mm_mv: float = 10.0
    grid_found: bool = True
    pulse_found: bool = False
    source: str = "grid"  # "grid", "pulse", "user"
    photo_px_per_mm_x: float = 0.0  # the grid as measured on the perspective-corrected photo (before flattening)
    photo_px_per_mm_y: float = 0.0

    @property
    def px_per_mv(self) -> float:
        return self.px_per_mm_y * self.gain_mm_mv

    @property
    def px_per_s(self) -> float:
        return self.px_per_mm_x * self.speed_mm_s


@dataclass(frozen=True)
class LeadBox:
    """Where one lead was printed: the box (x0, y0, x1, y1) px, the zero-volt line ``baseline_y`` px, and the time
    window ``t0_s``..``t1_s`` on the shared 10-s axis that its left and right edges correspond to."""

    lead: str
    x0: float
    y0: float
    x1: float
    y1: float
    baseline_y: float
    t0_s: float
    t1_s: float
    row: int = 0

    def as_dict(self) -> dict:
        return {k: (round(v, 2) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class Layout:
    """``name`` one of "3x4+1", "3x4+3", "6x2", "12x1", "3x4"; ``boxes`` one per printed lead segment."""

    name: str
    boxes: tuple[LeadBox, ...]
    label_source: str = "layout"  # "layout" or "ocr"


@dataclass(frozen=True)
class Quality:
    """Read quality. ``sharpness`` variance of Laplacian (rectified, grey); ``trace_coverage`` 0..1 share of
    printed columns where a trace was found; ``score`` 0..1 overall."""

    sharpness: float
    trace_coverage: float
    score: float


@dataclass(frozen=True)
class EcgReading:
    """A digitised printout. ``signals_mv`` float32 (5000, 12) at 500 Hz on the 10-s axis, NaN where the lead was
    not printed; ``traces_px`` per box: float32 (n, 2) (x, y) polyline in rectified pixels for the overlay."""

    signals_mv: np.ndarray
    fs_hz: int
    lead_names: tuple[str, ...]
    layout: Layout
    calibration: Calibration
    rectified: Rectified
    traces_px: tuple[np.ndarray, ...]
    quality: Quality
    warnings: tuple[str, ...] = ()
    timings_ms: dict = field(default_factory=dict)

    def lead(self, name: str) -> np.ndarray:
        """The (5000,) mV signal of one lead (NaN where not printed)."""
        return self.signals_mv[:, self.lead_names.index(name)]
