"""The simulated echo probe: full machine screens with known view, quality, ideal correction and LV masks.

- `render_screen(...)` makes one RGB screen (H, W, 3) uint8 and its `EchoTruth`.
- `random_sample(rng)` varies screen size, fan, machine look and overlays (training and evaluation data).
- `SimulatedProbe` is a live stream: the probe drifts into each view of a script, holds, and drifts away.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import lru_cache

import numpy as np

from device.sim.echo_other import (
    OTHER_KINDS,
    air,
    doppler,
    lung,
    mmode,
    no_heart,
    not_ultrasound,
)
from device.sim.echo_overlay import OverlayStyle, draw_overlay
from device.sim.echo_pose import Pose, apply_pose, correction, quality, random_pose
from device.sim.echo_render import BModeRenderer, Look, SectorGeom, sonosite_geom
from device.sim.echo_shapes import Warp
from device.sim.echo_views import HEART_VIEWS, LV_VIEWS, cardiac_state, scene

PROTOCOL = ("PLAX", "PSAX-AV", "PSAX-MV", "PSAX-PM", "PSAX-apex", "A4C", "A5C", "A3C", "A2C", "SC4C", "SC-IVC",
            "SSN")


@dataclass(frozen=True)
class EchoTruth:
    """What the simulator knows about one screen.

    view: a VIEWS label; quality: 0..1 (0 for OTHER); guidance: a GUIDANCE label ("hold" for OTHER);
    pose: offsets from the standard view; phase: 0..1 of R-R (0 = ED, 0.38 = ES); is_ed / is_es: this frame is the one
    nearest end-diastole / end-systole of its beat; mm_per_px: pixel size inside the fan; sector_bbox: (x0, y0, x1, y1)
    of the fan in pixels; lv_cavity / lv_myo: (H, W) bool masks (None when the view shows no LV).
    """

    view: str
    quality: float
    guidance: str
    pose: dict[str, float]
    phase: float
    is_ed: bool
    is_es: bool
    hr_bpm: float
    depth_mm: float
    mm_per_px: float
    sector_bbox: tuple[int, int, int, int]
    other_kind: str = ""
    lv_cavity: np.ndarray | None = field(default=None, repr=False)
    lv_myo: np.ndarray | None = field(default=None, repr=False)
    lv_area_mm2: float = 0.0


@lru_cache(maxsize=8)
def _renderer(geom: SectorGeom, seed: int) -> BModeRenderer:
    return BModeRenderer(geom, seed=seed)


def render_screen(r: BModeRenderer, view: str, pose: Pose, t_s: float, hr_bpm: float, style: OverlayStyle,
                  look: Look, rng: np.random.Generator, other_kind: str = "no_heart",
                  frame_dt_s: float = 1 / 30, shadow: tuple[float, float] | None = None,
                  breath: float = 0.0, warp: Warp | None = None) -> tuple[np.ndarray, EchoTruth]:
    """One machine screen (H, W, 3) uint8 RGB of `view` at `pose` and time t_s, plus its truth."""
    g = r.geom
    phase = (t_s * hr_bpm / 60.0) % 1.0
    half = frame_dt_s * hr_bpm / 60.0 / 2
    cav = myo = None
    if view == "OTHER":
        depth_mm = 160.0 * (1 + pose.depth_rel)
        if other_kind == "mmode":
            grey = mmode(g.height, g.width, rng, t_s, hr_bpm)
        elif other_kind == "doppler":
            grey = doppler(g.height, g.width, rng, t_s, hr_bpm)
        elif other_kind == "not_ultrasound":
            grey = not_ultrasound(g.height, g.width, rng)
        else:
            grey = {"no_heart": no_heart, "lung": lung, "air": air}[other_kind](r, rng, depth_mm, look)
        q, guide = 0.0, "hold"
    else:
        sc = scene(view, cardiac_state(phase, breath))
        if warp is not None:  # this patient's anatomy differs from the textbook one
            sc = replace(sc, shapes=tuple(s.moved(warp.apply(s.points)) for s in sc.shapes))
        ps = apply_pose(sc, pose)
        depth_mm = ps.depth_mm
        refl, masks = r.rasterise(ps.shapes, depth_mm)
        grey = r.render(refl, depth_mm, look, ps.haze_near, ps.haze_far, shadow)
        q, guide = quality(pose), correction(pose)
        if view in LV_VIEWS:
            cav, myo = masks["lv_cavity"], masks["lv_myo"]
    rgb = np.repeat(grey[:, :, None], 3, axis=2)
    draw_overlay(rgb, g, style, depth_mm, t_s, hr_bpm, view_hint=style.preset)
    mmpp = g.mm_per_px(depth_mm)
    truth = EchoTruth(view=view, quality=q, guidance=guide, pose=pose.as_dict(), phase=phase,
                      is_ed=min(phase, 1 - phase) < half, is_es=abs(phase - 0.38) < half, hr_bpm=hr_bpm,
                      depth_mm=depth_mm, mm_per_px=mmpp, sector_bbox=g.bbox(), other_kind=other_kind if
                      view == "OTHER" else "", lv_cavity=cav, lv_myo=myo,
                      lv_area_mm2=float(cav.sum() * mmpp * mmpp) if cav is not None else 0.0)
    return rgb, truth


SIZES = ((320, 240), (400, 300), (480, 360), (640, 480))


def random_geom(rng: np.random.Generator, size: tuple[int, int] | None = None) -> SectorGeom:
    w, h = size or SIZES[int(rng.integers(0, len(SIZES)))]
    base = sonosite_geom(w, h, half_angle_deg=float(rng.uniform(36, 46)))
    ax = base.apex_xy[0] + rng.uniform(-0.04, 0.04) * w
    ay = base.apex_xy[1] + rng.uniform(-0.02, 0.03) * h
    rad = base.radius_px * rng.uniform(0.85, 1.02)
    return SectorGeom(w, h, (float(round(ax)), float(round(ay))), base.r0_px, float(round(rad)), base.half_angle_deg)


def random_look(rng: np.random.Generator) -> Look:
    return Look(gain=float(rng.uniform(0.45, 1.15)), dyn_range_db=float(rng.uniform(36, 54)),
                atten_db_cm=float(rng.uniform(0.3, 0.8)), gamma=float(rng.uniform(1.5, 2.4)),
                speckle_persist=0.0)


def random_sample(rng: np.random.Generator, view: str | None = None, size: tuple[int, int] | None = None,
                  pose_spread: float = 1.0, p_other: float = 1 / 13, vary: bool = True) -> tuple[np.ndarray, EchoTruth]:
    """A random screen: any view (or OTHER), pose, phase, machine look, overlays, screen size and (with `vary`)
    anatomy (heart size, orientation, local shape: `Warp.random`)."""
    if view is None:
        view = "OTHER" if rng.random() < p_other else HEART_VIEWS[int(rng.integers(0, len(HEART_VIEWS)))]
    geom = random_geom(rng, size)
    r = _renderer(geom, int(rng.integers(0, 4)))
    pose = random_pose(rng, pose_spread)
    shadow = (float(rng.uniform(-40, 40)), float(rng.uniform(3, 8))) if rng.random() < 0.15 else None
    kind = OTHER_KINDS[int(rng.integers(0, len(OTHER_KINDS)))]
    warp = Warp.random(rng, scene(view, cardiac_state(0.0)).centre_mm) if view != "OTHER" and vary else None
    return render_screen(r, view, pose, float(rng.uniform(0, 10)), float(rng.uniform(55, 110)),
                         OverlayStyle.random(rng), random_look(rng), rng, other_kind=kind, shadow=shadow,
                         breath=float(rng.uniform(-1, 1)), warp=warp)


@dataclass(frozen=True)
class Segment:
    """One part of a probe script: find `view` (offsets shrink over approach_s), hold it, then drift off."""

    view: str
    approach_s: float = 3.0
    hold_s: float = 3.0
    leave_s: float = 1.5
    other_kind: str = "no_heart"

    @property
    def duration_s(self) -> float:
        return self.approach_s + self.hold_s + self.leave_s


class SimulatedProbe:
    """A live simulated probe: call `next()` for consecutive screens at `fps` (time = index / fps).

    The script loops. Start pose and drift are drawn from `seed`, so a run is reproducible.
    """

    def __init__(self, script: tuple[Segment, ...] | None = None, size: tuple[int, int] = (640, 480),
                 fps: float = 30.0, hr_bpm: float = 72.0, seed: int = 0):
        self.script = script or tuple(Segment(v) for v in PROTOCOL)
        self.fps = fps
        self.hr_bpm = hr_bpm
        self.rng = np.random.default_rng(seed)
        self.geom = sonosite_geom(*size)
        self.renderer = BModeRenderer(self.geom, seed=seed)
        self.style = OverlayStyle()
        self.look = Look()
        self.index = 0
        self._seg_i = -1
        self._seg_t0 = 0.0
        self._start = Pose()
        self._end = Pose()
        self._jitter = np.zeros(5)

    def _enter_segment(self, i: int, t0: float) -> None:
        self._seg_i, self._seg_t0 = i, t0
        self._start = random_pose(self.rng, 1.0)
        s = self._start.scaled()
        if np.max(np.abs(s)) < 1.8:  # always start clearly off the view
            s = s / max(np.max(np.abs(s)), 1e-6) * 2.2
            self._start = Pose(*(s * np.array([12.0, 10.0, 8.0, 8.0, 0.18])))
        self._end = random_pose(self.rng, 1.2)

    def pose_at(self, t_s: float) -> tuple[Segment, Pose]:
        total = sum(sg.duration_s for sg in self.script)
        tl = t_s % total
        acc, i = 0.0, 0
        while tl >= acc + self.script[i].duration_s:
            acc += self.script[i].duration_s
            i += 1
        cycle_t0 = t_s - tl + acc
        if i != self._seg_i or abs(cycle_t0 - self._seg_t0) > 1e-6:
            self._enter_segment(i, cycle_t0)
        seg, ts = self.script[i], t_s - self._seg_t0
        s0, s1 = self._start.scaled(), self._end.scaled()
        if ts < seg.approach_s:
            w = 0.02 + 0.98 * 0.5 * (1 + np.cos(np.pi * ts / seg.approach_s))  # eases into the view
            s = s0 * w
        elif ts < seg.approach_s + seg.hold_s:
            s = s0 * 0.02
        else:
            s = s1 * (ts - seg.approach_s - seg.hold_s) / seg.leave_s
        self._jitter = 0.9 * self._jitter + 0.1 * self.rng.normal(0, 0.35, 5)
        s = s + self._jitter
        return seg, Pose(*(s * np.array([12.0, 10.0, 8.0, 8.0, 0.18])))

    def next(self) -> tuple[np.ndarray, EchoTruth]:
        """The next screen (H, W, 3) uint8 RGB and its truth."""
        t_s = self.index / self.fps
        seg, pose = self.pose_at(t_s)
        self.index += 1
        return render_screen(self.renderer, seg.view, pose, t_s, self.hr_bpm, self.style, self.look, self.rng,
                             other_kind=seg.other_kind, frame_dt_s=1 / self.fps)
