"""Anatomy of each standard echo view as shapes in mm, deformed by the cardiac cycle.

`scene(view, cyc)` returns a `Scene`: shapes drawn in order, the heart centre, the view's long-axis direction on
screen (for "slide toward apex/base"), and the ideal imaging depth. The LV cavity and myocardium carry tags that the
simulator turns into ground-truth masks (for the LV segmentation engineer).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from device.sim.echo_shapes import (
    Shape,
    arc,
    bullet,
    bullet_base,
    ellipse,
    leaflet,
    rotate_about,
    tube,
)

VIEWS: tuple[str, ...] = ("PLAX", "PSAX-AV", "PSAX-MV", "PSAX-PM", "PSAX-apex", "A4C", "A5C", "A3C", "A2C",
                          "SC4C", "SC-IVC", "SSN", "OTHER")
HEART_VIEWS = VIEWS[:-1]
# Views whose image contains the LV cavity (ground-truth masks exist).
LV_VIEWS = ("PLAX", "PSAX-MV", "PSAX-PM", "PSAX-apex", "A4C", "A5C", "A3C", "A2C", "SC4C")


@dataclass(frozen=True)
class Cardiac:
    """State of the cycle: contraction c (0 = end-diastole, 1 = end-systole), valve openings 0..1, breath -1..1."""

    c: float
    mv_open: float
    av_open: float
    breath: float = 0.0


def cardiac_state(phase: float, breath: float = 0.0) -> Cardiac:
    """Cardiac state at phase in [0, 1) of the R-R interval (0 = R wave = end-diastole; ES at 0.38)."""
    p = phase % 1.0
    if p < 0.38:
        c = 0.5 - 0.5 * np.cos(np.pi * p / 0.38)
    elif p < 0.6:
        c = 0.5 + 0.5 * np.cos(np.pi * (p - 0.38) / 0.22)
    elif p > 0.84:
        c = -0.07 * np.sin(np.pi * (p - 0.84) / 0.16)  # atrial kick fills the LV a little more
    else:
        c = 0.0
    av = float(np.clip(np.sin(np.pi * (p - 0.04) / 0.32), 0, 1)) if 0.04 < p < 0.36 else 0.0
    if 0.44 < p < 0.7:
        mv = float(np.sin(np.pi * (p - 0.44) / 0.26))
    elif 0.82 < p < 0.99:
        mv = 0.7 * float(np.sin(np.pi * (p - 0.82) / 0.17))
    else:
        mv = 0.0
    return Cardiac(float(c), mv, av, float(breath))


@dataclass(frozen=True)
class Scene:
    shapes: tuple[Shape, ...]
    centre_mm: tuple[float, float]
    long_axis: tuple[float, float]  # unit vector on screen pointing from base toward apex
    ideal_depth_mm: float


def _lv_long(cx: float, cy: float, ang: float, cyc: Cardiac, a0: float = 17.0, b0: float = 46.0,
             w0: float = 7.0) -> tuple[list[Shape], tuple[np.ndarray, np.ndarray]]:
    """LV along its long axis (apex up): myocardium then cavity; returns shapes and the mitral hinge points."""
    c = cyc.c
    a, b = a0 * (1 - 0.24 * c), b0 * (1 - 0.11 * c)
    shift = b0 - b  # apex stays, base moves toward the apex in systole
    ccy = cy - 0.5 * shift * np.cos(np.radians(ang))
    ccx = cx + 0.5 * shift * np.sin(np.radians(ang))
    w = w0 * (1 + 0.35 * c)
    outer = bullet(ccx, ccy, a + w, b + w * 0.9, ang, base_frac=(0.78 * b) / (b + w * 0.9))
    cav = bullet(ccx, ccy, a, b, ang)
    hinges = bullet_base(ccx, ccy, a, b, ang)
    return [Shape(outer, "myo", tag="lv_myo"), Shape(cav, "blood", tag="lv_cavity")], hinges


def _av_leaflets(h_left: np.ndarray, h_right: np.ndarray, openness: float, toward_deg: float,
                 length: float) -> list[Shape]:
    """A pair of leaflets hinged at h_left/h_right: closed they meet in the middle, open they point toward_deg."""
    mid = (h_left + h_right) / 2
    ang_l = np.degrees(np.arctan2(*(mid - h_left)[::-1]))
    ang_r = np.degrees(np.arctan2(*(mid - h_right)[::-1]))
    al = (1 - openness) * ang_l + openness * toward_deg
    ar = (1 - openness) * ang_r + openness * toward_deg
    if abs(ar - toward_deg) > 180:
        ar -= 360 * np.sign(ar - toward_deg)
    return [Shape(leaflet(tuple(h_left), length, al), "valve", closed=False, thickness_mm=1.6),
            Shape(leaflet(tuple(h_right), length, ar), "valve", closed=False, thickness_mm=1.6)]


def _apical(cyc: Cardiac, kind: str) -> list[Shape]:
    """Apical views (A4C, A5C, A3C, A2C) in the apex-up frame with the sector apex at (0, 0)."""
    c, out = cyc.c, []
    lv_cx = {"A4C": 16.0, "A5C": 15.0, "A3C": 4.0, "A2C": 2.0}[kind]
    lv_ang = {"A4C": -9.0, "A5C": -8.0, "A3C": -4.0, "A2C": 0.0}[kind]
    # pericardium and the atrioventricular groove (bright) behind the heart
    out.append(Shape(ellipse(lv_cx - 2, 112, 48, 62, 0, 80, np.radians(10), np.radians(170)), "bright",
                     closed=False, thickness_mm=3.5))
    if kind in ("A4C", "A5C"):
        rv_a, rv_b = 14.0 * (1 - 0.15 * c), 37.0 * (1 - 0.07 * c)
        out.append(Shape(bullet(-21, 88, rv_a + 4, rv_b + 4, 14, 0.8), "wall"))
        out.append(Shape(bullet(-21, 88, rv_a, rv_b, 14, 0.8), "blood"))
        ra = ellipse(-18, 137 + 2 * c, 16 * (1 + 0.07 * c), 16 * (1 + 0.1 * c), 0)
        out.append(Shape(ellipse(-18, 137 + 2 * c, 17.5 * (1 + 0.07 * c), 17.5 * (1 + 0.1 * c)), "thin_wall"))
        out.append(Shape(ra, "blood"))
    la_x = {"A4C": 16.0, "A5C": 17.0, "A3C": 16.0, "A2C": 3.0}[kind]
    la_a, la_b = 18 * (1 + 0.08 * c), 17 * (1 + 0.1 * c)
    out.append(Shape(ellipse(la_x, 139 + 2 * c, la_a + 1.8, la_b + 1.8), "thin_wall"))
    out.append(Shape(ellipse(la_x, 139 + 2 * c, la_a, la_b), "blood"))
    if kind in ("A4C", "A5C"):  # tricuspid leaflets at the RV base
        tl, tr = np.array([-30.0, 118.0 - 2 * c]), np.array([-7.0, 119.0 - 2 * c])
        out += _av_leaflets(tl, tr, cyc.mv_open, -80, 12)
    lv, (hl, hr) = _lv_long(lv_cx, 80, lv_ang, cyc)
    out += lv
    if kind in ("A5C", "A3C"):  # LVOT and aortic root leaving the LV base toward the screen left
        root = np.array([[hl[0] + 6, hl[1] - 12], [hl[0] - 2, hl[1] + 8], [hl[0] - 10, hl[1] + 30]])
        out.append(Shape(tube(root, 27), "wall"))
        out.append(Shape(tube(root, 20), "blood"))
        ah = root[1] + np.array([-9.0, 2.0]), root[1] + np.array([9.0, -2.0])
        out += _av_leaflets(ah[0], ah[1], cyc.av_open, 110, 9)
    out += _av_leaflets(hl, hr, cyc.mv_open, -95, 15)  # mitral leaflets open toward the apex
    return out


def _plax(cyc: Cardiac) -> list[Shape]:
    c, out = cyc.c, []
    out.append(Shape(np.array([[-70, 24], [60, 20]]), "wall", closed=False, thickness_mm=5))  # RV free wall
    out.append(Shape(ellipse(-8, 37, 52, 10 * (1 - 0.1 * c), -3), "blood"))  # RV cavity
    lv_b = 17 * (1 - 0.3 * c)
    sept = 10 * (1 + 0.35 * c)
    out.append(Shape(ellipse(-18, 74, 44 + 10, lv_b + sept, -4), "myo", tag="lv_myo"))
    out.append(Shape(ellipse(-18, 74, 44 * (1 - 0.08 * c), lv_b, -4), "blood", tag="lv_cavity"))
    out.append(Shape(ellipse(38, 98, 19 * (1 + 0.08 * c), 15 * (1 + 0.1 * c)), "blood"))  # LA
    root = np.array([[8, 66], [30, 60], [60, 58]])
    out.append(Shape(tube(root, 28), "wall"))
    out.append(Shape(tube(root, 22), "blood"))  # aortic root
    out += _av_leaflets(np.array([24.0, 50.0]), np.array([24.0, 72.0]), cyc.av_open, 0, 10)
    out += _av_leaflets(np.array([14.0, 78.0]), np.array([20.0, 90.0]), cyc.mv_open, 185, 17)
    out.append(Shape(ellipse(34, 124, 7, 7), "blood"))  # descending aorta
    out.append(Shape(arc(-5, 20, 100, 55, 105), "bright", closed=False, thickness_mm=4))  # pericardium
    return out


def _psax(cyc: Cardiac, level: str) -> list[Shape]:
    c, out = cyc.c, []
    if level == "AV":
        out.append(Shape(tube(np.array(arc(0, 72, 34, 195, 350)), 15), "blood"))  # RVOT wrapping around
        out.append(Shape(tube(np.array([[33, 64], [40, 82], [44, 100]]), 16), "blood"))  # pulmonary artery
        out.append(Shape(ellipse(6, 108, 23 * (1 + 0.08 * c), 14 * (1 + 0.1 * c)), "blood"))  # LA
        out.append(Shape(ellipse(-28, 96, 15, 15), "blood"))  # RA
        out.append(Shape(ellipse(0, 72, 17, 17), "wall"))
        out.append(Shape(ellipse(0, 72, 13, 13), "blood"))  # aortic valve orifice
        o = cyc.av_open
        for k in range(3):  # Mercedes sign when closed, an open triangle in systole
            a = np.radians(90 + 120 * k)
            edge = np.array([13 * np.cos(a), 13 * np.sin(a)]) + [0, 72]
            tip = np.array([0.0, 72.0]) + (edge - [0.0, 72.0]) * 0.7 * o  # cusps retract when open
            out.append(Shape(np.stack([edge, (edge + tip) / 2, tip]), "valve", closed=False,
                             thickness_mm=1.4))
        out.append(Shape(np.array([[32, 70], [38, 74]]), "valve", closed=False, thickness_mm=1.4))
        return out
    r_cav = {"MV": 25.0, "PM": 22.0, "apex": 13.0}[level] * (1 - 0.28 * c)
    w = {"MV": 8.5, "PM": 9.5, "apex": 10.0}[level] * (1 + 0.4 * c)
    cy = 84.0
    if level != "apex":
        out.append(Shape(ellipse(-16, cy - 28, 34, 15, -18), "blood"))  # RV crescent
    out.append(Shape(ellipse(0, cy, r_cav + w, r_cav + w), "myo", tag="lv_myo"))
    out.append(Shape(ellipse(0, cy, r_cav, r_cav * 0.97), "blood", tag="lv_cavity"))
    if level == "MV":  # fish mouth: anterior and posterior leaflets
        gap = 2 + 8 * cyc.mv_open
        out.append(Shape(ellipse(0, cy - gap / 2, r_cav * 0.75, 5, 0, 30, np.pi * 1.1, np.pi * 1.9), "valve",
                         closed=False, thickness_mm=1.6))
        out.append(Shape(ellipse(0, cy + gap / 2, r_cav * 0.75, 5, 0, 30, np.pi * 0.1, np.pi * 0.9), "valve",
                         closed=False, thickness_mm=1.6))
    elif level == "PM":
        for ang in (40, 140):
            a = np.radians(ang)
            rp = 4.5 * (1 + 0.3 * c)
            out.append(Shape(ellipse((r_cav - rp * 0.6) * np.cos(a), cy + (r_cav - rp * 0.6) * np.sin(a), rp, rp),
                             "papillary", tag="lv_myo"))
    out.append(Shape(arc(0, cy, r_cav + w + 9, 20, 160), "bright", closed=False, thickness_mm=3))
    return out


def _subcostal_4c(cyc: Cardiac) -> list[Shape]:
    """Subcostal four-chamber: liver in the near field, the four chambers turned so the RV lies nearest."""
    liver = [Shape(ellipse(-30, 40, 95, 60, 15), "liver")]
    for x, y, r in ((-40, 45, 5), (-15, 30, 4), (-55, 75, 6)):
        liver.append(Shape(ellipse(x, y, r, r), "blood"))  # hepatic vessels
    heart = _apical(cyc, "A4C")
    moved = [s.moved(rotate_about(s.points, (0, 100), 78) + np.array([18.0, 35.0])) for s in heart]
    return liver + moved


def _subcostal_ivc(cyc: Cardiac) -> list[Shape]:
    w = 19 - 7 * (cyc.breath + 1) / 2  # IVC narrows on inspiration
    out = [Shape(ellipse(-10, 70, 110, 85, 8), "liver")]
    for x, y, r in ((-45, 40, 5), (20, 35, 4), (-60, 110, 5)):
        out.append(Shape(ellipse(x, y, r, r), "blood"))
    ivc = np.array([[-75, 108], [-40, 103], [-5, 99], [25, 94]])
    out.append(Shape(tube(ivc, w + 4), "wall"))
    out.append(Shape(tube(ivc, w), "blood"))
    out.append(Shape(tube(np.array([[-25, 55], [-12, 80], [-6, 98]]), 8), "blood"))  # hepatic vein
    out.append(Shape(ellipse(48, 88, 24 * (1 + 0.08 * cyc.c), 20), "blood"))  # RA
    out.append(Shape(arc(-10, 40, 95, 30, 150), "bright", closed=False, thickness_mm=3.5))  # diaphragm
    return out


def _ssn(cyc: Cardiac) -> list[Shape]:
    pulse = 1 + 0.06 * cyc.av_open
    arch = arc(0, 78, 34, 175, 365, 60)
    out = [Shape(tube(arch, 22 * pulse), "wall"), Shape(tube(arch, 17 * pulse), "blood")]
    for x0, ang in ((-16, -100), (-2, -92), (12, -80)):
        a = np.radians(ang)
        p0 = np.array([x0, 78 - np.sqrt(max(34 ** 2 - x0 ** 2, 0))])
        out.append(Shape(tube(np.stack([p0, p0 + 28 * np.array([np.cos(a), np.sin(a)])]), 6), "blood"))
    out.append(Shape(ellipse(0, 88, 11, 9), "wall"))
    out.append(Shape(ellipse(0, 88, 9, 7), "blood"))  # right pulmonary artery
    return out


APICAL_STYLES = ("v2.1", "screen")
_APICAL_STYLE = ["v2.1"]


def set_apical_style(style: str) -> None:
    """Process-wide apical look: 'v2.1' (the 2.1.0 recipe) or 'screen' (smaller heart, thin faint walls, deeper fan)."""
    if style not in APICAL_STYLES:
        raise ValueError(f"unknown apical style '{style}'; valid: {', '.join(APICAL_STYLES)}")
    _APICAL_STYLE[0] = style


def _apical_screen(cyc: Cardiac, kind: str, scale: float = 0.72) -> list[Shape]:
    """The same apical layout as `_apical`, shrunk toward the sector apex into the upper-middle of a deeper fan,
    with thin walls: ventricle walls become thin lines, the right heart faint, the pericardium stays the brightest."""
    out = []
    for s in _apical(cyc, kind):
        pts = s.points * scale + np.array([0.0, 14.0])
        kind_ = {"myo": "thin_wall", "wall": "thin_wall"}.get(s.kind, s.kind)
        out.append(replace(s, points=pts, kind=kind_, thickness_mm=max(1.0, s.thickness_mm * scale)))
    return out


def scene(view: str, cyc: Cardiac) -> Scene:
    """Shapes of `view` (a name in HEART_VIEWS) at cardiac state `cyc`."""
    if view in ("A4C", "A5C", "A3C", "A2C"):
        if _APICAL_STYLE[0] == "screen":  # same geometry for all four apical views (no 'new look = A4C')
            return Scene(tuple(_apical_screen(cyc, view)), (4.0, 82.0), (0.0, -1.0), 190.0)
        return Scene(tuple(_apical(cyc, view)), (6.0, 95.0), (0.0, -1.0), 160.0)
    if view == "PLAX":
        return Scene(tuple(_plax(cyc)), (0.0, 75.0), (-1.0, 0.0), 150.0)
    if view.startswith("PSAX-"):
        level = view.split("-", 1)[1]
        return Scene(tuple(_psax(cyc, level)), (0.0, 82.0), (0.0, -1.0), 130.0)
    if view == "SC4C":
        return Scene(tuple(_subcostal_4c(cyc)), (18.0, 135.0), (1.0, -0.2), 190.0)
    if view == "SC-IVC":
        return Scene(tuple(_subcostal_ivc(cyc)), (0.0, 95.0), (1.0, 0.0), 170.0)
    if view == "SSN":
        return Scene(tuple(_ssn(cyc)), (0.0, 75.0), (0.0, -1.0), 130.0)
    raise KeyError(f"unknown view '{view}'; valid: {', '.join(HEART_VIEWS)}")
