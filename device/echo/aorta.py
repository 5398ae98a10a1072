"""Aortic root and LVOT in the parasternal long axis (issue 14 part 2): LVOT diameter, annulus, sinuses of
Valsalva, sino-tubular junction and ascending aorta, each a caliper inner edge to inner edge, perpendicular to the
aorta's long axis.

Pure: a :class:`~device.echo.measures2d.Clip2D` in, :class:`~device.echo.measures2d.Measure2D` records out.

1. On the clip's mean frame the dark (blood) pixels inside the fan; on each column of the image's right half (the
   PLAX puts the aorta screen-right) the dark runs from the top: a run of 12-40 mm with another dark run (the left
   atrium) below it and one above it (the RV outflow) is a cut through the aortic root. A straight line through the
   middles of those runs is the aorta's long axis (at least 8 columns must agree).
2. The valve plane: the point on that axis whose lumen varies most over the clip (the moving aortic cusps).
3. Stations along the axis from the valve plane: LVOT 7 mm toward the ventricle (ASE: 0.5-1 cm below the annulus),
   annulus at the plane, sinuses the widest lumen 3-15 mm above it, sino-tubular junction the narrowest 15-25 mm
   above it, ascending aorta the farthest station up to 45 mm where both walls are found.
4. On each station the lumen's edges are where the intensity crosses half-way from the lumen to the wall's peak
   (:func:`device.echo.ivc_sc._edges`), on the frame of the clip with the most open valve (mid-systole) for the
   LVOT, else on the mean frame.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from device.echo.ivc_sc import _edges, _fan
from device.echo.measures2d import Clip2D, Measure2D, caliper_mm

VIEW = "PLAX"
RUN_MM = (12.0, 40.0)     # a plausible aortic-root lumen seen on one column
MIN_COLUMNS = 8
AGREE = 0.25              # a station's width within 25 % of the root's median width across its axis, else refused
NAMES = ("lvot_diam_mm", "ao_annulus_mm", "ao_sinus_mm", "ao_stj_mm", "ao_asc_mm")
METHOD = "inner edge to inner edge, perpendicular to the aorta's long axis"


def _lumen(mean: np.ndarray, fan: np.ndarray) -> np.ndarray:
    """Dark pixels well inside the fan: below a third of the bright tissue level (90th percentile of the fan)."""
    inner = ndi.binary_erosion(fan, iterations=6)
    if inner.sum() < 100:
        return np.zeros_like(fan)
    dark = (ndi.gaussian_filter(mean, 2.0) < 0.35 * float(np.percentile(mean[inner], 90))) & inner
    return ndi.binary_opening(dark, iterations=2)


def _runs(col: np.ndarray) -> list[tuple[int, int]]:
    d = np.diff(np.concatenate([[0], col.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)))


def _axis(lumen: np.ndarray, sp: tuple[float, float]) -> tuple[np.ndarray, np.ndarray, float] | str:
    """(a point on the aorta's axis (row, col) mm, unit direction (drow, dcol) pointing screen-right, the median
    lumen width across the axis in mm) or a reason."""
    h, w = lumen.shape
    xs, ys, ws = [], [], []
    for c in range(w // 2, w):
        runs = [(a, b) for a, b in _runs(lumen[:, c]) if (b - a) * sp[0] >= 4.0]
        for k in range(1, len(runs) - 1):
            a, b = runs[k]
            if RUN_MM[0] <= (b - a) * sp[0] <= RUN_MM[1]:
                xs.append(c * sp[1])
                ys.append((a + b) / 2 * sp[0])
                ws.append((b - a) * sp[0])
                break
    if len(xs) < MIN_COLUMNS:
        return "no aortic root (a 12-40 mm lumen between the RV outflow and the left atrium) in the image's right half"
    x, y, wd = np.asarray(xs), np.asarray(ys), np.asarray(ws)
    for _ in range(2):                                   # a robust line: drop the columns far off the first fit
        k, b = np.polyfit(x, y, 1)
        keep = np.abs(y - (k * x + b)) <= 4.0
        if keep.sum() < MIN_COLUMNS:
            return "the aortic root's course is not straight enough to place the calipers"
        x, y, wd = x[keep], y[keep], wd[keep]
    k, b = np.polyfit(x, y, 1)
    d = np.array([k, 1.0]) / np.hypot(1.0, k)
    x0 = float(x.min())
    return np.array([k * x0 + b, x0]), d, float(np.median(wd)) / float(np.hypot(1.0, k))


def _station(p0: np.ndarray, d: np.ndarray, s: float) -> np.ndarray:
    return p0 + s * d


def measure_aorta(clip: Clip2D) -> list[Measure2D]:
    sp = clip.mm_per_px
    frames = clip.frames.astype(np.float32)
    mean = frames.mean(axis=0)
    fan = _fan(frames, clip)
    found = _axis(_lumen(mean, fan), sp)
    if isinstance(found, str):
        return [Measure2D(n, None, found) for n in NAMES]
    p0, d, ref = found
    normal = np.array([-d[1], d[0]])
    sm = ndi.gaussian_filter(mean, 1.0)
    # the valve plane: the station (from 15 mm before the first root column to 25 mm along) of largest temporal std
    std = ndi.gaussian_filter(frames.std(axis=0), 1.5)
    ss = np.arange(-15.0, 25.0, 0.5)
    var = []
    for s in ss:
        c = _station(p0, d, s)
        t = np.arange(-8.0, 8.01, 0.5)
        var.append(float(ndi.map_coordinates(std, [(c[0] + t * normal[0]) / sp[0], (c[1] + t * normal[1]) / sp[1]],
                                             order=1, mode="nearest").mean()))
    s_av = float(ss[int(np.argmax(var))])

    def width(img: np.ndarray, s: float):
        c = _station(p0, d, s)
        e = _edges(img, c, normal, sp)
        if e is None or abs(e[1] - e[0] - ref) > AGREE * ref:
            return None
        return e[1] - e[0], c, e

    def rec(name: str, s_from: float, s_to: float, pick: str, img: np.ndarray, frame: int, phase: str) -> Measure2D:
        got = [(w, c, e, s) for s in np.arange(s_from, s_to + 1e-9, 1.0) if (r := width(img, s)) is not None
               for w, c, e in [r]]
        if not got:
            return Measure2D(name, None, f"the walls of the {phase} were not found (or disagree with the root's width) at "
                             f"{s_from:+.0f} to {s_to:+.0f} mm from the valve plane")
        if pick == "median":
            ws = np.array([g[0] for g in got])
            w, c, e, s = got[int(np.argmin(np.abs(ws - np.median(ws))))]
        elif pick == "max":
            w, c, e, s = max(got, key=lambda g: g[0])
        elif pick == "min":
            w, c, e, s = min(got, key=lambda g: g[0])
        else:                                            # farthest along the axis
            w, c, e, s = max(got, key=lambda g: g[3])
        pa, pb = c + e[0] * normal, c + e[1] * normal
        pts = ((pa[1] / sp[1], pa[0] / sp[0]), (pb[1] / sp[1], pb[0] / sp[0]))
        return Measure2D(name, caliper_mm(pts, sp), points=pts, frame=frame, phase=phase,
                         method=f"{METHOD}, {s:+.0f} mm from the valve plane")

    mid = len(frames) // 2
    # mid-systole: the frame whose lumen at the valve plane is darkest (cusps open, out of the way)
    c_av = _station(p0, d, s_av)
    dark = [float(ndi.map_coordinates(f, [[c_av[0] / sp[0]], [c_av[1] / sp[1]]], order=1)[0]) for f in frames]
    sys_t = int(np.argmin(ndi.uniform_filter1d(np.asarray(dark), 3)))
    sys_img = ndi.gaussian_filter(frames[sys_t], 1.0)
    return [rec("lvot_diam_mm", s_av - 10, s_av - 5, "median", sys_img, sys_t, "mid-systole"),
            rec("ao_annulus_mm", s_av - 1, s_av + 1, "median", sys_img, sys_t, "mid-systole"),
            rec("ao_sinus_mm", s_av + 3, s_av + 15, "max", sm, mid, "sinuses"),
            rec("ao_stj_mm", s_av + 15, s_av + 25, "min", sm, mid, "sino-tubular junction"),
            rec("ao_asc_mm", s_av + 26, s_av + 45, "far", sm, mid, "ascending aorta")]


MEASURERS = {VIEW: [measure_aorta]}
