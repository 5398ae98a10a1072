"""LV volumes of a short-axis cine stack by summation of discs (issue 18 point 8: ``lv sax`` gave no EDV/ESV/EF).

For every phase k of the cine: V(k) = sum over slices of A(slice, k) x t(slice), with A the LV cavity area (mm2) and
t the slice's share of the stack (half the gaps to its neighbours; an end slice takes its one gap), in mL. EDV is the
largest V, ESV the smallest, SV = EDV - ESV, EF = 100 SV / EDV (the same phase for every slice, as the volume-curve
method does; the papillary muscles count as cavity where the segmentation gives them to it). Pure: numbers in,
record out; InputError says why volumes cannot be given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from device.errors import InputError

MIN_SLICES = 3


@dataclass(frozen=True)
class StackVolumes:
    edv_ml: float
    esv_ml: float
    sv_ml: float
    ef_pct: float
    n_slices: int
    n_phases: int
    spacing_mm: float                       # median gap between neighbouring slices
    ed_phase: int                           # phase index (0-based) of the largest volume
    es_phase: int
    volume_curve_ml: tuple[float, ...]      # V(k) for every phase

    def as_row(self) -> dict[str, float | int]:
        return {"edv_ml": round(self.edv_ml, 1), "esv_ml": round(self.esv_ml, 1), "sv_ml": round(self.sv_ml, 1),
                "ef_pct": round(self.ef_pct, 1), "n_slices": self.n_slices, "n_phases": self.n_phases,
                "spacing_mm": round(self.spacing_mm, 2), "ed_phase": self.ed_phase, "es_phase": self.es_phase}


def positions_mm(frames) -> list[float | None]:
    """The slice position of each frame (device.lv.dicom_io.ImageFrame) for :func:`stack_volumes`: the distance
    along the slice normal (ImagePositionPatient) when every frame has one, else SliceLocation."""
    pos = [getattr(f, "position_mm", None) for f in frames]
    return pos if pos and all(p is not None for p in pos) else [f.slice_location for f in frames]


def stack_volumes(locations_mm: Sequence[float | None], phases: Sequence[int],
                  areas_mm2: Sequence[float | None]) -> StackVolumes:
    """One entry per image: the slice location (mm along the long axis), the phase index within that slice's cine
    (0 .. P-1) and the cavity area (mm2; None or 0 where no cavity was found, e.g. above the base or at the apex)."""
    if not (len(locations_mm) == len(phases) == len(areas_mm2)) or not locations_mm:
        raise InputError("no images to compute volumes from")
    if any(loc is None for loc in locations_mm):
        raise InputError("the images carry no slice position (SliceLocation); EDV/ESV need a stack of short-axis "
                         "slices with their positions")
    grid: dict[float, dict[int, float]] = {}
    missing = 0
    for loc, k, a in zip(locations_mm, phases, areas_mm2):
        if a is None or not np.isfinite(a):
            missing += 1
        grid.setdefault(round(float(loc), 1), {})[int(k)] = float(a) if a is not None and np.isfinite(a) else 0.0  # type: ignore[arg-type]
    locs = sorted(grid)
    if len(locs) < MIN_SLICES:
        raise InputError(f"EDV/ESV need a stack of at least {MIN_SLICES} short-axis slices; this series has "
                         f"{len(locs)} slice position(s)")
    n_phases = {len(grid[x]) for x in locs}
    if len(n_phases) != 1 or min(n_phases) < 2:
        raise InputError("the slices do not all have the same number of cine phases (at least 2); give one "
                         "complete cine per slice")
    n_ph = n_phases.pop()
    if any(sorted(grid[x]) != list(range(n_ph)) for x in locs):
        raise InputError("the cine phases of a slice are not numbered 0..P-1; give one complete cine per slice")
    if missing > len(locations_mm) // 2:
        raise InputError(f"no LV cavity was found in {missing} of {len(locations_mm)} images; EDV/ESV would be too low")
    gaps = np.diff(np.asarray(locs))
    if np.any(gaps <= 0):
        raise InputError("two slices share one position; give one cine per slice position")
    share = np.empty(len(locs))
    share[0], share[-1] = gaps[0], gaps[-1]
    share[1:-1] = (gaps[:-1] + gaps[1:]) / 2.0
    areas = np.array([[grid[x][k] for k in range(n_ph)] for x in locs])          # (slices, phases) mm2
    curve = (areas * share[:, None]).sum(axis=0) / 1000.0                          # mL per phase
    ed, es = int(np.argmax(curve)), int(np.argmin(curve))
    edv, esv = float(curve[ed]), float(curve[es])
    if edv <= 0:
        raise InputError("no LV cavity was found at any phase; is this a short-axis series of the heart?")
    return StackVolumes(edv, esv, edv - esv, 100.0 * (edv - esv) / edv, len(locs), n_ph, float(np.median(gaps)),
                        ed, es, tuple(float(v) for v in curve))
