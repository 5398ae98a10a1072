"""Apical and PLAX echo clips -> LV measurements (pure given the model).

Apical (A4C or A2C): every frame is segmented and traced; the single-plane disc volume per frame (running median)
gives ED (largest) and ES (smallest); EDV, ESV, SV, EF by the method of discs. Two apical results (A4C + A2C) combine
into biplane volumes with :func:`biplane`.
PLAX: the LV internal dimension per frame gives ED (largest) and ES (smallest); LVIDd, LVIDs, IVSd, LVPWd,
aortic root and LA diameter, FS and Teichholz EF.

Every caller gets the same refusals (issue 12 part 4, issue 13): with the clip's frames, "is this echo?"
(device/echo/validity.py); always, the sonographer's checks on the segmentation (device/lv/validity.py: a plausible
LV on every frame, a beat at a plausible rate with ED/ES one systole apart, a stable long axis, a calibration).
A clip that fails raises :class:`ClipRefused` (an InputError with the reason and the check scores): no values, so
no alert. ED and ES are picked one systole apart (device.lv.validity.pick_ed_es).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from device.errors import InputError
from device.lv import CAVITY
from device.lv.calibration import require_spacing
from device.lv.plax import PlaxLinear, lv_line, lvid_mm, plax_linear
from device.lv.records import LvMeasurement, records_from
from device.lv.segment import grey_frames, segment_echo
from device.lv.validity import ClipTiming, lv_clip_validity
from device.lv.volumes import ApicalTrace, ApicalVolumes, apical_volumes, discs, trace_from_mask, volume_ml

AORTIC_ROOT_METHOD = ("wall peak to wall peak on the ED image, located from the LA segmentation "
                      "(device/lv/aortic_root.py)")
APICAL_VIEWS = ("A4C", "A2C")
VIEWS = (*APICAL_VIEWS, "PLAX")


class ClipRefused(InputError):
    """The clip fails a validity check: no EF or volumes. ``checks``: {"echo": ..., "lv": ...} check records."""

    def __init__(self, message: str, checks: dict[str, Any]):
        super().__init__(message, step="clip validity")
        self.checks = checks


def check_echo(frames, sector_mask: np.ndarray | None = None) -> dict[str, Any]:
    """Refuse (ClipRefused) a clip that is not a B-mode echo cine; returns the check record with the fan mask used
    under "fan_mask" (not JSON) for the LV checks."""
    from device.echo.validity import echo_clip_validity
    ev = echo_clip_validity(frames, sector_mask)
    if not ev.ok:
        raise ClipRefused(ev.reason, {"echo": ev.as_dict()})
    return {"echo": ev.as_dict(), "fan_mask": ev.fan_mask}


def _checked(masks, sp, view: str, curve, frames, fan_mask, timing, echo_checked: bool,
             prior: dict[str, Any] | None) -> tuple[int, int, dict[str, Any]]:
    """Run the echo check (when frames are given and it has not run) and the LV checks; (ED, ES, checks) or
    ClipRefused. ``prior``: checks the caller made already (kept in the result and in a refusal)."""
    checks: dict[str, Any] = dict(prior or {})
    if frames is not None and len(frames) >= 2 and not echo_checked:
        got = check_echo(frames, fan_mask)
        fan_mask = got.pop("fan_mask") if fan_mask is None else fan_mask
        checks |= got
    lv = lv_clip_validity(masks, sp, view=view, curve=curve, fan_mask=fan_mask, timing=timing)
    checks["lv"] = lv.as_dict()
    if not lv.ok:
        raise ClipRefused(lv.reason, checks)
    return lv.ed_frame, lv.es_frame, checks


@dataclass(frozen=True)
class ApicalResult:
    view: str
    volumes: ApicalVolumes
    ed_frame: int
    es_frame: int
    ed_trace: ApicalTrace
    es_trace: ApicalTrace
    volume_curve_ml: tuple[float, ...]       # single-plane volume per frame (nan where untraceable)
    mm_per_px: tuple[float, float]
    model: str
    model_version: str
    checks: dict[str, Any] = field(default_factory=dict, compare=False)   # the validity records it passed

    def records(self) -> list[LvMeasurement]:
        v = self.volumes
        return records_from({"edv_ml": v.edv_ml, "esv_ml": v.esv_ml, "sv_ml": v.sv_ml, "ef_pct": v.ef_pct},
                            view=self.view, model=self.model, model_version=self.model_version,
                            frames=(self.ed_frame, self.es_frame), method=f"method of discs, {v.method}")


@dataclass(frozen=True)
class PlaxResult:
    linear: PlaxLinear
    ed_frame: int
    es_frame: int
    lvid_curve_mm: tuple[float, ...]
    mm_per_px: tuple[float, float]
    model: str
    model_version: str
    checks: dict[str, Any] = field(default_factory=dict, compare=False)

    def records(self) -> list[LvMeasurement]:
        lin = self.linear
        main = {"lvidd_mm": lin.lvidd_mm, "lvids_mm": lin.lvids_mm, "ivsd_mm": lin.ivsd_mm, "lvpwd_mm": lin.lvpwd_mm,
                "la_diameter_mm": lin.la_diameter_mm}
        root = {"aortic_root_mm": lin.aortic_root_mm}
        sec = {"fs_pct": lin.fs_pct, "teichholz_edv_ml": lin.teichholz_edv_ml,
               "teichholz_esv_ml": lin.teichholz_esv_ml, "teichholz_ef_pct": lin.teichholz_ef_pct}
        kw = dict(view="PLAX", model=self.model, model_version=self.model_version,
                  frames=(self.ed_frame, self.es_frame))
        return (records_from(main, method="linear (PLAX)", **kw)
                + records_from(root, method=AORTIC_ROOT_METHOD, **kw)
                + records_from(sec, method="Teichholz / FS", **kw))


def guess_view(masks: np.ndarray) -> str:
    """'apical' or 'PLAX' from the segmentation: an apical LV cavity runs top-down, a PLAX one left-right."""
    votes = []
    for m in masks[:: max(1, len(masks) // 8)]:
        ys, xs = np.nonzero(m == CAVITY)
        if len(xs) < 30:
            continue
        w, v = np.linalg.eigh(np.cov(np.stack([xs, ys]).astype(float)))
        ax = v[:, 1]
        votes.append("apical" if abs(ax[1]) > abs(ax[0]) else "PLAX")
    if not votes:
        raise InputError("no LV cavity was found in this clip; is it an apical or parasternal long-axis view?")
    return max(set(votes), key=votes.count)


def measure_apical(masks: np.ndarray, mm_per_px, view: str, model: str, model_version: str, *,
                   frames=None, fan_mask: np.ndarray | None = None, timing: ClipTiming | None = None,
                   echo_checked: bool = False, checks: dict[str, Any] | None = None) -> ApicalResult:
    """Single-plane volumes from per-frame masks (T, H, W) of an A4C or A2C clip.

    frames: the clip (T, H, W[, 3]) for the "is this echo?" check; fan_mask (H, W) and timing (frame time, heart
    rate) for the LV checks; echo_checked: the caller ran the echo check already, its record in ``checks``. Raises
    ClipRefused when a check fails (device/lv/validity.py)."""
    sp = require_spacing(mm_per_px, "apical volumes")
    vols, traces = [], []
    for m in masks:
        try:
            tr = trace_from_mask(m)
            vols.append(volume_ml(discs(tr, sp)))
            traces.append(tr)
        except InputError:
            vols.append(np.nan)
            traces.append(None)
    v = np.asarray(vols)
    ok = np.isfinite(v)
    if ok.sum() < 2:
        raise InputError("the LV could be traced on fewer than 2 frames of this clip; check the view and image quality")
    ed, es, checks = _checked(masks, sp, view, v, frames, fan_mask, timing, echo_checked, checks)
    if ed == es or traces[ed] is None or traces[es] is None:
        raise ClipRefused("EF not given: the LV volume does not change over the clip; a beating heart is needed",
                          checks)
    vol = apical_volumes(traces[ed], traces[es], sp) if view == "A4C" else \
        apical_volumes(None, None, None, traces[ed], traces[es], sp)
    return ApicalResult(view, vol, ed, es, traces[ed], traces[es], tuple(float(x) for x in v), sp, model, model_version,
                        checks)


def biplane(a4c: ApicalResult, a2c: ApicalResult) -> ApicalVolumes:
    """Biplane EDV/ESV/EF from an A4C and an A2C result (each with its own ED/ES frames and calibration)."""
    return apical_volumes(a4c.ed_trace, a4c.es_trace, a4c.mm_per_px, a2c.ed_trace, a2c.es_trace, a2c.mm_per_px)


def measure_plax(masks: np.ndarray, mm_per_px, model: str, model_version: str,
                 frames: np.ndarray | None = None, *, fan_mask: np.ndarray | None = None,
                 timing: ClipTiming | None = None, echo_checked: bool = False,
                 checks: dict[str, Any] | None = None) -> PlaxResult:
    """PLAX linear measurements from per-frame masks (T, H, W); frames (T, H, W) grey give the aortic root and the
    "is this echo?" check. Raises ClipRefused when a check fails (device/lv/validity.py)."""
    sp = require_spacing(mm_per_px, "PLAX measurements")
    areas = [int((m == CAVITY).sum()) for m in masks]
    if max(areas) < 30:
        raise InputError("no LV cavity was found on any frame of this PLAX clip")
    line = lv_line(masks[int(np.argmax(areas))], sp)
    lvid = []
    for m in masks:
        try:
            v = lvid_mm(m, sp, line)
        except InputError:
            v = None
        lvid.append(np.nan if v is None else v)
    d = np.asarray(lvid)
    if np.isfinite(d).sum() < 1:
        raise InputError("no LV cavity was found on any frame of this PLAX clip")
    ed, es, checks = _checked(masks, sp, "PLAX", d, frames, fan_mask, timing, echo_checked, checks)
    image = None if frames is None else np.asarray(frames[ed])
    lin = plax_linear(masks[ed], masks[es] if es != ed else None, sp, ed_image=image)
    return PlaxResult(lin, ed, es, tuple(float(x) for x in d), sp, model, model_version, checks)


def measure_clip(frames, mm_per_px, model, view: str = "auto", bbox=None, *, timing: ClipTiming | None = None,
                 sector_mask: np.ndarray | None = None) -> ApicalResult | PlaxResult:
    """Check and segment an echo clip (T, H, W[, 3]) and measure it as ``view`` (A4C, A2C, PLAX or auto).

    The "is this echo?" check runs first (nothing is segmented on an MRI, a drawing or noise); then the LV checks.
    auto tells apical from PLAX by the cavity's orientation; an apical clip of unknown type is measured as
    single-plane A4C geometry and labelled "apical" in its records. Raises ClipRefused with the reason.
    """
    sp = require_spacing(mm_per_px, "echo measurements")
    if view not in (*VIEWS, "auto"):
        raise InputError(f"unknown view {view!r}; use one of {', '.join(VIEWS)} or auto")
    echo = check_echo(frames, sector_mask)
    found_fan = echo.pop("fan_mask")
    fan = found_fan if sector_mask is None else sector_mask
    if bbox is None and fan is not None:
        ys, xs = np.nonzero(fan)
        bbox = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    seg = segment_echo(frames, model, bbox)
    masks = seg.masks
    kind = view if view != "auto" else guess_view(masks)
    if kind == "PLAX":
        return measure_plax(masks, sp, seg.model_tag, seg.model_version, grey_frames(frames), fan_mask=fan,
                            timing=timing, echo_checked=True, checks=echo)
    res = measure_apical(masks, sp, "A4C" if kind in ("A4C", "apical") else "A2C", seg.model_tag,
                         seg.model_version, fan_mask=fan, timing=timing, echo_checked=True, checks=echo)
    if kind == "apical":
        res = replace(res, view="apical")
    return res
