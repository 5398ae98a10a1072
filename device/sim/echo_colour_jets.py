"""Colour-Doppler frames with regurgitant jets of known geometry (issue 14 part 3), composed ON TOP of an unchanged
greyscale view (``device.sim.echo_probe.render_screen`` at the standard pose; the renders that train the view model
are not touched).

``jet_frame(rng, valve=None, target=None, vendor=None)`` -> (RGB screen (H, W, 3) uint8, :class:`JetTruth`).

- valve -> view: MR and TR in A4C (mid-systole), AR in A5C and PR in PSAX-AV (mid-diastole). The jet leaves the
  valve's coaptation point (taken from the scene's leaflet hinges) toward the receiving chamber (LA, RA, LVOT/LV,
  RVOT), up to 15 deg eccentric; MR/TR jets are confined by the atrial wall.
- jet geometry: a proximal flow convergence (PISA) cap on the upstream side, a neck of width = the vena contracta
  for a few mm, a cone widening to the plume width, and an elliptic plume; the jet is a turbulent aliasing mosaic
  (red-yellow / blue-cyan patches of 3-5 px cells, green variance on vendors that show it); laminar low-velocity
  flow fills the
  blood pools of the colour box; colour speckle over tissue (noise); a colour scale bar; a vendor screen layout;
  JPEG and pixel noise.
- vendor colour maps (VELOCITY_MAPS): ge, philips, siemens, mindray (variance green), analogue (8 levels).
- truth: jet area distal to the vena contracta (mm2 from the jet mask), VC (mm), jet/atrium area ratio (MR, TR),
  jet width within 10 mm of the VC / outflow diameter (AR: LVOT 20 mm, PR: RVOT 15 mm), the ASE grade of those
  values (``device.echo.jets_rules.grade``), masks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from device.echo.jets_rules import grade
from device.sim.echo_overlay import OverlayStyle
from device.sim.echo_pose import Pose
from device.sim.echo_probe import random_look, render_screen
from device.sim.echo_render import BModeRenderer, sonosite_geom
from device.sim.echo_vendor import draw_vendor_overlay
from device.sim.echo_views import cardiac_state, scene

VALVE_VIEW = {"MR": "A4C", "TR": "A4C", "AR": "A5C", "PR": "PSAX-AV"}
VELOCITY_MAPS = ("ge", "philips", "siemens", "mindray", "analogue")
OUTFLOW_MM = {"AR": 20.0, "PR": 15.0}
SIZES = ((480, 360), (560, 420), (640, 480))
_NO_OVERLAY = OverlayStyle(text=False, ecg=False, depth_scale=False, menu_bar=False, marker=False)
# target (jet area cm2, VC mm) ranges per intended grade; the truth grade is the ASE rule on the rendered jet
_TARGETS = {"mild": ((0.8, 3.0), (1.5, 2.8)), "moderate": ((3.5, 6.5), (3.5, 6.2)),
            "severe": ((7.0, 11.0), (7.2, 10.0))}


@dataclass(frozen=True)
class JetTruth:
    valve: str
    view: str
    vendor: str
    target: str                    # intended grade ("none": no jet)
    mm_per_px: float
    jet_area_cm2: float
    vc_mm: float
    jet_atrium_pct: float | None
    jet_outflow_pct: float | None
    grade: str
    noisy: bool
    origin_xy: tuple[float, float]
    jet: np.ndarray = field(repr=False)         # (H, W) bool, distal to the VC
    chamber: np.ndarray | None = field(default=None, repr=False)   # receiving atrium (MR, TR)


def velocity_rgb(vendor: str, v: np.ndarray, var: np.ndarray | None = None) -> np.ndarray:
    """(N, 3) float RGB of velocities v in [-1, 1] (fraction of the Nyquist limit, + toward the probe)."""
    a = np.clip(np.abs(v), 0, 1)
    if vendor == "analogue":
        a = np.round(a * 8) / 8
    pos = v >= 0
    hi = np.clip((a - 0.55) / 0.45, 0, 1)
    if vendor == "philips":
        main, sec, ter = 70 + 185 * a, np.clip((a - 0.4) * 1.6, 0, 1) * 225, np.clip((a - 0.8) * 5, 0, 1) * 170
    elif vendor == "siemens":
        main, sec, ter = 105 + 150 * a, hi * 150, np.full_like(a, 20.0)
    else:  # ge, mindray, analogue
        main, sec, ter = 90 + 165 * a, hi * 245, np.zeros_like(a)
    r = np.where(pos, main, ter)
    g = sec
    b = np.where(pos, ter, main)
    if vendor == "mindray" and var is not None:
        g = np.clip(g + 210 * var, 0, 255)
    return np.stack([r, g, b], axis=1)


def _atrium_mask(r: BModeRenderer, shapes, depth_mm: float, centre: tuple[float, float]) -> np.ndarray:
    """The blood shape whose centroid is nearest `centre` (mm), rasterised."""
    blood = [s for s in shapes if s.kind == "blood" and s.closed and s.tag is None]
    best = min(blood, key=lambda s: float(np.hypot(*(s.points.mean(axis=0) - np.asarray(centre)))))
    m = np.zeros((r.geom.height, r.geom.width), np.uint8)
    cv2.fillPoly(m, [np.round(r.mm_to_px(best.points, depth_mm)).astype(np.int32)], 1)
    return m.astype(bool)


def _valve_geometry(valve: str, shapes, c: float) -> tuple[np.ndarray, np.ndarray, tuple[float, float] | None]:
    """(origin mm, unit direction, atrium centre mm or None) from the scene's leaflets."""
    valves = [s for s in shapes if s.kind == "valve"]
    if valve in ("MR", "TR"):
        pair = valves[-2:] if valve == "MR" else valves[:2]
        o = (pair[0].points[0] + pair[1].points[0]) / 2
        centre = (16.0, 139 + 2 * c) if valve == "MR" else (-18.0, 137 + 2 * c)
        d = np.asarray(centre) - o
        return o, d / np.linalg.norm(d), centre
    if valve == "AR":
        o = (valves[2].points[0] + valves[3].points[0]) / 2
        d = np.array([15.0, 70.0]) - o
        return o, d / np.linalg.norm(d), None
    o = np.array([35.0, 72.0])                      # pulmonary valve (PSAX-AV) toward the RVOT
    d = np.array([24.0, 50.0]) - o
    return o, d / np.linalg.norm(d), None


