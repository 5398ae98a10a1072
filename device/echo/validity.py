"""Is this an echo clip? A pure check, before any LV analysis (issue 13 Deliver 1, issue 12 part 4).

A B-mode cine from an ultrasound machine has four things an MRI cine, a cartoon, a photo, noise or a blank screen
lack together:

- a fan (sector): a lit region whose width grows from a narrow top (the transducer) downwards;
- speckle: fine, spatially correlated grain over the tissue (grains a few pixels wide), not flat regions and not
  pixel-wise white noise;
- motion: consecutive frames differ (the heart beats), but stay strongly correlated (the same anatomy), unlike noise;
- signal: the fan is not black or a single grey level.

:func:`echo_clip_validity` measures each as a score and refuses with the first failing reason (all failures are
listed). It is independent of the view model; where the caller has the view model, :func:`view_model_says_not_echo`
turns "most frames uncertain or OTHER" into the same kind of refusal.
Thresholds are data (:data:`THRESHOLDS`), each with why it is where it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from device.echo.screen import find_sector, to_grey

# name: (value, why). Measured on simulator clips (device/sim), the real SonoSite A4C and the GDCM PLAX cine, the
# Sunnybrook MR cines and drawn bad inputs; see EVALUATION.md "LV on real echo".
THRESHOLDS: dict[str, tuple[float, str]] = {
    "min_signal_p99": (12.0, "a fan whose 99th percentile is under 12 grey levels is a black or switched-off screen"),
    "min_signal_sd": (3.0, "less than 3 grey levels of spread is a single flat grey (blank frame)"),
    "max_fan_taper": (0.5, "width 10 % below the fan's top over its widest width: a sector is <= ~0.3 (apex at the "
                           "transducer); an MR body oval or a full-screen image is >= 0.6"),
    "min_speckle_frac": (0.35, "share of tissue pixels with a grain (>= 3 grey levels against a 2-px blur, or >= 6 "
                               "against a 4-px blur, after stretching the fan to a 99th percentile of 200): B-mode "
                               "tissue is grainy everywhere (>= 0.37, also at low gain, JPEG q10, 1.5-px "
                               "smoothing); a flat drawing is not (its edges count, hence the peak test below)"),
    "min_speckle_peaks": (0.001, "strict local maxima (grains) per tissue pixel at 0.7- or 1.5-px smoothing: B-mode "
                                 "0.01-0.025, >= 0.002 even at JPEG q10 or 1.5-px smoothing; a drawing has ~0 (its "
                                 "flat areas and edges have no strict peaks), however grainy its edges look"),
    "min_speckle_corr": (0.2, "lag-1 autocorrelation of that grain: speckle grains span several pixels (>= 0.4); "
                              "white noise is not correlated (< 0.1)"),
    "min_moving_pairs": (0.2, "share of consecutive frame pairs that differ (> 0.5 grey level mean): a frozen or "
                              "repeated frame clip has none; machines repeat some frames, so not all need to"),
    "min_temporal_corr": (0.5, "median correlation of consecutive frames in the fan: a live heart stays the same "
                               "anatomy frame to frame (>= 0.7); noise or a slide show of unrelated images does not"),
}
MAX_FRAMES_SAMPLED = 32     # statistics on up to 32 frames spread over the clip (enough; keeps the check ~0.2 s)


@dataclass(frozen=True)
class EchoValidity:
    """ok, the first reason (one line, what went wrong and what to do), all failed check names, and the scores."""

    ok: bool
    reason: str
    failed: tuple[str, ...]
    scores: dict[str, float] = field(default_factory=dict)
    fan_mask: np.ndarray | None = field(default=None, repr=False, compare=False)   # the fan used (H, W) bool

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "reason": self.reason, "failed": list(self.failed),
                "scores": {k: round(float(v), 4) if np.isfinite(v) else None for k, v in self.scores.items()}}


def _t(name: str) -> float:
    return THRESHOLDS[name][0]


def grey_u8(frames) -> np.ndarray:
    """(T, H, W[, 3]) of any numeric dtype -> (T, H, W) uint8; colour pixels (Doppler, ECG, text) dropped to 0.

    Values already in 0..255 are kept as they are; wider ranges (MR, 16-bit) are windowed to their 0.5-99.5 %."""
    a = np.asarray(frames)
    if a.ndim == 2 or (a.ndim == 3 and a.shape[-1] in (3, 4)):    # one grey or one colour frame
        a = a[None]
    if a.ndim == 4 and a.shape[-1] in (3, 4):
        a = a[..., :3]
    elif a.ndim != 3 or a.dtype.kind not in "biuf" or a.size == 0:
        return np.zeros((0, 0, 0), np.uint8)             # not a clip of images: the caller refuses it
    if a.size == 0 or a.dtype.kind not in "biuf":
        return np.zeros((0, 0, 0), np.uint8)
    with np.errstate(over="ignore", invalid="ignore"):
        a = a.astype(np.float32, copy=False)
    finite = np.isfinite(a)
    if not finite.all():
        a = np.where(finite, a, 0.0)
    lo, hi = float(a.min()), float(a.max())
    if lo < 0 or hi > 255:
        lo, hi = (float(v) for v in np.percentile(a, [0.5, 99.5]))
        a = np.clip((a - lo) * (255.0 / max(hi - lo, 1e-6)), 0, 255)
    u8 = a.astype(np.uint8)
    if u8.ndim == 4:
        return np.stack([to_grey(f) for f in u8])
    return u8


def fan_taper(mask: np.ndarray) -> float:
    """Width of the region 10 % of its height below its top, over its widest width (0 = a point, 1 = a box)."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size < 10:
        return 1.0
    widths = mask.sum(axis=1).astype(float)
    top = int(rows[0] + 0.1 * (rows[-1] - rows[0]))
    return float(widths[top] / max(widths.max(), 1.0))


