"""Read a spectral Doppler screen: envelope, beats and the values of one kind (pure: RGB array in, record out).

Steps: the velocity axis and its labels (``device.echo.doppler_scale``), the time marks, the panel (axis extent x
the baseline line's run), the envelope (per column the outermost velocity whose 5-row mean intensity exceeds the
panel's noise floor + 0.25 of its signal range, median filtered over 7 columns), aliasing unwrap (signal at the flow
side's edge plus a band from the opposite edge: v = edge + (band top - far edge)), waves (runs above 12 % of the
peak), then per kind: mitral E (first peak of a diastole), A (a second wave <= 0.45 s after), DT (line fitted to the
E downslope, extrapolated to 0); TDI e'/a' likewise below the baseline; LVOT/AV/TR: Vmax, VTI (sum of v dt),
gradients 4 v^2 (m/s); pulmonary: Vmax, VTI and acceleration time (flow onset, where the envelope falls under 4 %
of the beat's peak walking back from the wave, to the peak). Refused (``refused`` set, no values) when a step fails.

Rhythm: when no separate A (a') waves alternate with E and the intervals between successive E (or e') peaks vary
(coefficient of variation > 0.12: atrial fibrillation or another irregular rhythm), no A (a') is paired and E, DT and e' are averaged over every complete
beat on the screen (``irregular_rhythm`` in the calibration; fewer than 3 beats is refused: record 5-10 in AF).

Kind: given, or detected (``kind=None``) by ``device.echo.doppler_kind`` from the screen's label and the signal.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.ndimage import median_filter

from device.echo import doppler_kind as dk
from device.echo import doppler_scale as ds

METHOD = "doppler-envelope 0.2 (threshold envelope, template digit scale reader, label + signal kind detection)"
KINDS = ("mitral", "tdi-septal", "tdi-lateral", "lvot", "aortic", "tr", "pulmonary")
SIDE = {"mitral": 1, "tdi-septal": -1, "tdi-lateral": -1, "lvot": -1, "aortic": -1, "tr": -1, "pulmonary": -1}
IRREGULAR_CV = 0.12


@dataclass
class DopplerReading:
    kind: str
    values: dict = field(default_factory=dict)
    beats: list = field(default_factory=list)
    calibration: dict = field(default_factory=dict)
    envelope: list = field(default_factory=list)   # (x px, y px) of the traced envelope, for the overlay
    refused: str | None = None
    method: str = METHOD
    kind_source: str = "given"      # "given", "label" or "signal"


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


def _fill(grey: np.ndarray, base: float, env_px: np.ndarray, side: int) -> float:
    """Mean intensity in the middle of the spectrum (20-60 % of the envelope) over that at its edge (85-100 %), over
    columns where the envelope is above half its peak: ~0.2-0.4 for hollow PW, >= 0.5 for filled CW traces."""
    cols: list[int] = [int(c) for c in np.nonzero(env_px > 0.5 * env_px.max())[0]] if env_px.max() > 4 else []
    mid: list[float] = []
    edge: list[float] = []
    for c in cols:
        e = float(env_px[c])
        for lo, hi, acc in ((0.2, 0.6, mid), (0.85, 1.0, edge)):
            rows = (base - side * np.arange(lo * e, hi * e)).astype(int)
            acc.append(float(grey[np.clip(rows, 0, grey.shape[0] - 1), c].mean()))
    return float(np.mean(mid)) / max(float(np.mean(edge)), 1.0) if cols else 0.0


def detect_kind(grey: np.ndarray, cal: dict, x0: int, x1: int) -> dk.KindVerdict:
    """The kind of a calibrated screen: its label (when read) checked against the signal (device.echo.doppler_kind).
    Columns where either side's envelope touches the far edge of the panel (aliasing) do not count."""
    b, r0, r1, k = cal["baseline_row"], cal["top_row"], cal["bottom_row"] + 1, abs(cal["cm_s_per_row"])
    sub = grey[:, x0:x1]
    ep, wp = _envelope(sub, b, r0, r1, 1)
    en, wn = _envelope(sub, b, r0, r1, -1)
    ok = (wp <= 2) & (wn <= 2)
    pos, neg = (ep * k)[ok], (en * k)[ok]
    if len(pos) < 20:
        pos, neg = ep * k, en * k
    side = 1 if np.percentile(pos, 98) >= np.percentile(neg, 98) else -1
    fill = _fill(sub, b, np.where(ok, ep if side > 0 else en, 0), side)
    return dk.decide(dk.read_label(grey, tuple(cal["panel"])), dk.signal_kinds(pos, neg, fill))


