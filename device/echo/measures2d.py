"""2-D echo measurements beyond the LV (issue 14 part 2): one registry, per view, of pure measurers.

A measurer takes a :class:`Clip2D` (the clip's frames, its calibration, frame rate, fan mask and, when the LV was
measured on the same clip, the LV geometry) and returns :class:`Measure2D` records: a caliper (two points, its value
a distance in mm), a contour (a closed polygon, its value an area in mm2), or a value derived from other records of
the same clip. A value that cannot be measured is a record with ``value=None`` and the reason - never a guess.

:func:`measure_clip` runs every measurer registered for the clip's view and returns the JSON-able detail the store
keeps as a finding of kind ``echo_2d`` (what the exam page draws and the sonographer edits); :func:`apply_edit`
recomputes a caliper or contour from edited points (pure), and re-derives the values that depend on it.

The registry is one explicit table, :data:`MODULES`: each listed module defines ``MEASURERS: dict[str, list[
Measurer]]`` (view -> measurers) and optionally ``DERIVED: dict[str, Callable[[dict[str, float]], dict[str,
float]]]`` (view -> values computed from that view's measured values, e.g. a collapse index from two diameters).
"""

from __future__ import annotations

import importlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any
from collections.abc import Callable

import numpy as np

from device.errors import InputError

VERSION = "1.0.0"
MODEL_NAME = "echo_2d"

# module path -> what it measures; each defines MEASURERS (and optionally DERIVED). Add a line for a new module.
MODULES: tuple[str, ...] = (
    "device.echo.ivc_sc",          # SC-IVC: IVC max / min diameter, collapse, RA pressure
    "device.echo.right_heart",     # A4C: RV basal/mid, TAPSE, RA area/minor, LA area/length; A2C: LA area/length
    "device.echo.septal_motion",   # PLAX: septal motion amplitude (patent 004), from the LV calipers
    "device.echo.aorta",           # PLAX: LVOT, aortic annulus, sinuses, sino-tubular junction, ascending aorta
)

KINDS = ("caliper", "contour", "derived")


@dataclass(frozen=True)
class Clip2D:
    """What a measurer sees. ``frames``: (T, H, W) uint8 grey (colour clips are converted by :func:`measure_clip`);
    ``mm_per_px``: (row, col) mm per pixel; ``fps``: frames per second or None; ``fan_mask``: (H, W) bool or None;
    ``lv``: the LV geometry detail of the same clip (device.lv.geometry) when it was measured, else None."""

    frames: np.ndarray
    mm_per_px: tuple[float, float]
    view: str
    fps: float | None = None
    fan_mask: np.ndarray | None = None
    lv: dict[str, Any] | None = None


@dataclass(frozen=True)
class Measure2D:
    """One measurement: ``name`` with its unit suffix (``rv_basal_mm``, ``ra_area_mm2`` ...); ``value`` or None with
    ``reason``; ``kind`` caliper/contour/derived; ``points`` [x, y] in pixels (2 for a caliper, >= 3 for a contour);
    ``frame`` the frame index the points lie on (a caliper may span two frames: ``frame2`` for its second point,
    e.g. TAPSE's annulus at ED and at ES); ``phase`` a label for the frame ("ed", "es", "max", "min" ...);
    ``method`` what was done, shown beside the value."""

    name: str
    value: float | None
    reason: str = ""
    kind: str = "caliper"
    points: tuple[tuple[float, float], ...] = ()
    frame: int | None = None
    frame2: int | None = None
    phase: str = ""
    method: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


Measurer = Callable[[Clip2D], list[Measure2D]]


def _load() -> tuple[dict[str, list[Measurer]], dict[str, list[Callable[[dict[str, float]], dict[str, float]]]]]:
    measurers: dict[str, list[Measurer]] = {}
    derived: dict[str, list[Callable[[dict[str, float]], dict[str, float]]]] = {}
    for mod_name in MODULES:
        mod = importlib.import_module(mod_name)
        for view, fns in getattr(mod, "MEASURERS", {}).items():
            measurers.setdefault(view, []).extend(fns)
        for view, fn in getattr(mod, "DERIVED", {}).items():
            derived.setdefault(view, []).append(fn)
    return measurers, derived


def views() -> tuple[str, ...]:
    """Views that have at least one 2-D measurer."""
    return tuple(sorted(_load()[0]))


def caliper_mm(points, mm_per_px: tuple[float, float]) -> float:
    """Length of a two-point caliper in mm (anisotropic pixels: rows and columns scaled apart)."""
    p = np.asarray(points, float).reshape(-1, 2)
    if len(p) != 2:
        raise InputError("a caliper needs exactly two points")
    dx, dy = (p[1, 0] - p[0, 0]) * mm_per_px[1], (p[1, 1] - p[0, 1]) * mm_per_px[0]
    return float(np.hypot(dx, dy))


