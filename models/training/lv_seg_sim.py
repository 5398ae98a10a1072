"""Echo training frames for the LV segmentation model, drawn by the project's echo simulator (device/sim/echo_*).

The simulator tags the LV cavity and myocardium; this module also tags the left atrium and the aortic root of the
apical and PLAX scenes (the blood pools placed where those chambers sit) so the model learns them too.
Every frame: the imaging fan cropped, histogram-equalised and resized to S x S, with labels 0 background,
1 cavity, 2 myocardium, 3 left atrium, 4 aortic root (nearest-neighbour resize).
"""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from device.lv import AORTIC_ROOT, CAVITY, LEFT_ATRIUM, MYOCARDIUM
from device.lv.preprocess import equalise
from device.sim.echo_render import BModeRenderer, Look, sonosite_geom
from device.sim.echo_views import cardiac_state, scene

TRAIN_VIEWS = ("A4C", "A2C", "A3C", "A5C", "PLAX", "PSAX-MV", "PSAX-PM", "PSAX-apex")
TAGS = ("lv_cavity", "lv_myo", "la", "aortic_root")
_CODE = {"lv_cavity": CAVITY, "lv_myo": MYOCARDIUM, "la": LEFT_ATRIUM, "aortic_root": AORTIC_ROOT}


def _centroid(shape) -> np.ndarray:
    return np.asarray(shape.points, float).mean(axis=0)


def _area(shape) -> float:
    p = np.asarray(shape.points, float)
    return 0.5 * abs(float(np.dot(p[:, 0], np.roll(p[:, 1], -1)) - np.dot(p[:, 1], np.roll(p[:, 0], -1))))


def tag_chambers(view: str, shapes) -> list:
    """Add 'la' / 'aortic_root' tags to the blood pools of the LA and aortic root (apical and PLAX views)."""
    shapes = list(shapes)
    cav = [s for s in shapes if s.tag == "lv_cavity"]
    if not cav:
        return shapes
    lv_c = _centroid(cav[0])
    lv_ymax = float(np.asarray(cav[0].points)[:, 1].max())
    blood = [i for i, s in enumerate(shapes) if s.kind == "blood" and s.closed and s.tag is None]
    if view in ("A4C", "A2C", "A3C", "A5C"):
        cands = [i for i in blood if _centroid(shapes[i])[1] > lv_ymax - 5 and abs(_centroid(shapes[i])[0] - lv_c[0]) < 14]
        if cands:
            i = max(cands, key=lambda k: _area(shapes[k]))
            shapes[i] = replace(shapes[i], tag="la")
    elif view == "PLAX":
        la = [i for i in blood if _centroid(shapes[i])[0] > 10 and _centroid(shapes[i])[1] > 80 and _area(shapes[i]) > 400]
        ao = [i for i in blood if _centroid(shapes[i])[0] > 5 and 50 < _centroid(shapes[i])[1] < 80 and _area(shapes[i]) > 300]
        if la:
            shapes[la[0]] = replace(shapes[la[0]], tag="la")
        if ao:
            shapes[ao[0]] = replace(shapes[ao[0]], tag="aortic_root")
    return shapes


def _jitter(shapes, rng: np.random.Generator, centre: tuple[float, float]) -> tuple[list, float]:
    """Probe drift: a small rotation (+-12 deg), shift (+-8 mm) and scale (0.85-1.15) of the whole scene.

    Returns the moved shapes and the scale."""
    ang = np.radians(rng.uniform(-12, 12))
    s = rng.uniform(0.85, 1.15)
    t = rng.uniform(-8, 8, size=2)
    c, si = np.cos(ang), np.sin(ang)
    rot = np.array([[c, -si], [si, c]]) * s
    cen = np.asarray(centre)
    return [sh.moved((np.asarray(sh.points) - cen) @ rot.T + cen + t) for sh in shapes], float(s)