def _speckle(frames: np.ndarray, fan: np.ndarray) -> tuple[float, float, float]:
    """(grain fraction, grain lag-1 autocorrelation, grain peaks per pixel) over the fan's tissue, median over frames.

    Each frame is first stretched so the fan's 99th percentile is 200 (a low-gain clip has the same grain); the grain
    is looked for at two scales (against 2- and 4-px blurs: machines with smoothing or persistence make it coarser)."""
    inner = cv2.erode(fan.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    fracs, corrs, peaks = [], [], []
    for f in frames[:: max(1, len(frames) // 8)]:
        g = f.astype(np.float32)
        if inner.sum() < 200:
            continue
        p99 = float(np.percentile(g[inner], 99))
        if p99 <= 0:
            continue
        g *= 200.0 / p99
        tissue = inner & (cv2.GaussianBlur(g, (0, 0), 4.0) > max(12.0, float(np.percentile(g[inner], 40))))
        if tissue.sum() < 200:
            continue
        hp = g - cv2.GaussianBlur(g, (0, 0), 2.0)
        hp4 = g - cv2.GaussianBlur(g, (0, 0), 4.0)
        grain = max(float((np.abs(hp[tissue]) >= 3.0).mean()), float((np.abs(hp4[tissue]) >= 6.0).mean()))
        ring8 = np.ones((3, 3), np.uint8)
        ring8[1, 1] = 0
        dens = 0.0
        for sig in (0.7, 1.5):          # strict local maxima, one per speckle grain; a drawing's flat areas and
            g1 = cv2.GaussianBlur(g, (0, 0), sig)      # edges have none
            dens = max(dens, float(((g1 > cv2.dilate(g1, ring8) + 0.25) & tissue).sum()) / float(tissue.sum()))
        peaks.append(dens)
        fracs.append(grain)
        t2 = tissue[:, :-1] & tissue[:, 1:]
        t3 = tissue[:-1] & tissue[1:]
        x = np.concatenate([hp[:, :-1][t2], hp[:-1][t3]])
        y = np.concatenate([hp[:, 1:][t2], hp[1:][t3]])
        sx, sy = float(x.std()), float(y.std())
        corrs.append(float(np.mean((x - x.mean()) * (y - y.mean())) / (sx * sy)) if sx > 0 and sy > 0 else 0.0)
    if not fracs:
        return 0.0, 0.0, 0.0
    return float(np.median(fracs)), float(np.median(corrs)), float(np.median(peaks))


def _temporal(frames: np.ndarray, fan: np.ndarray) -> tuple[float, float, float]:
    """(share of consecutive pairs that differ, median consecutive correlation, mean |frame - median frame|)."""
    if len(frames) < 2:
        return 0.0, 0.0, 0.0
    px = frames[:, fan].astype(np.float32)                     # (T, N)
    diffs = np.abs(np.diff(px, axis=0)).mean(axis=1)
    moving = float((diffs > 0.5).mean())
    corrs = []
    for a, b in zip(px[:-1], px[1:]):
        if np.array_equal(a, b):
            continue                                           # a repeated frame says nothing about coherence
        sa, sb = float(a.std()), float(b.std())
        corrs.append(float(np.mean((a - a.mean()) * (b - b.mean())) / (sa * sb)) if sa > 0 and sb > 0 else 0.0)
    motion = float(np.abs(px - np.median(px, axis=0)).mean())
    return moving, float(np.median(corrs)) if corrs else 1.0, motion


def echo_clip_validity(frames, sector_mask: np.ndarray | None = None) -> EchoValidity:
    """Check that ``frames`` (T, H, W[, 3], any numeric dtype) is a B-mode echo cine. Pure; ~0.2 s for 120 frames.

    sector_mask: the fan (H, W) bool when the caller already knows it (e.g. from DICOM regions); found otherwise.
    """
    n_total = len(frames) if np.ndim(frames) >= 3 and not (np.ndim(frames) == 3 and np.shape(frames)[-1] in (3, 4)) \
        else 1
    g = grey_u8(np.asarray(frames)[: MAX_FRAMES_SAMPLED] if n_total > 1 else frames)
    if g.ndim != 3 or g.shape[0] == 0 or min(g.shape[1:]) < 16:
        return EchoValidity(False, f"frames of shape {np.shape(frames)} are not a clip of images; give an echo cine",
                            ("shape",), {})
    run = g      # consecutive frames (the temporal checks need neighbours): the first 32 of the clip
    scores: dict[str, float] = {"n_frames": float(n_total)}
    failed: list[tuple[str, str]] = []
    peak = g[: min(len(g), 8)].max(axis=0)
    scores["signal_p99"] = float(np.percentile(peak, 99))
    scores["signal_sd"] = float(g[: min(len(g), 8)].std())
    if scores["signal_p99"] < _t("min_signal_p99") or scores["signal_sd"] < _t("min_signal_sd"):
        failed.append(("blank", "the frames are blank (black or a single grey level); check that the machine is "
                                "imaging and the video cable is connected"))
        return _result(failed, scores)
    if sector_mask is not None and np.shape(sector_mask) == g.shape[1:] and np.asarray(sector_mask).any():
        fan = np.asarray(sector_mask, bool)
        scores["fan_area_frac"] = float(fan.mean())
    else:
        sector = find_sector(peak)
        if sector is None:
            failed.append(("fan", "no ultrasound fan (sector) was found in the image; this does not look like an "
                                  "echo clip - give a B-mode cine from the echo machine"))
            return _result(failed, scores)
        fan = sector.mask
        scores["fan_area_frac"] = sector.area_frac
    scores["fan_taper"] = fan_taper(fan)
    if scores["fan_taper"] > _t("max_fan_taper"):
        failed.append(("fan", "the image area is not an ultrasound fan (it does not narrow to the transducer); this "
                              "looks like another kind of image (MRI, photo, drawing) - give a B-mode echo cine"))
    scores["speckle_frac"], scores["speckle_corr"], scores["speckle_peaks"] = _speckle(run, fan)
    if scores["speckle_frac"] < _t("min_speckle_frac") or scores["speckle_peaks"] < _t("min_speckle_peaks"):
        failed.append(("speckle", "the image has no ultrasound speckle (flat, drawn-looking regions); give a real "
                                  "B-mode echo cine"))
    elif scores["speckle_corr"] < _t("min_speckle_corr"):
        failed.append(("speckle", "the image texture is pixel noise, not ultrasound speckle; give a real B-mode "
                                  "echo cine"))
    scores["moving_pairs"], scores["temporal_corr"], scores["motion_grey"] = _temporal(run, fan)
    if scores["moving_pairs"] < _t("min_moving_pairs"):
        failed.append(("frozen", "the frames do not change (a frozen or still image); record a live cine over at "
                                 "least one heart beat"))
    elif scores["temporal_corr"] < _t("min_temporal_corr"):
        failed.append(("incoherent", "consecutive frames are unrelated (noise or a slide show, not a beating heart); "
                                     "give a continuous echo cine"))
    return _result(failed, scores, fan)


def _result(failed: list[tuple[str, str]], scores: dict[str, float], fan: np.ndarray | None = None) -> EchoValidity:
    if not failed:
        return EchoValidity(True, "", (), scores, fan)
    return EchoValidity(False, "not an echo clip: " + failed[0][1], tuple(dict.fromkeys(n for n, _ in failed)),
                        scores, fan)


def view_model_says_not_echo(outputs, max_uncertain_frac: float = 0.5) -> str | None:
    """A reason when most frames' view-model outputs (ViewOutput) are uncertain or OTHER, else None.

    More than half the frames uncertain or OTHER: the view model does not see an echo view in this clip (a sonographer
    would not measure on it either)."""
    outs = list(outputs)
    if not outs:
        return None
    bad = sum(1 for o in outs if getattr(o, "uncertain", False) or getattr(o, "view", "") == "OTHER")
    if bad / len(outs) > max_uncertain_frac:
        return (f"not an echo view: the view model is uncertain or sees no cardiac view on {bad} of {len(outs)} "
                "frames; scan a standard view and record again")
    return None
