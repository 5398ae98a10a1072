"""Colour-Doppler regurgitant jets (issue 14 part 3): pure reading, RGB frame(s) in, jet records out.

``read_jets(frames, mm_per_px, view, atrium=None, outflow_diam_mm=None)`` -> :class:`JetReading`.

How it reads (every step is a rule, no model):
1. colour box: pixels whose colour saturation (max - min channel) is >= 50 grouped into regions; thin or narrow
   regions (text, ECG trace, the colour scale bar) are dropped; no region of >= 0.2 % of the frame -> refused
   "no colour box".
2. jet: inside the box, the turbulent mosaic = colour pixels of high velocity (bright, or aliased yellow/cyan/white,
   or variance green, or pale near-white tinted pixels) whose 15x15 neighbourhood mixes both flow directions (warm
   and cold, >= 8 % each: aliasing and turbulence), grown by 3 px into adjacent fast pixels (one-sided cells at the
   jet's edge); isolated ones are noise. When more than 5 % of the colour pixels in the box's bounding box are
   speckle (under half of their 5x5 neighbourhood coloured) the frame is refused "colour too noisy" (gain too high).
   Smooth aliasing (the proximal flow convergence shell) is not jet.
3. which valve: from the view and where the jet lies (ASE standard orientation, LV on screen right) relative to the
   sector midline (the fitted fan's symmetry axis): A4C: right of the midline MR (into the LA), left TR (into the
   RA); A5C/A3C/PLAX: AR (into the LVOT); PSAX-AV: right of the midline PR (into the RVOT), left TR. The jet's
   origin is its end against the expected flow direction
   (MR/TR in apical views flow away from the probe, AR in A5C/A3C toward it, in PLAX toward screen left, PR in
   PSAX-AV up).
4. measures along the jet's long axis from the origin: vena contracta = the narrowest width between 1 mm and
   max(3 mm, 30 % of the jet length) (not measurable when the jet is shorter than 8 mm or its origin touches the
   colour box edge); jet area = the mosaic area distal to the VC; jet/atrium area ratio (MR, TR) only with the
   atrium outline given (this reader does not find the atrium: a search tried in development never found it
   reliably, so it was removed); jet width
   within 10 mm of the VC / outflow diameter (AR, PR) when the LVOT/RVOT diameter is given.
5. grade with ``device.echo.jets_rules`` (ASE 2017; the rule text names each cut-off). In a clip, each valve's
   frame with the largest jet (the maximal jet area, as the guideline asks) is kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from device.echo.jets_rules import grade

METHOD = ("colour-Doppler mosaic segmentation (saturation, velocity brightness, mixed warm/cold mosaic), VC along the "
          "jet axis, ASE 2017 cut-offs (device/echo/jets_rules.py)")
_FLOW = {("A4C", "MR"): (0, 1), ("A4C", "TR"): (0, 1), ("A5C", "AR"): (0, -1), ("A3C", "AR"): (0, -1),
         ("PLAX", "AR"): (-1, 0), ("PSAX-AV", "PR"): (0, -1), ("PSAX-AV", "TR"): (0, 1)}
VIEWS = ("A4C", "A5C", "A3C", "PLAX", "PSAX-AV")


@dataclass
class JetRecord:
    valve: str
    grade: str
    rule: str
    values: dict[str, float | None]
    outline: list[list[int]] = field(default_factory=list)    # polygon (x, y) px of the jet distal to the VC
    vc_line: list[list[int]] = field(default_factory=list)    # the two ends of the VC caliper
    atrium_outline: list[list[int]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    frame_index: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"valve": self.valve, "grade": self.grade, "rule": self.rule,
                "values": {k: (None if v is None else round(float(v), 2)) for k, v in self.values.items()},
                "outline": self.outline, "vc_line": self.vc_line, "atrium_outline": self.atrium_outline,
                "notes": self.notes, "frame_index": self.frame_index}


@dataclass
class JetReading:
    view: str
    records: list[JetRecord]
    refused: str | None = None
    box: tuple[int, int, int, int] | None = None
    method: str = METHOD


def _neighbours(mask: np.ndarray, k: int = 5) -> np.ndarray:
    return cv2.boxFilter(mask.astype(np.float32), -1, (k, k), normalize=False)


def colour_box(rgb: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
    """(box region mask or None, colour-pixel mask)."""
    f = rgb.astype(np.int16)
    mx, mn = f.max(axis=2), f.min(axis=2)
    colour = ((mx - mn) >= 50) & (mx >= 70)
    h, w = colour.shape
    solid = cv2.morphologyEx(colour.astype(np.uint8), cv2.MORPH_OPEN, np.ones((5, 5), np.uint8))  # no lines
    region = cv2.morphologyEx(solid, cv2.MORPH_CLOSE, np.ones((15, 15), np.uint8))
    n, lab, stats, _ = cv2.connectedComponentsWithStats(region, connectivity=8)
    best, best_area = 0, 0.0
    for i in range(1, n):
        x, y, bw, bh, area = stats[i]
        if area < 0.002 * h * w or bw < 0.04 * w or bh < 0.04 * h or area < 0.25 * bw * bh:
            continue                      # too small, a thin bar (colour scale, ECG) or a scattered text line
        if area > best_area:
            best, best_area = i, float(area)
    if not best:
        return None, colour
    return lab == best, colour


def _jet_mask(rgb: np.ndarray, box: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """The turbulent mosaic mask inside the box."""
    f = rgb.astype(np.float32)
    r, g, b = f[..., 0], f[..., 1], f[..., 2]
    mx = f.max(axis=2)
    mid = np.median(f, axis=2)
    pale = box & (mx >= 150) & (mx - f.min(axis=2) >= 20)     # near-white top of a map (Philips), JPEG-faded
    fast = (colour & box & ((mx >= 155) | (mid >= 110) | ((g > r + 30) & (g > b + 30)))) | pale
    if not fast.any():
        return fast
    iso = fast & (_neighbours(fast) < 8)
    # mosaic: strong local colour variation (red/blue, yellow/cyan patches); a smooth aliasing shell is not
    warm = cv2.blur((fast & (r > b)).astype(np.float32), (15, 15))
    cold = cv2.blur((fast & (b >= r)).astype(np.float32), (15, 15))
    core = fast & ~iso & (np.minimum(warm, cold) >= 0.08)
    jet = cv2.morphologyEx(core.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((7, 7), np.uint8))
    jet = cv2.morphologyEx(jet, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    rim = cv2.dilate(jet, np.ones((7, 7), np.uint8)).astype(bool) & fast & ~iso   # one-sided cells at the edge
    jet = (jet.astype(bool) | rim).astype(np.uint8)
    cs, _ = cv2.findContours(jet, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(jet, cs, -1, 1, -1)                      # a mosaic patch inside the jet is jet
    return jet.astype(bool) & box


def speckle_fraction(colour: np.ndarray, bbox: tuple[int, int, int, int]) -> float:
    """Share of the colour pixels in the colour box's bounding box that are speckle (fewer than half of their 5x5
    neighbourhood coloured): colour over tissue when the colour gain is too high."""
    x0, y0, x1, y1 = bbox
    c = colour[y0:y1, x0:x1]
    iso = c & (_neighbours(c) < 13)
    return float(iso.sum()) / max(float(c.sum()), 1.0)


def _midline_x(rgb: np.ndarray) -> float:
    """x of the sector's midline (the apex column): per row of the middle third, the centre of the longest run of
    image (non-black) pixels after joining gaps of < 41 px; the median over rows (a sector is symmetric about it)."""
    h = rgb.shape[0]
    band = (rgb[h // 3: 2 * h // 3].max(axis=2) > 5).astype(np.uint8)
    band = cv2.morphologyEx(band, cv2.MORPH_CLOSE, np.ones((1, 41), np.uint8))
    centres = []
    for row in band:
        d = np.diff(np.concatenate([[0], row, [0]]).astype(np.int8))
        st, en = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
        if st.size:
            k = int(np.argmax(en - st))
            centres.append((st[k] + en[k] - 1) / 2)
    return float(np.median(centres)) if centres else rgb.shape[1] / 2


def sector_midline_x(rgb: np.ndarray) -> float:
    """The fan's symmetry axis: the middle of the fitted sector's bbox (device.echo.screen.find_sector), else the
    median centre of the image rows."""
    from device.echo.screen import find_sector

    sec = find_sector(rgb)
    return (sec.bbox[0] + sec.bbox[2]) / 2 if sec is not None else _midline_x(rgb)


def _valve_of(view: str, cx: float, mid: float) -> str | None:
    if view == "A4C":
        return "MR" if cx >= mid else "TR"
    if view in ("A5C", "A3C", "PLAX"):
        return "AR"
    if view == "PSAX-AV":
        return "PR" if cx >= mid else "TR"
    return None


def _outline(mask: np.ndarray) -> list[list[int]]:
    cs, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not cs:
        return []
    c = max(cs, key=cv2.contourArea)
    c = cv2.approxPolyDP(c, 1.0, True)
    return [[int(p[0][0]), int(p[0][1])] for p in c]


def _measure(box: np.ndarray, comp: np.ndarray, view: str, valve: str, mmpp: float,
             atrium_mask: np.ndarray | None, outflow_mm: float | None) -> JetRecord:
    ys, xs = np.nonzero(comp)
    pts = np.stack([xs, ys], 1).astype(np.float64)
    c = pts.mean(axis=0)
    _, vecs = np.linalg.eigh(np.cov((pts - c).T))
    u = vecs[:, 1]
    flow = np.asarray(_FLOW[(view, valve)], float)
    if u @ flow < 0:
        u = -u
    s = (pts - c) @ u
    s0 = s.min()
    s = s - s0                               # 0 at the origin
    length = float(s.max())
    prof = np.convolve(np.bincount(np.floor(s).astype(int)).astype(float), np.ones(3) / 3, mode="same")
    notes: list[str] = []
    lo, hi = int(np.ceil(1.0 / mmpp)), int(max(3.0 / mmpp, 0.3 * length))
    origin = c + u * s0
    bys, bxs = np.nonzero(box)
    near = min(origin[0] - bxs.min(), bxs.max() - origin[0], origin[1] - bys.min(), bys.max() - origin[1])
    vc_mm = None
    k_vc = 0
    if length * mmpp < 8:
        notes.append("vena contracta not measurable: jet shorter than 8 mm")
    elif near * mmpp < 2:
        notes.append("vena contracta not measurable: the jet's origin is at the colour box edge")
    elif hi > lo:
        k_vc = lo + int(np.argmin(prof[lo:hi + 1]))
        vc_mm = float(prof[k_vc]) * mmpp
    distal = comp.copy()
    distal[ys[s < k_vc], xs[s < k_vc]] = False
    area_cm2 = float(distal.sum()) * mmpp ** 2 / 100
    n = np.array([-u[1], u[0]])
    p_vc = origin + u * k_vc
    half = (vc_mm or 0) / mmpp / 2
    rec = JetRecord(valve, "", "", {"jet_area_cm2": area_cm2, "vc_mm": vc_mm}, _outline(distal),
                    [[int(round(v)) for v in p_vc - n * half], [int(round(v)) for v in p_vc + n * half]] if vc_mm
                    else [], notes=notes)
    if valve in ("MR", "TR"):
        if atrium_mask is None:
            notes.append("jet/atrium ratio not given: outline the atrium (this reader does not find it)")
        else:
            rec.values["jet_atrium_pct"] = 100 * float(distal.sum()) / max(float(atrium_mask.sum()), 1)  # area / LA
            rec.values["atrium_area_cm2"] = float(atrium_mask.sum()) * mmpp ** 2 / 100
            rec.atrium_outline = _outline(atrium_mask)
    else:
        widths = prof[k_vc: k_vc + int(10 / mmpp) + 1]
        width_mm = float(widths.max()) * mmpp if widths.size else 0.0
        rec.values["jet_width_mm"] = width_mm
        if outflow_mm:
            rec.values["jet_outflow_pct"] = 100 * width_mm / outflow_mm
        else:
            notes.append(f"jet width/{'LVOT' if valve == 'AR' else 'RVOT'} not given: no outflow diameter")
    rec.grade, rec.rule = grade(valve, rec.values)
    if not rec.grade:
        rec.grade, rec.rule = "", rec.rule + " (not graded)"
    return rec


def read_frame(rgb: np.ndarray, mm_per_px: float, view: str, atrium: np.ndarray | None = None,
               outflow_diam_mm: float | None = None) -> JetReading:
    """One RGB frame (H, W, 3) uint8 -> jets, or a refusal with its reason."""
    if view not in VIEWS:
        return JetReading(view, [], f"view {view} carries no regurgitant jet this reader grades; "
                          f"valid: {', '.join(VIEWS)}")
    if not (mm_per_px and 0.01 < mm_per_px < 5):
        return JetReading(view, [], "no pixel size (mm/px): give the frame's calibration")
    rgb = np.ascontiguousarray(rgb[..., :3])
    box, colour = colour_box(rgb)
    if box is None:
        return JetReading(view, [], "no colour box: the frame shows no colour-Doppler flow; give a colour frame")
    ys, xs = np.nonzero(box)
    bbox = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    noise = speckle_fraction(colour, bbox)
    if noise > 0.05:
        return JetReading(view, [], f"colour too noisy: {noise:.0%} of the colour pixels in the colour box are "
                          "isolated speckle (lower the colour gain)", bbox)
    jet = _jet_mask(rgb, box, colour)
    am = None
    if atrium is not None:
        am = atrium.astype(bool) if atrium.ndim == 2 and atrium.shape == jet.shape else None
        if am is None:
            am = np.zeros(jet.shape, np.uint8)
            cv2.fillPoly(am, [np.asarray(atrium, np.int32).reshape(-1, 1, 2)], 1)
            am = am.astype(bool)
    mid = sector_midline_x(rgb)
    n, lab, stats, cents = cv2.connectedComponentsWithStats(jet.astype(np.uint8), connectivity=8)
    best: dict[str, int] = {}
    for i in range(1, n):
        if stats[i, 4] * mm_per_px ** 2 < 10:          # < 0.1 cm2: not a jet
            continue
        v = _valve_of(view, float(cents[i][0]), mid)
        if v is not None and (v not in best or stats[i, 4] > stats[best[v], 4]):
            best[v] = i
    records = [_measure(box, lab == i, view, v, mm_per_px, am, outflow_diam_mm)
               for v, i in best.items()]
    if not records:
        v = _valve_of(view, (bbox[0] + bbox[2]) / 2, mid)
        if v is not None:
            records.append(JetRecord(v, "none", f"{v}: no turbulent (mosaic) jet >= 0.1 cm2 in the colour box "
                                     "-> none", {"jet_area_cm2": 0.0, "vc_mm": None}))
    return JetReading(view, records, None, bbox)


def read_jets(frames: np.ndarray | list[np.ndarray], mm_per_px: float, view: str, atrium: np.ndarray | None = None,
              outflow_diam_mm: float | None = None, max_frames: int = 30) -> JetReading:
    """A frame or a clip: per valve, the frame with the largest jet; refused only when every frame is."""
    seq = [frames] if isinstance(frames, np.ndarray) and frames.ndim == 3 else list(frames)
    if not seq:
        return JetReading(view, [], "no frames")
    idx = np.unique(np.linspace(0, len(seq) - 1, min(max_frames, len(seq))).round().astype(int))
    best: dict[str, JetRecord] = {}
    last: JetReading | None = None
    for k in idx:
        r = read_frame(np.asarray(seq[k]), mm_per_px, view, atrium, outflow_diam_mm)
        if r.refused is None or last is None or last.refused is not None:
            last = r
        for rec in r.records:
            rec.frame_index = int(k)
            old = best.get(rec.valve)
            if old is None or (rec.values.get("jet_area_cm2") or 0) > (old.values.get("jet_area_cm2") or 0):
                best[rec.valve] = rec
    if last is None:                   # not reached: seq is not empty, so idx has at least one frame
        return JetReading(view, [], "no frames")
    if not best:
        return last
    return JetReading(view, list(best.values()), None, last.box)
