"""Read a spectral Doppler screen: envelope, beats and the values of one kind (pure: RGB array in, record out).

Steps: the velocity axis and its labels (``device.echo.doppler_scale``), the time marks, the panel (axis extent x
the baseline line's run), the envelope (per column the outermost velocity whose 5-row mean intensity exceeds the
panel's noise floor + 0.25 of its signal range, median filtered over 7 columns), aliasing unwrap (signal at the flow
side's edge plus a band from the opposite edge: v = edge + (band top - far edge)), waves (runs above 12 % of the
peak), then per kind: mitral E (first peak of a diastole), A (a second wave <= 0.45 s after), DT (line fitted to the
E downslope, extrapolated to 0); TDI e'/a' likewise below the baseline; LVOT/AV/TR: Vmax, VTI (sum of v dt),
gradients 4 v^2 (m/s). Refused (``refused`` set, no values) when a step fails.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.ndimage import median_filter

from device.echo import doppler_scale as ds

METHOD = "doppler-envelope 0.1 (threshold envelope, template digit scale reader)"
KINDS = ("mitral", "tdi-septal", "tdi-lateral", "lvot", "aortic", "tr")
SIDE = {"mitral": 1, "tdi-septal": -1, "tdi-lateral": -1, "lvot": -1, "aortic": -1, "tr": -1}


@dataclass
class DopplerReading:
    kind: str
    values: dict = field(default_factory=dict)
    beats: list = field(default_factory=list)
    calibration: dict = field(default_factory=dict)
    envelope: list = field(default_factory=list)   # (x px, y px) of the traced envelope, for the overlay
    refused: str | None = None
    method: str = METHOD


def _refuse(kind: str, why: str, cal: dict | None = None) -> DopplerReading:
    return DopplerReading(kind=kind, refused=why, calibration=cal or {})


def _envelope(grey: np.ndarray, base: float, r0: int, r1: int, side: int) -> tuple[np.ndarray, np.ndarray]:
    """Per column: outermost row distance (px) from the baseline on ``side`` with signal; and the far-edge band."""
    g = grey.astype(np.float32)
    sm = np.cumsum(np.pad(g, ((2, 2), (0, 0)), mode="edge"), axis=0)
    sm = (sm[5:] - sm[:-5]) / 5.0
    b = int(round(base))
    far = g[r0:r1]
    floor = float(np.percentile(far, 30))
    thr = floor + 0.25 * (float(np.percentile(far, 99.5)) - floor)
    sig = sm[r0:r1 - 1] > thr                        # rows r0..r1-2
    rows = np.arange(r0, r1 - 1)[:, None]
    guard = 4
    if side > 0:
        mask = sig & (rows < b - guard)
        env = np.where(mask.any(0), b - np.argmax(mask, axis=0) - r0, 0).astype(float)
        wrap = sig & (rows > b + guard)
        run = np.argmin(np.vstack([wrap[::-1], np.zeros((1, wrap.shape[1]), bool)]), axis=0)
        wrapped = np.where(run >= 3, run, 0).astype(float)       # rows of signal contiguous with the far edge
    else:
        mask = sig & (rows > b + guard)
        last = (r1 - 2) - np.argmax(mask[::-1], axis=0)
        env = np.where(mask.any(0), last - b, 0).astype(float)
        wrap = sig & (rows < b - guard)
        run = np.argmin(np.vstack([wrap, np.zeros((1, wrap.shape[1]), bool)]), axis=0)
        wrapped = np.where(run >= 3, run, 0).astype(float)
    return env, wrapped


def read_doppler(rgb: np.ndarray, kind: str, ra_pressure_mmhg: float = 8.0) -> DopplerReading:
    """Values of ``kind`` (one of KINDS) from an (H, W, 3) uint8 Doppler screen, or a refusal with the reason."""
    if kind not in KINDS:
        raise ValueError(f"unknown Doppler kind {kind!r}; choose one of {', '.join(KINDS)}")
    grey = np.asarray(rgb).max(axis=2) if np.asarray(rgb).ndim == 3 else np.asarray(rgb)
    ax = ds.find_axis(grey)
    if ax is None:
        return _refuse(kind, "no spectral Doppler panel found (no velocity scale with tick marks); "
                             "give a frozen PW/CW Doppler screen")
    sc = ds.read_scale(grey, ax)
    if sc is None:
        return _refuse(kind, "the velocity scale's labels could not be read (fewer than 2 consistent labels)")
    c, r0, r1, side_ax = ax
    b = int(round(sc["baseline_row"]))
    row = grey[b]
    lit = row > 60
    xs = np.arange(grey.shape[1])
    x0, x1 = (c - 2, c - 2) if side_ax > 0 else (c + 3, c + 3)
    if side_ax > 0:
        while x0 > 0 and lit[x0 - 1:x0 + 1].any():
            x0 -= 1
        x0 += 1
    else:
        while x1 < grey.shape[1] - 1 and lit[x1:x1 + 2].any():
            x1 += 1
    del xs
    x0, x1 = (x0, c - 1) if side_ax > 0 else (c + 2, x1)
    tm = ds.read_time(grey, x0, x1, r0, r1)
    cal = {**sc, "panel": [int(x0), int(r0), int(x1), int(r1)], **(tm or {})}
    if tm is None:
        return _refuse(kind, "no time scale found (no regular time marks along the panel)", cal)
    side = SIDE[kind]
    env_px, wrapped = _envelope(grey[:, x0:x1], sc["baseline_row"], r0, r1, side)
    k = abs(sc["cm_s_per_row"])
    env = env_px * k
    edge_v = abs(sc["v_top_cm_s"] if side > 0 else sc["v_bot_cm_s"])
    far_v = abs(sc["v_bot_cm_s"] if side > 0 else sc["v_top_cm_s"])
    aliased = wrapped > 2
    if aliased.any():
        if np.max(wrapped[aliased]) * k > 0.85 * far_v:
            return _refuse(kind, "aliased envelope that cannot be unwrapped (it wraps back to the baseline); "
                                 "raise the velocity scale or move the baseline", cal)
        env = np.where(aliased, edge_v + wrapped * k, env)
    env = median_filter(env, size=7, mode="nearest")
    cal["aliased_columns"] = int(aliased.sum())
    dt_s = 1.0 / tm["px_per_s"]
    return _measure(kind, env, dt_s, x0, sc["baseline_row"], side, k, ra_pressure_mmhg, cal)


def _waves(env: np.ndarray, dt_s: float) -> list[tuple[int, int]]:
    """(start, end) column runs above 12 % of the 98th-percentile envelope, not touching the panel's ends."""
    thr = 0.12 * float(np.percentile(env, 98))
    on = env > thr
    d = np.diff(np.concatenate([[0], on.astype(np.int8), [0]]))
    runs = list(zip(np.nonzero(d == 1)[0], np.nonzero(d == -1)[0]))
    return [(int(a), int(b)) for a, b in runs if a > 0 and b < len(env) and (b - a) * dt_s > 0.05]


