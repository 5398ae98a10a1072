"""Short-axis LV indices with the LVQuan definitions (patent 002: 11 indices from a mid-ventricular slice).

Indices: cavity area, myocardium area, three cavity dimensions along the 60-degree directions IS-AL, I-A, IL-AS,
and six regional wall thicknesses (RWT) of the AHA mid-ventricular segments IS, I, IL, AL, A, AS.

Geometry: rays are cast from the cavity centroid every ``ray_step_deg`` in physical (mm) space. On each ray the
endocardial radius is where the cavity indicator (bilinearly sampled) falls below 0.5 and the epicardial radius is
where cavity-or-myocardium falls below 0.5 beyond it. A segment's RWT is the mean of (epi - endo) over its
60-degree sector; a cavity dimension is the mean over the sector of the chord endo(phi) + endo(phi + 180 deg).

Orientation: angles are measured on the displayed image with x to the right and y up, counter-clockwise positive.
The anterior segment is centred on ``anterior_deg``; the septum lies counter-clockwise of it when ``septum_ccw``
(the usual display: anterior up, septum and right ventricle on the image's left). Segment centres, from anterior
towards the septum: A 0, AS 60, IS 120, I 180, IL 240, AL 300 degrees.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage

from device.errors import InputError
from device.lv import CAVITY, MYOCARDIUM
from device.lv.calibration import require_spacing

MIN_SECTOR_COVERAGE = 0.9  # share of a segment's rays that must cross myocardium for its wall thickness (issue 13)
SEGMENTS = ("IS", "I", "IL", "AL", "A", "AS")          # RWT order rwt1..rwt6 (LVQuan)
DIMENSIONS = ("IS-AL", "I-A", "IL-AS")                  # dim1..dim3 (LVQuan)
_SEGMENT_OFFSET_DEG = {"A": 0.0, "AS": 60.0, "IS": 120.0, "I": 180.0, "IL": 240.0, "AL": 300.0}


@dataclass(frozen=True)
class SaxOrientation:
    """Where the anterior wall and the septum are on the displayed image (see the module docstring)."""

    anterior_deg: float = 90.0
    septum_ccw: bool = True

    def segment_centre_deg(self, segment: str) -> float:
        """Image angle (degrees, x right, y up, counter-clockwise) of the centre of an AHA mid segment."""
        sign = 1.0 if self.septum_ccw else -1.0
        return (self.anterior_deg + sign * _SEGMENT_OFFSET_DEG[segment]) % 360.0

    @classmethod
    def from_dicom(cls, image_orientation_patient) -> "SaxOrientation":
        """Orientation from DICOM ImageOrientationPatient (6 direction cosines, LPS patient axes).

        The anterior direction (-Y in LPS) and the patient's right (-X), projected into the image plane, give the
        anterior wall and the septal side (the right ventricle lies anterior and to the patient's right).
        Raises InputError when the plane is not oblique enough to tell (e.g. a plain transverse or sagittal image).
        """
        iop = np.asarray(image_orientation_patient, dtype=float).reshape(-1)
        if iop.size != 6 or not np.all(np.isfinite(iop)):
            raise InputError("ImageOrientationPatient must hold 6 numbers; the series orientation is unreadable")
        row_dir, col_dir = iop[:3], iop[3:]           # +column index direction, +row index direction (downwards)
        ant = np.array([0.0, -1.0, 0.0])
        right = np.array([-1.0, 0.0, 0.0])
        a = np.array([ant @ row_dir, -(ant @ col_dir)])      # (x right, y up) on the display
        r = np.array([right @ row_dir, -(right @ col_dir)])
        if np.hypot(*a) < 0.2:
            raise InputError("the image plane is almost perpendicular to the anterior direction; "
                             "this does not look like a short-axis slice")
        cross = a[0] * r[1] - a[1] * r[0]
        return cls(anterior_deg=float(np.degrees(np.arctan2(a[1], a[0])) % 360.0), septum_ccw=bool(cross > 0))


@dataclass(frozen=True)
class SaxIndices:
    """The 11 LVQuan indices of one short-axis frame (mm, mm2), plus where they were measured."""

    cavity_area_mm2: float
    myo_area_mm2: float
    dims_mm: tuple[float, float, float]                   # IS-AL, I-A, IL-AS
    rwt_mm: tuple[float, float, float, float, float, float]  # IS, I, IL, AL, A, AS
    centroid_rc: tuple[float, float]                      # cavity centroid (row, col) in pixels
    orientation: SaxOrientation
    min_wall_coverage: float                              # smallest fraction of a sector's rays that crossed myocardium

    def as_row(self) -> dict[str, float]:
        """Flat dict with the CLI column names (cavity_area_mm2, myo_area_mm2, dim1_mm.., rwt1_mm..)."""
        row = {"cavity_area_mm2": self.cavity_area_mm2, "myo_area_mm2": self.myo_area_mm2}
        row.update({f"dim{i + 1}_mm": v for i, v in enumerate(self.dims_mm)})
        row.update({f"rwt{i + 1}_mm": v for i, v in enumerate(self.rwt_mm)})
        return row


def largest_component(binary: np.ndarray) -> np.ndarray:
    """Largest 8-connected component of a boolean mask (H, W); all False if the mask is empty."""
    lab, n = ndimage.label(binary, structure=np.ones((3, 3), bool))
    if n <= 1:
        return binary.astype(bool)
    sizes = ndimage.sum_labels(binary, lab, index=np.arange(1, n + 1))
    return lab == (1 + int(np.argmax(sizes)))


def ray_radii(mask: np.ndarray, spacing_rc: tuple[float, float], angles_deg: np.ndarray,
              step_px: float = 0.4) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    """Endocardial and epicardial radii (mm) along rays from the cavity centroid.

    mask: (H, W) integer labels (CAVITY, MYOCARDIUM). Returns (endo_mm, epi_mm, centroid_rc); epi equals endo on
    rays that meet no myocardium. Raises InputError when the cavity is empty or its centroid lies outside it.
    """
    cav = largest_component(mask == CAVITY)
    if not cav.any():
        raise InputError("the segmentation has no LV cavity; no indices can be measured on this frame")
    epi_region = cav | (mask == MYOCARDIUM)
    rows, cols = np.nonzero(cav)
    c_r, c_c = float(rows.mean()), float(cols.mean())
    if not cav[int(round(c_r)), int(round(c_c))]:
        raise InputError("the LV cavity is not a closed ring (its centre is outside it); "
                         "correct the contour before measuring")
    row_mm, col_mm = spacing_rc
    er, ec = np.nonzero(epi_region)
    r_max = float(np.hypot((np.abs(er - c_r).max() + 2) * row_mm, (np.abs(ec - c_c).max() + 2) * col_mm))
    radii = np.arange(0.0, r_max, step_px * min(row_mm, col_mm))
    phi = np.radians(angles_deg)[:, None]
    rr = (c_r - np.sin(phi) * radii[None, :] / row_mm).astype(np.float32)
    cc = (c_c + np.cos(phi) * radii[None, :] / col_mm).astype(np.float32)
    both = np.dstack([cav, epi_region]).astype(np.float32)
    sampled = cv2.remap(both, cc, rr, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    cav_s, epi_s = sampled[..., 0], sampled[..., 1]
    endo = _first_crossing(cav_s, radii, np.zeros(len(angles_deg), int))
    start = np.searchsorted(radii, endo)
    epi = _first_crossing(epi_s, radii, start)
    return endo, np.maximum(epi, endo), (c_r, c_c)


def _first_crossing(samples: np.ndarray, radii: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Per row, the radius (linearly interpolated) where samples first drop below 0.5 at or after index start."""
    n, m = samples.shape
    idx = np.arange(m)[None, :]
    below = (samples < 0.5) & (idx >= start[:, None])
    below[:, -1] = True
    k = np.maximum(np.argmax(below, axis=1), 1)
    rows = np.arange(n)
    s0, s1 = samples[rows, k - 1], samples[rows, k]
    denom = np.where(s0 != s1, s0 - s1, 1.0)
    t = np.where(s0 != s1, (s0 - 0.5) / denom, 0.0)
    out = radii[k - 1] + np.clip(t, 0.0, 1.0) * (radii[k] - radii[k - 1])
    return np.where(samples[rows, 0] < 0.5, radii[0], out)


def sax_indices(mask: np.ndarray, mm_per_px: float | tuple[float, float] | None,
                orientation: SaxOrientation = SaxOrientation(), ray_step_deg: float = 1.0) -> SaxIndices:
    """LVQuan indices of one short-axis label mask.

    mask: (H, W) integer array, 0 background, 1 cavity, 2 myocardium (other labels ignored).
    mm_per_px: isotropic spacing or (row, column) spacing in mm; refused (InputError) when missing.
    Raises InputError for an empty cavity, no myocardium, or a cavity that is not a closed region.
    """
    spacing = require_spacing(mm_per_px, "short-axis indices")
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise InputError(f"a short-axis mask must be 2-D (H, W); got shape {mask.shape}")
    myo = mask == MYOCARDIUM
    if not myo.any():
        raise InputError("the segmentation has no myocardium; wall thickness cannot be measured on this frame")
    px_mm2 = spacing[0] * spacing[1]
    cav = largest_component(mask == CAVITY)
    angles = np.arange(0.0, 360.0, ray_step_deg)
    endo, epi, centroid = ray_radii(mask, spacing, angles)
    thick = epi - endo
    n_half = int(round(180.0 / ray_step_deg))
    chord = endo + np.roll(endo, -n_half)

    def sector(values: np.ndarray, centre_deg: float) -> np.ndarray:
        d = (angles - centre_deg + 180.0) % 360.0 - 180.0
        return values[np.abs(d) <= 30.0]

    rwt, coverage = [], []
    for seg in SEGMENTS:
        t = sector(thick, orientation.segment_centre_deg(seg))
        coverage.append(float((t > 0).mean()))
        # an open ring (rays that meet no myocardium) has no wall to measure there: NaN, never 0.00 mm
        rwt.append(float(t.mean()) if coverage[-1] >= MIN_SECTOR_COVERAGE else float("nan"))
    dims = tuple(float(sector(chord, orientation.segment_centre_deg(a)).mean())
                 for a in ("IS", "I", "IL"))
    return SaxIndices(
        cavity_area_mm2=float(cav.sum() * px_mm2),
        myo_area_mm2=float(myo.sum() * px_mm2),
        dims_mm=dims,  # type: ignore[arg-type]
        rwt_mm=tuple(rwt),  # type: ignore[arg-type]
        centroid_rc=centroid,
        orientation=orientation,
        min_wall_coverage=min(coverage),
    )