def read_doppler(rgb: np.ndarray, kind: str | None = None, ra_pressure_mmhg: float = 8.0) -> DopplerReading:
    """Values of ``kind`` (one of KINDS; None: detected) from an (H, W, 3) uint8 Doppler screen, or a refusal with
    the reason."""
    if kind is not None and kind not in KINDS:
        raise ValueError(f"unknown Doppler kind {kind!r}; choose one of {', '.join(KINDS)}")
    grey = np.asarray(rgb).max(axis=2) if np.asarray(rgb).ndim == 3 else np.asarray(rgb)
    ax = ds.find_axis(grey)
    if ax is None:
        return _refuse(kind or "unknown", "no spectral Doppler panel found (no velocity scale with tick marks); "
                                          "give a frozen PW/CW Doppler screen")
    sc = ds.read_scale(grey, ax)
    if sc is None:
        return _refuse(kind or "unknown", "the velocity scale's labels could not be read (fewer than 2 consistent "
                                          "labels)")
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
        return _refuse(kind or "unknown", "no time scale found (no regular time marks along the panel)", cal)
    source = "given"
    if kind is None:
        v = detect_kind(grey, cal, x0, x1)
        cal.update(kind_label=v.label, kind_label_score=round(v.label_score, 3), kind_signal=list(v.signal_kinds))
        if v.kind is None:
            return _refuse("unknown", f"which Doppler trace this is could not be told: {v.reason}", cal)
        kind, source = v.kind, v.source
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
    systole = None
    if kind.startswith("tdi"):      # s' above the baseline marks each systole: e' follows it, a' precedes the next
        sp, _w = _envelope(grey[:, x0:x1], sc["baseline_row"], r0, r1, 1)
        systole = _waves(median_filter(sp * k, size=7, mode="nearest"), dt_s)
    out = _measure(kind, env, dt_s, x0, sc["baseline_row"], side, k, ra_pressure_mmhg, cal, systole)
    out.kind_source = source
    return out


def _waves(env: np.ndarray, dt_s: float) -> list[tuple[int, int]]:
    """(start, end) column runs above 12 % of the 98th-percentile envelope, not touching the panel's ends."""
    thr = 0.12 * float(np.percentile(env, 98))
    on = env > thr
    d = np.diff(np.concatenate([[0], on.astype(np.int8), [0]]))
    runs = list(zip(np.nonzero(d == 1)[0], np.nonzero(d == -1)[0]))
    return [(int(a), int(b)) for a, b in runs if a > 0 and b < len(env) and (b - a) * dt_s > 0.05]


def _measure(kind, env, dt_s, x0, base, side, k, ra, cal, systole=None) -> DopplerReading:
    runs = _waves(env, dt_s)
    beats: list[dict] = []
    if kind == "mitral" or kind.startswith("tdi"):
        beats = _diastolic(kind, env, runs, dt_s, pair_a=True, systole=systole)
        pks = np.array([b["peak_s"] for b in beats])
        rr = np.diff(pks)
        cv = float(rr.std() / rr.mean()) if len(rr) >= 2 else 0.0
        cal["rr_cv"] = round(cv, 3)
        # separate A waves alternating with E (see _pairs) are sinus rhythm whatever the E-E spread
        cal["irregular_rhythm"] = bool(cv > IRREGULAR_CV and not any(b.get("a_separate") for b in beats))
        if cal["irregular_rhythm"]:
            beats = _diastolic(kind, env, runs, dt_s, pair_a=False)
            if len(beats) < 3:
                return _refuse(kind, f"irregular rhythm with only {len(beats)} complete beats; record 5-10 beats "
                                     "and measure their average", cal)
    else:
        for a, b in runs:
            v = env[a:b] / 100.0
            pk = a + int(np.argmax(v))
            rec = {"peak_s": pk * dt_s, "x": pk, "vmax": float(v.max()), "vti_cm": float(v.sum() * dt_s * 100),
                   "mean_g": float(np.mean(4 * v ** 2))}
            if kind == "pulmonary":      # onset: the rising limb's 20-60 % line extrapolated to zero
                rise = env[a:pk + 1]
                sel = np.nonzero((rise >= 0.2 * env[pk]) & (rise <= 0.6 * env[pk]))[0]
                if len(sel) >= 3 and np.ptp(sel) > 0:
                    sl, ic = np.polyfit(sel * dt_s, rise[sel], 1)
                    if sl > 0:
                        rec["at_ms"] = 1000 * ((pk - a) * dt_s + ic / sl)
            beats.append(rec)
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
    elif kind == "pulmonary":
        vals.update(pv_vmax_m_s=m("vmax"), pv_vti_cm=m("vti_cm"), pv_at_ms=m("at_ms"))
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


def _first_trough(x: np.ndarray, tol: float) -> int:
    """Index where a falling curve stops falling (rises ``tol`` above its running minimum), or len(x)."""
    lo = np.minimum.accumulate(x)
    up = np.nonzero(x > lo + tol)[0]
    return int(np.argmin(x[:up[0]])) if len(up) else len(x)


