"""Heavy randomisation of everything that differs between ultrasound machines, for the view model v2's training data.

`machine_samples(rng, view=None, n_variants=2)` renders one simulated scan (device/sim/echo_probe.render_screen,
no overlays) and returns `n_variants` screens of it, each with its own machine look:
- the 2-D image: gain, time-gain compensation (TGC) curve, dynamic range / gamma, speckle size (blur), harmonic-
  imaging-like smoothing, haze, left-right flip (some labs mirror apical views); with `p_deep` > 0 also imaging
  deeper than the view needs (a smaller heart in the fan) and weak echoes toward a fan edge (faint right heart);
- the geometry (shared by the variants): screen size and aspect, sector width, apex position, fan radius (zoom);
- a colour Doppler box over part of the fan (2-D views keep their label);
- a vendor screen layout (device/sim/echo_vendor.py);
- the capture: cropping of the screen (part of the fan cut off), down/up-scaling, brightness/contrast, noise,
  JPEG compression.
Non-echo pictures (device/sim/echo_nonecho.py) and spectral Doppler / M-mode screens are class OTHER.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from device.sim.echo_nonecho import NON_ECHO_KINDS, non_echo
from device.sim.echo_other import OTHER_KINDS
from device.sim.echo_overlay import OverlayStyle
from device.sim.echo_pose import random_pose
from device.sim.echo_probe import EchoTruth, random_look, render_screen
from device.sim.echo_render import BModeRenderer, SectorGeom
from device.sim.echo_shapes import Warp
from device.sim.echo_vendor import VENDORS, colour_doppler_box, draw_vendor_overlay
from device.sim.echo_views import HEART_VIEWS, cardiac_state, scene

SCREENS = ((320, 240), (320, 240), (400, 300), (400, 300), (420, 300), (480, 360), (512, 384), (560, 420),
           (640, 480))
OTHER_ALL = OTHER_KINDS + NON_ECHO_KINDS
_NO_OVERLAY = OverlayStyle(text=False, ecg=False, depth_scale=False, menu_bar=False, marker=False)


@dataclass(frozen=True)
class MachineInfo:
    """What was randomised for one screen (for per-condition analysis)."""

    vendor: str
    colour: bool
    flipped: bool
    jpeg_quality: int   # 0 = not compressed
    cropped: bool
    kind: str           # "" for heart views, else the OTHER kind


def random_machine_geom(rng: np.random.Generator, size: tuple[int, int]) -> SectorGeom:
    w, h = size
    half = float(rng.uniform(28, 50))
    ay = float(rng.uniform(-0.02, 0.16) * h)
    r0 = float(rng.uniform(0.0, 0.04) * h)
    radius = float(rng.uniform(0.7, 0.97) * (h - ay - 4))
    max_half_w = min(w * 0.49, radius * np.sin(np.radians(half)))
    half = float(np.degrees(np.arcsin(min(0.999, max_half_w / radius))))
    ax = float(rng.uniform(0.42, 0.58) * w)
    ax = float(np.clip(ax, radius * np.sin(np.radians(half)) + 2, w - radius * np.sin(np.radians(half)) - 2))
    return SectorGeom(w, h, (round(ax), round(ay)), r0, round(radius), half)


def _grey_look(grey: np.ndarray, mask: np.ndarray, geom: SectorGeom, rng: np.random.Generator,
               p_lateral: float = 0.0) -> np.ndarray:
    """Gain, TGC, gamma, speckle size, harmonics-like smoothing and haze on the grey image, inside `mask`."""
    g = grey.astype(np.float32) / 255.0
    h, w = g.shape
    if rng.random() < 0.7:  # TGC: a smooth gain curve over depth (rows), +-40 %
        knots = np.exp(rng.uniform(-0.4, 0.4, 4)).astype(np.float32)
        curve = np.interp(np.arange(h), np.linspace(0, h - 1, 4), knots).astype(np.float32)
        g = g * curve[:, None]
    if rng.random() < 0.85:
        g = np.clip(g, 0, None) ** rng.uniform(0.6, 1.5) * rng.uniform(0.65, 1.5)
    if rng.random() < 0.45:  # larger speckle (lower frequency or coarser scan conversion)
        sx, sy = rng.uniform(0.4, 1.8), rng.uniform(0.4, 1.2)
        g = cv2.GaussianBlur(g, (0, 0), sigmaX=sx, sigmaY=sy)
    if rng.random() < 0.3:  # harmonic-like: cleaner blood pools, smoother tissue
        g = cv2.medianBlur(np.clip(g * 255, 0, 255).astype(np.uint8), 3).astype(np.float32) / 255.0
        g = np.clip(g, 0, None) ** 1.3 * 1.15
    if rng.random() < p_lateral:  # weak echoes toward one or both fan edges (a faint right heart or lateral wall)
        ax, ay = geom.apex_xy
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        side = np.degrees(np.arctan2(xx - ax, yy - ay)) / geom.half_angle_deg * rng.choice([-1.0, 1.0])
        floor = rng.uniform(0.25, 0.7)
        g = g * np.clip(1.0 - (1.0 - floor) * np.clip(side * rng.uniform(0.8, 1.6), 0, 1), floor, 1.0)
    if rng.random() < 0.25:  # haze / clutter
        fog = cv2.resize(rng.random((6, 6)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
        g = g + rng.uniform(0.02, 0.12) * np.clip(fog, 0, 1)
    out = np.clip(g * 255, 0, 255).astype(np.uint8)
    return np.where(mask, out, grey)


def _capture(rgb: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, int, bool]:
    """Cropping, rescaling, brightness, noise and JPEG of the captured screen."""
    h, w = rgb.shape[:2]
    cropped = False
    if rng.random() < 0.2:
        fx, fy = rng.uniform(0.75, 0.95), rng.uniform(0.75, 0.95)
        x0, y0 = int(rng.uniform(0, 1 - fx) * w), int(rng.uniform(0, 1 - fy) * h)
        rgb = cv2.resize(rgb[y0:y0 + int(fy * h), x0:x0 + int(fx * w)], (w, h), interpolation=cv2.INTER_LINEAR)
        cropped = True
    if rng.random() < 0.35:
        f = rng.uniform(0.45, 0.9)
        small = cv2.resize(rgb, (max(8, int(w * f)), max(8, int(h * f))), interpolation=cv2.INTER_AREA)
        rgb = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.3:
        rgb = np.clip(rgb.astype(np.float32) * rng.uniform(0.75, 1.25) + rng.uniform(-12, 12), 0, 255).astype(np.uint8)
    if rng.random() < 0.25:
        rgb = np.clip(rgb.astype(np.float32) + rng.normal(0, rng.uniform(1, 6), rgb.shape), 0, 255).astype(np.uint8)
    q = 0
    if rng.random() < 0.6:
        q = int(rng.integers(15, 92))
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, q])
        if ok:
            rgb = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return rgb, q, cropped


def machine_samples(rng: np.random.Generator, view: str | None = None, n_variants: int = 2,
                    p_other: float = 0.15, size: tuple[int, int] | None = None, p_deep: float = 0.0
                    ) -> list[tuple[np.ndarray, EchoTruth, MachineInfo]]:
    """One simulated scan seen through `n_variants` random machines: [(screen RGB (H, W, 3) uint8, truth, info)]."""
    if view is None:
        view = "OTHER" if rng.random() < p_other else HEART_VIEWS[int(rng.integers(0, len(HEART_VIEWS)))]
    w, h = size or SCREENS[int(rng.integers(0, len(SCREENS)))]
    geom = random_machine_geom(rng, (w, h))
    kind = OTHER_ALL[int(rng.integers(0, len(OTHER_ALL)))] if view == "OTHER" else ""
    if kind in NON_ECHO_KINDS:
        out = []
        for _ in range(n_variants):
            img = non_echo(kind, h, w, rng)
            img, q, cr = _capture(img, rng)
            truth = EchoTruth(view="OTHER", quality=0.0, guidance="hold", pose={}, phase=0.0, is_ed=False,
                              is_es=False, hr_bpm=0.0, depth_mm=0.0, mm_per_px=0.0, sector_bbox=(0, 0, w, h),
                              other_kind=kind)
            out.append((img, truth, MachineInfo("none", False, False, q, cr, kind)))
        return out
    r = BModeRenderer(geom, seed=int(rng.integers(0, 1 << 30)))
    warp = Warp.random(rng, scene(view, cardiac_state(0.0)).centre_mm) if view != "OTHER" else None
    shadow = (float(rng.uniform(-40, 40)), float(rng.uniform(3, 8))) if rng.random() < 0.15 else None
    vendor0 = VENDORS[int(rng.integers(0, len(VENDORS)))]
    style = OverlayStyle.random(rng) if vendor0 == "sonosite" else _NO_OVERLAY
    pose = random_pose(rng, 1.0)
    if rng.random() < p_deep:  # imaged deeper than the view needs: a smaller heart high in a wide fan
        pose = replace(pose, depth_rel=float(rng.uniform(0.2, 0.7)))
    rgb0, truth = render_screen(r, view, pose, float(rng.uniform(0, 10)), float(rng.uniform(55, 110)),
                                _NO_OVERLAY, random_look(rng), rng, other_kind=kind or "no_heart", shadow=shadow,
                                breath=float(rng.uniform(-1, 1)), warp=warp)
    grey0 = rgb0[..., 0]
    fan = r.fan_mask if kind not in ("mmode", "doppler") else np.ones_like(r.fan_mask)
    out = []
    for i in range(n_variants):
        vendor = vendor0 if i == 0 else VENDORS[int(rng.integers(0, len(VENDORS)))]
        grey = _grey_look(grey0, fan, geom, rng, p_lateral=0.35 if p_deep > 0 else 0.0)
        g = geom
        flipped = kind not in ("mmode", "doppler") and rng.random() < 0.15
        if flipped:
            grey = np.ascontiguousarray(grey[:, ::-1])
            g = replace(geom, apex_xy=(w - 1 - geom.apex_xy[0], geom.apex_xy[1]))
        rgb = np.repeat(grey[:, :, None], 3, axis=2)
        colour = kind in ("", "no_heart") and rng.random() < 0.3
        if colour:
            colour_doppler_box(rgb, g, rng)
        if vendor == "sonosite":
            from device.sim.echo_overlay import draw_overlay

            draw_overlay(rgb, g, style if i == 0 else OverlayStyle.random(rng), truth.depth_mm, 0.0, truth.hr_bpm or 70,
                         view_hint=style.preset)
        else:
            draw_vendor_overlay(rgb, g, vendor, rng)
        rgb, q, cr = _capture(rgb, rng)
        out.append((rgb, truth, MachineInfo(vendor, colour, flipped, q, cr, kind)))
    return out