def _half_width(s: np.ndarray, vc: float, neck: float, s_c: float, half_l: float, half_w: float) -> np.ndarray:
    """Half-width (px) of the jet at distance s (px) from the VC along its axis (0 outside the jet)."""
    taper = vc / 2 + (half_w - vc / 2) * np.clip((s - neck) / max(s_c - neck, 1e-6), 0, 1)
    plume = half_w * np.sqrt(np.clip(1 - ((s - s_c) / half_l) ** 2, 0, 1))
    hw = np.where(s <= s_c, np.where(s <= neck, vc / 2, taper), plume)
    return np.where((s >= 0) & (s <= s_c + half_l), hw, 0.0)


def jet_frame(rng: np.random.Generator, valve: str | None = None, target: str | None = None,
              vendor: str | None = None, size: tuple[int, int] | None = None, p_noisy: float = 0.08
              ) -> tuple[np.ndarray, JetTruth]:
    """One colour-Doppler screen with a regurgitant jet (or none) of known geometry, and its truth."""
    valve = valve or ("MR", "MR", "TR", "AR", "PR")[int(rng.integers(0, 5))]
    target = target or ("none", "mild", "moderate", "severe")[int(rng.integers(0, 4))]
    vendor = vendor or VELOCITY_MAPS[int(rng.integers(0, len(VELOCITY_MAPS)))]
    view = VALVE_VIEW[valve]
    w, h = size or SIZES[int(rng.integers(0, len(SIZES)))]
    geom = sonosite_geom(w, h, half_angle_deg=float(rng.uniform(38, 45)))
    r = BModeRenderer(geom, seed=int(rng.integers(0, 1 << 30)))
    phase = 0.2 if valve in ("MR", "TR") else 0.72
    hr = float(rng.uniform(60, 95))
    rgb, t = render_screen(r, view, Pose(), phase * 60 / hr, hr, _NO_OVERLAY, random_look(rng), rng)
    cyc = cardiac_state(phase)
    shapes = scene(view, cyc).shapes
    mmpp, depth = t.mm_per_px, t.depth_mm
    o_mm, u, centre = _valve_geometry(valve, shapes, cyc.c)
    ang = np.radians(rng.uniform(-15, 15))
    u = np.array([u[0] * np.cos(ang) - u[1] * np.sin(ang), u[0] * np.sin(ang) + u[1] * np.cos(ang)])
    o = r.mm_to_px(o_mm[None, :], depth)[0]
    chamber = _atrium_mask(r, shapes, depth, centre) if centre is not None else None
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    s, tt = (xx - o[0]) * u[0] + (yy - o[1]) * u[1], -(xx - o[0]) * u[1] + (yy - o[1]) * u[0]
    grey = rgb[..., 0].astype(np.float32)
    # the colour box: a fan sector around the jet
    th = np.degrees(np.arctan2(xx - geom.apex_xy[0], yy - geom.apex_xy[1]))
    rr = np.hypot(xx - geom.apex_xy[0], yy - geom.apex_xy[1])
    th0 = np.degrees(np.arctan2(o[0] - geom.apex_xy[0], o[1] - geom.apex_xy[1]))
    r_o = float(np.hypot(o[0] - geom.apex_xy[0], o[1] - geom.apex_xy[1]))
    down = u[1] > 0
    r_a, r_b = (r_o - 18 / mmpp, r_o + 48 / mmpp) if down else (r_o - 48 / mmpp, r_o + 18 / mmpp)
    box = (np.abs(th - th0) <= rng.uniform(20, 26)) & (rr >= max(r_a, geom.r0_px)) & (rr <= r_b) & r.fan_mask
    jet = np.zeros((h, w), bool)
    pisa = np.zeros((h, w), bool)
    vc_mm = area = 0.0
    width_mm = 0.0
    if target != "none":
        (a0, a1), (v0, v1) = _TARGETS[target]
        area_px = rng.uniform(a0, a1) * 100 / mmpp ** 2
        vc = rng.uniform(v0, v1) / mmpp
        aspect = rng.uniform(1.5, 2.4)
        half_w = max(np.sqrt(area_px / (np.pi * aspect)), vc * 0.75)
        half_l = half_w * aspect
        neck = rng.uniform(2.0, 4.0) / mmpp
        s_c = neck + rng.uniform(0.6, 1.0) * half_l
        hw = _half_width(s, vc, neck, s_c, half_l, half_w)
        jet = (np.abs(tt) <= hw) & (s >= 0) & box
        if chamber is not None:
            axis = np.round(o[None, :] + np.arange(0, 60 / mmpp)[:, None] * u[None, :]).astype(int)
            inside = [k for k, (x, y) in enumerate(axis) if 0 <= x < w and 0 <= y < h and chamber[y, x]]
            entry = inside[0] if inside else neck        # where the jet's axis enters the atrium
            jet &= cv2.dilate(chamber.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool) | (
                s <= max(neck, entry) + 2 / mmpp)
        pisa = (s < 0) & (np.hypot(s, tt) <= rng.uniform(0.8, 1.4) * vc) & box
        vc_mm = vc * mmpp
        area = float(jet.sum()) * mmpp ** 2 / 100
        width_mm = 2 * float(_half_width(np.linspace(0, 10 / mmpp, 50), vc, neck, s_c, half_l, half_w).max()) * mmpp
    # laminar flow in the blood pools of the box, then the jet mosaic and the PISA aliasing shell
    blood = np.zeros((h, w), np.uint8)
    for sh in shapes:
        if sh.kind == "blood" and sh.closed:
            cv2.fillPoly(blood, [np.round(r.mm_to_px(sh.points, depth)).astype(np.int32)], 1)
    blood = blood.astype(bool) & box & (grey < 90)
    lam = cv2.resize(rng.standard_normal((max(2, h // 30), max(2, w // 30))).astype(np.float32), (w, h),
                     interpolation=cv2.INTER_CUBIC) * 0.12 + (0.12 if not down else -0.12)
    v = np.where(blood, np.clip(lam, -0.25, 0.25), 0.0)
    painted = blood.copy()
    noisy = rng.random() < p_noisy
    speck = box & (rng.random((h, w)) < (rng.uniform(0.25, 0.45) if noisy else rng.uniform(0.0, 0.03)))
    v = np.where(speck & ~blood, rng.uniform(-1, 1, (h, w)), v)
    painted |= speck
    cell = int(rng.integers(3, 6))          # colour-Doppler cells are coarser than B-mode speckle
    small = (w // cell + 1, h // cell + 1)
    block = cv2.resize(rng.random(small[::-1]).astype(np.float32), (w, h), interpolation=cv2.INTER_NEAREST)
    mosaic = np.where(block < 0.5, 1.0, -1.0) * (0.55 + 0.45 * cv2.resize(
        rng.random(small[::-1]).astype(np.float32), (w, h), interpolation=cv2.INTER_NEAREST))
    v = np.where(jet, mosaic, v)
    v = np.where(pisa, (-0.8 if down else 0.8) + 0.1 * rng.standard_normal((h, w)), v)
    painted |= jet | pisa
    var = (jet * rng.uniform(0.3, 0.9, (h, w))).astype(np.float32)
    rgb[painted] = np.clip(velocity_rgb(vendor, v[painted], var[painted]), 0, 255).astype(np.uint8)
    edge = box & ~cv2.erode(box.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    rgb[edge] = (200, 200, 200)
    bar = np.linspace(1, -1, int(0.25 * h))
    x_bar, y_bar = int(0.93 * w), int(0.08 * h)
    rgb[y_bar:y_bar + bar.size, x_bar:x_bar + max(3, w // 80)] = np.clip(
        velocity_rgb(vendor, bar), 0, 255).astype(np.uint8)[:, None, :]
    draw_vendor_overlay(rgb, geom, ("ge", "philips", "siemens", "mindray", "analogue", "plain")[
        int(rng.integers(0, 6))], rng)
    if rng.random() < 0.5:
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                               [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(70, 96))])
        dec = cv2.imdecode(buf, cv2.IMREAD_COLOR) if ok else None
        rgb = cv2.cvtColor(dec, cv2.COLOR_BGR2RGB) if dec is not None else rgb
    if rng.random() < 0.3:
        rgb = np.clip(rgb + rng.normal(0, rng.uniform(1, 4), rgb.shape), 0, 255).astype(np.uint8)
    atrium_pct = 100 * area * 100 / (float(chamber.sum()) * mmpp ** 2) if chamber is not None else None
    outflow_pct = 100 * width_mm / OUTFLOW_MM[valve] if valve in OUTFLOW_MM and target != "none" else None
    vals = {"jet_area_cm2": area, "vc_mm": vc_mm, "jet_atrium_pct": atrium_pct, "jet_outflow_pct": outflow_pct}
    g = grade(valve, vals)[0] if target != "none" else "none"
    return rgb, JetTruth(valve, view, vendor, target, mmpp, area, vc_mm, atrium_pct if target != "none" else None,
                         outflow_pct, g, noisy, (float(o[0]), float(o[1])), jet, chamber)