def _render_labelled(renderer: BModeRenderer, shapes, depth: float, rng: np.random.Generator):
    """Render shapes with a random look (gain, dynamic range, attenuation, gamma, haze); (image, label) uint8."""
    refl, masks = renderer.rasterise(shapes, depth, tags=TAGS)
    look = Look(gain=rng.uniform(0.7, 1.4), dyn_range_db=rng.uniform(35, 55), atten_db_cm=rng.uniform(0.3, 0.8),
                gamma=rng.uniform(1.3, 2.1))
    img = renderer.render(refl, depth, look, haze_near=rng.uniform(0, 0.5), haze_far=rng.uniform(0, 0.3))
    label = np.zeros(img.shape, np.uint8)
    for tag in TAGS:
        label[masks[tag]] = _CODE[tag]
    return img, label


def fan_crop(image: np.ndarray, bbox: tuple[int, int, int, int]) -> np.ndarray:
    x0, y0, x1, y1 = bbox
    return image[y0:y1, x0:x1]


def sim_frames(n: int, size: int, seed: int = 0, views=TRAIN_VIEWS) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """n equalised echo frames (n, size, size) uint8, labels (n, size, size) uint8 and their view names."""
    rng = np.random.default_rng(seed)
    geom = sonosite_geom()
    renderer = BModeRenderer(geom, seed=seed)
    xs = np.zeros((n, size, size), np.uint8)
    ys = np.zeros((n, size, size), np.uint8)
    names = []
    for k in range(n):
        view = views[k % len(views)]
        cyc = cardiac_state(rng.uniform(0, 1))
        sc = scene(view, cyc)
        shapes, _ = _jitter(tag_chambers(view, sc.shapes), rng, sc.centre_mm)
        depth = sc.ideal_depth_mm * rng.uniform(0.85, 1.2)
        img, label = _render_labelled(renderer, shapes, depth, rng)
        bbox = geom.bbox()
        crop, lab = fan_crop(img, bbox), fan_crop(label, bbox)
        xs[k] = cv2.resize(equalise(crop) if crop.max() > crop.min() else crop, (size, size),
                           interpolation=cv2.INTER_AREA)
        ys[k] = cv2.resize(lab, (size, size), interpolation=cv2.INTER_NEAREST)
        names.append(view)
    return xs, ys, names


def sim_clip(view: str, n_frames: int = 24, seed: int = 0, depth_scale: float = 1.0):
    """One simulated beat of ``view`` on the SonoSite-like screen, no probe drift.

    Returns (frames (T, 480, 640) uint8, labels (T, 480, 640) uint8, mm_per_px, fan bbox (x0, y0, x1, y1)).
    Frame 0 is end-diastole (R wave).
    """
    geom = sonosite_geom()
    renderer = BModeRenderer(geom, seed=seed)
    frames, labels = [], []
    depth = None
    for k in range(n_frames):
        sc = scene(view, cardiac_state(k / n_frames))
        depth = sc.ideal_depth_mm * depth_scale
        refl, masks = renderer.rasterise(tag_chambers(view, sc.shapes), depth, tags=TAGS)
        frames.append(renderer.render(refl, depth, Look()))
        lab = np.zeros(frames[-1].shape, np.uint8)
        for tag in TAGS:
            lab[masks[tag]] = _CODE[tag]
        labels.append(lab)
    return np.stack(frames), np.stack(labels), geom.mm_per_px(depth), geom.bbox()


# wall thickness of the simulator's aortic root (device/sim/echo_views._plax: wall tube 28 mm, lumen tube 22 mm)
PLAX_ROOT_WALL_MM = (28.0 - 22.0) / 2


def sim_plax_frames(n: int, seed: int = 0):
    """n full-screen PLAX frames with probe drift, random phase, depth and look, for the aortic-root evaluation.

    Returns a list of (frame (480, 640) uint8, labels (480, 640) uint8, mm_per_px, fan bbox, scene scale), where the
    scale is the drift's zoom (the root's true lumen and wall scale with it).
    """
    rng = np.random.default_rng(seed)
    geom = sonosite_geom()
    renderer = BModeRenderer(geom, seed=seed)
    out = []
    for _ in range(n):
        cyc = cardiac_state(rng.uniform(0, 1))
        sc = scene("PLAX", cyc)
        shapes, scale = _jitter(tag_chambers("PLAX", sc.shapes), rng, sc.centre_mm)
        depth = sc.ideal_depth_mm * rng.uniform(0.9, 1.2)
        img, label = _render_labelled(renderer, shapes, depth, rng)
        out.append((img, label, geom.mm_per_px(depth), geom.bbox(), scale))
    return out