def _measure(kind, env, dt_s, x0, base, side, k, ra, cal) -> DopplerReading:
    runs = _waves(env, dt_s)
    beats: list[dict] = []
    if kind == "mitral" or kind.startswith("tdi"):
        i = 0
        while i < len(runs):
            a, b = runs[i]
            seg = env[a:b]
            pk = a + int(np.argmax(seg[: max(1, int(0.2 / dt_s))]))
            rec = {"peak_s": pk * dt_s, "e": float(env[pk]), "x": pk}
            nxt = runs[i + 1] if i + 1 < len(runs) else None
            if nxt and (nxt[0] - b) * dt_s < 0.45 and (nxt[1] - nxt[0]) < (b - a):
                rec["a"] = float(env[nxt[0]:nxt[1]].max())
                i += 1
            if kind == "mitral":
                tail = env[pk:b]
                stop = int(np.argmax(tail < 0.3 * env[pk])) if (tail < 0.3 * env[pk]).any() else len(tail)
                lo = max(2, int(0.02 / dt_s))
                if stop - lo >= 4:
                    sl, ic = np.polyfit(np.arange(lo, stop) * dt_s, tail[lo:stop], 1)
                    if sl < 0:
                        rec["dt_ms"] = 1000 * (-ic / sl)
            beats.append(rec)
            i += 1
    else:
        for a, b in runs:
            v = env[a:b] / 100.0
            pk = a + int(np.argmax(v))
            beats.append({"peak_s": pk * dt_s, "x": pk, "vmax": float(v.max()), "vti_cm": float(v.sum() * dt_s * 100),
                          "mean_g": float(np.mean(4 * v ** 2))})
    if len(beats) < 2:
        return _refuse(kind, f"too few complete beats ({len(beats)}); record at least 2 (5 in AF)", cal)
    vals: dict = {"n_beats": len(beats)}
    m = lambda key: float(np.mean([x[key] for x in beats if key in x])) if any(key in x for x in beats) else None  # noqa: E731
    if kind == "mitral":
        vals.update(mv_e_cm_s=m("e"), mv_a_cm_s=m("a"), mv_dt_ms=m("dt_ms"))
        if vals["mv_a_cm_s"]:
            vals["mv_e_a_ratio"] = vals["mv_e_cm_s"] / vals["mv_a_cm_s"]
    elif kind.startswith("tdi"):
        site = kind.split("-")[1]
        vals.update({f"e_prime_{site}_cm_s": m("e"), f"a_prime_{site}_cm_s": m("a")})
    else:
        pre = {"lvot": "lvot", "aortic": "av", "tr": "tr"}[kind]
        v = float(np.mean([x["vmax"] for x in beats]))     # every beat of a one-wave trace has its peak
        vals.update({f"{pre}_vmax_m_s": v, f"{pre}_peak_gradient_mmhg": 4 * v ** 2})
        if kind == "tr":
            vals.update(rvsp_mmhg=4 * v ** 2 + ra, ra_pressure_mmhg=ra)
        else:
            vals.update({f"{pre}_vti_cm": m("vti_cm"), f"{pre}_mean_gradient_mmhg": m("mean_g")})
    vals = {a: (round(b, 3) if isinstance(b, float) else b) for a, b in vals.items() if b is not None}
    ys = base - side * env / k
    envelope = [(int(x0 + i), float(y)) for i, y in enumerate(ys)]
    for bt in beats:
        bt["x"] = int(x0 + bt["x"])
    return DopplerReading(kind=kind, values=vals, beats=beats, calibration=cal, envelope=envelope)


def combine(values: list[dict]) -> dict:
    """Merge the values of several screens (one patient) and add E/e': septal, lateral and their average
    (E over the mean of the e' available; ``e_e_prime_avg_ratio`` only when both sites were read)."""
    out: dict = {}
    for v in values:
        out.update({k: x for k, x in v.items() if k != "n_beats"})
    e = out.get("mv_e_cm_s")
    if e:
        for site in ("septal", "lateral"):
            if out.get(f"e_prime_{site}_cm_s"):
                out[f"e_e_prime_{site}_ratio"] = round(e / out[f"e_prime_{site}_cm_s"], 3)
        if out.get("e_prime_septal_cm_s") and out.get("e_prime_lateral_cm_s"):
            out["e_e_prime_avg_ratio"] = round(e / (0.5 * (out["e_prime_septal_cm_s"] + out["e_prime_lateral_cm_s"])), 3)
    return out