def contour_mm2(points, mm_per_px: tuple[float, float]) -> float:
    """Area of a closed polygon in mm2 (shoelace)."""
    p = np.asarray(points, float).reshape(-1, 2)
    if len(p) < 3:
        raise InputError("a contour needs at least three points")
    x, y = p[:, 0] * mm_per_px[1], p[:, 1] * mm_per_px[0]
    return float(0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def value_of(m: dict[str, Any], mm_per_px: tuple[float, float]) -> float | None:
    """The value of a stored caliper or contour recomputed from its points (None for derived records)."""
    if m.get("value") is None or not m.get("points"):
        return None
    if m["kind"] == "caliper":
        return caliper_mm(m["points"], mm_per_px)
    if m["kind"] == "contour":
        return contour_mm2(m["points"], mm_per_px)
    return None


def _grey(frames: np.ndarray) -> np.ndarray:
    f = np.asarray(frames)
    if f.ndim == 4:
        f = f[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    if f.ndim != 3 or len(f) < 1:
        raise InputError("the clip has no frames of a 2-D image; capture the view again")
    return np.clip(f, 0, 255).astype(np.uint8)


def _derive(view: str, measures: list[dict[str, Any]],
            derived: dict[str, list[Callable[[dict[str, float]], dict[str, float]]]]) -> list[dict[str, Any]]:
    """Drop the old derived records and compute them again from the measured values."""
    kept = [m for m in measures if m["kind"] != "derived"]
    vals = {m["name"]: float(m["value"]) for m in kept if m.get("value") is not None}
    for fn in derived.get(view, []):
        for name, v in fn(vals).items():
            ok = v is not None and np.isfinite(v)
            kept.append(asdict(Measure2D(name, round(float(v), 4) if ok else None,
                                         "" if ok else "its inputs were not measured", kind="derived")))
    return kept


def measure_clip(clip: Clip2D) -> dict[str, Any]:
    """Run the view's measurers; the detail JSON (``status`` "measured" when at least one value came out, else
    "refused" with the reasons). Raises InputError when the view has no 2-D measurer."""
    measurers, derived = _load()
    fns = measurers.get(clip.view)
    if not fns:
        raise InputError(f"no 2-D measurement is defined for a {clip.view or 'unlabelled'} clip")
    grey = _grey(clip.frames)
    c = Clip2D(grey, (float(clip.mm_per_px[0]), float(clip.mm_per_px[1])), clip.view, clip.fps, clip.fan_mask,
               clip.lv)
    records: list[dict[str, Any]] = []
    for fn in fns:
        for m in fn(c):
            if m.kind not in KINDS:
                raise ValueError(f"measurer {fn.__name__} returned kind {m.kind!r}")
            d = asdict(m)
            d["points"] = [[round(float(x), 2), round(float(y), 2)] for x, y in m.points]
            d["value"] = None if m.value is None or not np.isfinite(m.value) else round(float(m.value), 4)
            records.append(d)
    records = _derive(clip.view, records, derived)
    values = {m["name"]: m["value"] for m in records if m["value"] is not None}
    reasons = sorted({m["reason"] for m in records if m["value"] is None and m["reason"]})
    return {"status": "measured" if values else "refused", "reason": "" if values else "; ".join(reasons),
            "view": clip.view, "mm_per_px": list(c.mm_per_px), "image_size": list(grey.shape[1:3]),
            "n_frames": int(len(grey)), "measures": records, "values": values,
            "model_name": MODEL_NAME, "model_version": VERSION}


def apply_edit(detail: dict[str, Any], name: str, points) -> dict[str, Any]:
    """A copy of the detail with one caliper or contour moved to ``points`` (pixels, clipped to the image), its value
    recomputed, and the derived values of the view recomputed (pure). InputError for an unknown or unmeasured name,
    a derived value, or a wrong number of points."""
    new = json.loads(json.dumps(detail))
    rec = next((m for m in new.get("measures", []) if m["name"] == name), None)
    if rec is None:
        raise InputError(f"{name!r} is not a measurement of this clip; reload the page")
    if rec["kind"] == "derived":
        raise InputError(f"{name} is computed from other measurements; edit those instead")
    try:
        arr = np.asarray(points, float).reshape(-1, 2)
    except (TypeError, ValueError):
        raise InputError(f"the {name} points must be [x, y] pairs; reload the page and try again") from None
    want = 2 if rec["kind"] == "caliper" else max(3, len(rec["points"]))
    if (rec["kind"] == "caliper" and len(arr) != 2) or len(arr) < 2 or not np.all(np.isfinite(arr)):
        raise InputError(f"the {name} {rec['kind']} needs {want} finite points; reload the page and try again")
    if rec["kind"] == "contour" and len(arr) < 3:
        raise InputError(f"the {name} contour needs at least three points")
    h, w = detail["image_size"]
    arr[:, 0] = np.clip(arr[:, 0], 0, w - 1)
    arr[:, 1] = np.clip(arr[:, 1], 0, h - 1)
    rec["points"] = [[round(float(x), 2), round(float(y), 2)] for x, y in arr]
    sp = (float(detail["mm_per_px"][0]), float(detail["mm_per_px"][1]))
    v = value_of({**rec, "value": 0.0}, sp)
    if v is None:
        raise InputError(f"the {name} points give no value; reload the page and try again")
    rec["value"] = round(float(v), 4)
    rec["reason"] = ""
    rec["method"] = (rec.get("method") or "") + ("" if "edited" in (rec.get("method") or "") else " (edited)")
    new["measures"] = _derive(detail["view"], new["measures"], _load()[1])
    new["values"] = {m["name"]: m["value"] for m in new["measures"] if m["value"] is not None}
    new["status"] = "measured" if new["values"] else "refused"
    return new
