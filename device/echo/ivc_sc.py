"""Inferior vena cava in the subcostal IVC view (issue 14 part 2): maximal and minimal diameter over the clip, the
collapse index and the RA pressure it implies (ASE 2010 / 2015 right-heart guidelines).

Pure: a :class:`~device.echo.measures2d.Clip2D` in, :class:`~device.echo.measures2d.Measure2D` records out.

1. The lumen: on the clip's mean frame, the dark (blood) pixels inside the imaged fan (the fan mask when the clip
   has one, else the fan found on the screen).
2. The right atrium is the widest dark blob (largest inscribed circle, by a distance transform in mm, so anisotropic
   pixels are handled); the IVC is the tube of dark pixels joined to it whose ridge (local maxima of the distance to
   the lumen's edge) has a half-width of 3-16 mm and runs at least 20 mm.
3. The station is on that ridge 10-25 mm from the atrium's edge (ASE: 1-2 cm from the RA junction), the caliper is
   perpendicular to the ridge's direction there.
4. In each frame the lumen's edges along the caliper are where the intensity crosses half-way from the lumen to the
   wall's peak; the frames with the widest and narrowest lumen give ``ivc_max_mm`` and ``ivc_min_mm``.

Refusals say why: no dark tube joined to a chamber, a lumen edge not found, or (for the collapse) a clip shorter
than a breath.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from device.echo.measures2d import Clip2D, Measure2D, caliper_mm
from device.echo.screen import find_sector

VIEW = "SC-IVC"
MIN_BREATH_S = 2.5        # a clip shorter than this cannot show the respiratory change (collapse refused)
STATION_MM = (10.0, 25.0)  # distance of the station from the RA's edge
HALF_WIDTH_MM = (3.0, 16.0)
METHOD = "inner edge to inner edge, perpendicular to the IVC 1-2 cm from the RA junction"


def _fan(frames: np.ndarray, clip: Clip2D) -> np.ndarray:
    if clip.fan_mask is not None and clip.fan_mask.shape == frames.shape[1:]:
        return clip.fan_mask.astype(bool)
    sector = find_sector(frames.max(axis=0).astype(np.uint8))
    return sector.mask if sector is not None else np.zeros(frames.shape[1:], bool)


def _lumen(mean: np.ndarray, fan: np.ndarray) -> np.ndarray:
    inner = ndi.binary_erosion(fan, iterations=6)
    if inner.sum() < 100:
        return np.zeros_like(fan)
    tissue_level = float(np.median(mean[inner]))
    dark = (ndi.gaussian_filter(mean, 2.0) < 0.35 * tissue_level) & inner
    return ndi.binary_opening(dark, iterations=2)


def _find_station(lumen: np.ndarray, sp: tuple[float, float]):
    """(station (row, col), unit direction of the IVC in mm (drow, dcol), RA centre, RA radius mm) or a reason."""
    dt = ndi.distance_transform_edt(lumen, sampling=sp)
    if dt.max() < HALF_WIDTH_MM[0]:
        return "no dark vessel or chamber in the fan"
    lab, _ = ndi.label(lumen)
    ra = np.unravel_index(int(np.argmax(dt)), dt.shape)
    ra_r = float(dt[ra])
    comp = lab == lab[ra]
    ridge = (dt >= ndi.maximum_filter(dt, size=5) - 0.05) & comp
    ridge &= (dt >= HALF_WIDTH_MM[0]) & (dt <= min(HALF_WIDTH_MM[1], 0.75 * ra_r))
    rr, cc = np.nonzero(ridge)
    dist_mm = np.hypot((rr - ra[0]) * sp[0], (cc - ra[1]) * sp[1]) - ra_r
    if len(rr) == 0 or dist_mm.max() < 20.0:
        return "no tube of 6-32 mm joined to the right atrium (is this the subcostal IVC view?)"
    sel = (dist_mm >= STATION_MM[0]) & (dist_mm <= STATION_MM[1])
    if sel.sum() < 3:
        return "the IVC is not seen 1-2 cm from the right atrium"
    # the station: the ridge point nearest 15 mm from the RA edge; the direction from the ridge points within 12 mm
    k = int(np.argmin(np.abs(dist_mm - 15.0) + 1e3 * ~sel))
    p = np.array([rr[k] * sp[0], cc[k] * sp[1]])
    pts = np.stack([rr * sp[0], cc * sp[1]], axis=1)
    near = pts[np.hypot(*(pts - p).T) <= 12.0]
    if len(near) < 3:
        return "the IVC's course near the right atrium is too short to orient the caliper"
    c = near - near.mean(axis=0)
    _, _, vt = np.linalg.svd(c, full_matrices=False)
    return (int(rr[k]), int(cc[k])), vt[0], ra, ra_r


def _edges(frame: np.ndarray, centre_mm: np.ndarray, normal_mm: np.ndarray,
           sp: tuple[float, float]) -> tuple[float, float] | None:
    """Lumen edges (mm along the normal, relative to the centre) in one frame, or None when a wall is not found."""
    s = np.arange(-30.0, 30.0 + 1e-9, 0.25)
    rows = (centre_mm[0] + s * normal_mm[0]) / sp[0]
    cols = (centre_mm[1] + s * normal_mm[1]) / sp[1]
    prof = ndi.map_coordinates(frame, [rows, cols], order=1, mode="nearest")
    win = np.flatnonzero(np.abs(s) <= 5.0)
    c = int(win[np.argmin(prof[win])])             # the lumen's darkest point near the station
    lumen = float(np.median(prof[max(c - 4, 0):c + 5]))
    contrast = max(6.0, 0.3 * (float(np.percentile(prof, 90)) - lumen))   # a wall stands out of the lumen by this
    edges = []
    for step in (-1, 1):
        i, edge = c, None
        while 0 < i < len(s) - 1 and abs(s[i] - s[c]) < 25.0:
            i += step
            j = min(max(i + step * 40, 0), len(s) - 1)   # the wall's peak within 10 mm beyond
            peak = float(prof[min(i, j):max(i, j) + 1].max())
            half = lumen + 0.5 * (peak - lumen)
            if peak - lumen > contrast and prof[i] >= half:
                prev = float(prof[i - step])
                frac = float(np.clip((half - prev) / max(float(prof[i]) - prev, 1e-6), 0.0, 1.0))
                edge = float(s[i - step]) + step * 0.25 * frac
                break
        if edge is None:
            return None
        edges.append(edge)
    return edges[0], edges[1]


def measure_ivc(clip: Clip2D) -> list[Measure2D]:
    sp = clip.mm_per_px
    names = ("ivc_max_mm", "ivc_min_mm")
    frames = clip.frames.astype(np.float32)
    mean = frames.mean(axis=0)
    found = _find_station(_lumen(mean, _fan(frames, clip)), sp)
    if isinstance(found, str):
        return [Measure2D(n, None, found) for n in names]
    (r0, c0), axis, _, _ = found
    normal = np.array([-axis[1], axis[0]])
    centre = np.array([r0 * sp[0], c0 * sp[1]])
    widths: list[tuple[float, int, tuple[float, float]]] = []
    for t, f in enumerate(frames):
        e = _edges(ndi.gaussian_filter(f, 1.0), centre, normal, sp)
        if e is not None:
            widths.append((e[1] - e[0], t, e))
    if len(widths) >= 5:                   # a wall missed in one frame jumps: drop widths off their neighbours' median
        w = np.array([x[0] for x in widths])
        widths = [x for x, m in zip(widths, ndi.median_filter(w, size=5, mode="nearest")) if abs(x[0] - m) <= 3.0]
    if len(widths) < max(1, len(frames) // 2):
        return [Measure2D(n, None, "the IVC's walls are not found in most frames (adjust gain or depth)")
                for n in names]
    out = []
    for name, (_, t, (a, b)), phase in (("ivc_max_mm", max(widths), "max"), ("ivc_min_mm", min(widths), "min")):
        pa, pb = centre + a * normal, centre + b * normal
        pts = ((pa[1] / sp[1], pa[0] / sp[0]), (pb[1] / sp[1], pb[0] / sp[0]))
        out.append(Measure2D(name, caliper_mm(pts, sp), points=pts, frame=t, phase=phase, method=METHOD))
    dur = len(frames) / clip.fps if clip.fps else None
    if dur is None or dur < MIN_BREATH_S:     # the narrowest lumen of a part of a breath is not the minimum
        why = "the frame rate is unknown" if dur is None else f"the clip lasts {dur:.1f} s"
        out[1] = Measure2D("ivc_min_mm", None, f"{why}; the minimum needs a clip through a whole breath "
                           f"(>= {MIN_BREATH_S} s, or a sniff)")
    return out


def ra_pressure_mmhg(max_mm: float, collapse_pct: float) -> float:
    """ASE 2010 / 2015: IVC <= 21 mm collapsing > 50 % -> 3 mmHg; > 21 mm collapsing < 50 % -> 15; otherwise 8."""
    if max_mm <= 21.0 and collapse_pct > 50.0:
        return 3.0
    if max_mm > 21.0 and collapse_pct < 50.0:
        return 15.0
    return 8.0


def _derived(v: dict[str, float]) -> dict[str, float | None]:
    if "ivc_max_mm" not in v or "ivc_min_mm" not in v:
        return {"ivc_collapse_pct": None, "ivc_ra_pressure_mmhg": None}
    collapse = 100.0 * (v["ivc_max_mm"] - v["ivc_min_mm"]) / max(v["ivc_max_mm"], 1e-6)
    return {"ivc_collapse_pct": collapse, "ivc_ra_pressure_mmhg": ra_pressure_mmhg(v["ivc_max_mm"], collapse)}


MEASURERS = {VIEW: [measure_ivc]}
DERIVED = {VIEW: _derived}