def _pairs(runs: list[tuple[int, int]], dt_s: float, max_len: float = 0.85) -> list[tuple[int, int | None]]:
    """(E run index, A run index or None). In sinus rhythm with separate A waves the gaps before the runs alternate:
    long before E (systole), short before A (diastasis); an E is a run after a long gap, its A the shorter run
    after it within 0.45 s (and shorter than ``max_len`` x E's run: mitral A is much shorter than E, tissue a' about
as long as e'). A screen without that alternation gives every run as an E."""
    gaps: list[int] = [int(runs[i][0] - runs[i - 1][1]) for i in range(1, len(runs))]
    for parity in (0, 1):                 # E runs at indices of this parity
        big = [g for i, g in enumerate(gaps, 1) if i % 2 == parity]
        small = [g for i, g in enumerate(gaps, 1) if i % 2 != parity]
        if not big or not small or min(big) <= max(small) or \
                float(np.mean(big)) < 1.8 * max(float(np.mean(small)), 1.0):
            continue
        out: list[tuple[int, int | None]] = []
        for i in range(parity, len(runs), 2):
            j = i + 1 if i + 1 < len(runs) else None
            if j is not None and not ((runs[j][1] - runs[j][0]) < max_len * (runs[i][1] - runs[i][0])
                                      and (runs[j][0] - runs[i][1]) * dt_s < 0.45):
                break                     # not an A after all: the alternation does not hold
            out.append((i, j))
        else:
            return out
    return [(i, None) for i in range(len(runs))]


def _by_systole(runs: list[tuple[int, int]], systole: list[tuple[int, int]]) -> list[tuple[int, int | None]] | None:
    """TDI: (e' run, a' run or None) per diastole after an s' wave (``systole``: runs of the other side); e' is the
    first run starting after the s', a' the last run ending before the next s' (after the last s': the runs left
    on the screen; before the first s': a whole e' + a' pair only). None when fewer than two s' waves were found."""
    if len(systole) < 2:
        return None
    out: list[tuple[int, int | None]] = []
    before = [i for i, (a, b) in enumerate(runs) if b <= systole[0][0] + 3]
    if len(before) >= 2:                     # a whole diastole (e' and a') before the first s'
        out.append((before[-2], before[-1]))
    bounds = [(b0, a1) for (_a0, b0), (a1, _b1) in zip(systole, systole[1:])] + [(systole[-1][1], 10 ** 9)]
    for b0, a1 in bounds:                    # the last one: e' (and a' if it began) after the last s'
        inside = [i for i, (a, b) in enumerate(runs) if a >= b0 - 3 and b <= a1 + 3]
        if inside:
            out.append((inside[0], inside[-1] if len(inside) > 1 else None))
    return out


def _first_peak(seg: np.ndarray, tol: float) -> int:
    """Index of the first local maximum of ``seg`` that it falls ``tol`` below afterwards (else the maximum)."""
    hi = np.maximum.accumulate(seg)
    down = np.nonzero(seg < hi - tol)[0]
    return int(np.argmax(seg[:down[0]])) if len(down) else int(np.argmax(seg))


def _diastolic(kind: str, env: np.ndarray, runs: list[tuple[int, int]], dt_s: float, pair_a: bool,
               systole: list[tuple[int, int]] | None = None) -> list[dict]:
    """Beats of a mitral or TDI trace: E (e') at the first peak of a diastole; with ``pair_a`` its A (a') is the
    run paired with it (:func:`_pairs`) or, when E and A are fused in one run, the hump after the E downslope's
    trough; mitral DT from a line fitted to the E downslope (from 20 ms after the peak to 30 % of it or the trough),
    extrapolated to zero."""
    beats: list[dict] = []
    pairs = (_by_systole(runs, systole) if systole is not None else None) or \
        (_pairs(runs, dt_s, 0.85 if kind == "mitral" else 1.3) if pair_a else [(i, None) for i in range(len(runs))])
    if not pair_a:
        pairs = [(i, None) for i, _j in pairs]
    for i, j in pairs:
        a, b = runs[i]
        seg = env[a:b]
        pk = a + _first_peak(seg[: max(1, int(0.25 / dt_s))], 0.1 * float(seg.max()))
        rec = {"peak_s": pk * dt_s, "e": float(env[pk]), "x": pk}
        tail = env[pk:b]
        trough = _first_trough(tail, 0.05 * env[pk])
        if j is not None:
            rec["a"] = float(env[runs[j][0]:runs[j][1]].max())
            rec["a_separate"] = True
        elif pair_a and trough < len(tail) - 3 and (trough * dt_s) >= 0.08:
            later = tail[trough:]         # E and A fused in one run: A is the hump after the E downslope's trough
            if later.max() - tail[trough] > 0.12 * env[pk] and later.max() < 1.6 * env[pk]:
                rec["a"] = float(later.max())
        if kind == "mitral":
            stop = int(np.argmax(tail < 0.3 * env[pk])) if (tail < 0.3 * env[pk]).any() else len(tail)
            stop = min(stop, trough)
            lo = max(2, int(0.02 / dt_s))
            if stop - lo >= 4:
                sl, ic = np.polyfit(np.arange(lo, stop) * dt_s, tail[lo:stop], 1)
                if sl < 0:
                    rec["dt_ms"] = 1000 * (-ic / sl)
        beats.append(rec)
    return beats


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
