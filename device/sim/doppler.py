"""Spectral Doppler screens with known truth: the flow velocity envelopes and what they should measure, per beat.

Pure numpy, seeded. ``simulate(kind, seed)`` returns a :class:`DopplerScreen`: an RGB screen (drawn by
``device.sim.doppler_render`` in one of three vendor-like layouts) and its truth.

Kinds and their waves (velocities in cm/s, signed: + toward the probe, above the baseline):
- ``mitral`` (PW, apical): E (half-cosine rise over the acceleration time, then a straight deceleration that reaches
  zero after DT) and A (a hump riding on what is left of E); in AF there is no A and the RR is irregular.
- ``tdi-septal`` / ``tdi-lateral`` (PW tissue Doppler of the annulus): s' above, e' and a' below the baseline.
- ``lvot`` (PW, apical 5-chamber) and ``aortic`` (CW): ejection below the baseline, an asymmetric hump; VTI and the
  mean gradient are integrated from the noise-free envelope on a 1-ms grid.
- ``tr`` (CW): tricuspid regurgitation below the baseline, a rounded holosystolic hump; RVSP = 4 Vmax^2 + RA pressure.
- ``pulmonary`` (PW, PSAX at the pulmonic valve): ejection below the baseline, peak after the acceleration time (AT,
  70-180 ms: short in pulmonary hypertension), truth ``pv_vmax_m_s``, ``pv_at_ms`` (flow onset to peak), ``pv_vti_cm``.

Truth is given per beat for beats whose waves lie wholly inside the panel, and per screen as their mean (E/A as the
ratio of the means, as the reader does). Respiratory variation scales each beat's peaks by 1 + r sin(2 pi t / T_resp).
``alias`` lowers the Nyquist limit (PW) below the peak so that the envelope wraps to the other edge of the panel.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

KINDS = ("mitral", "tdi-septal", "tdi-lateral", "lvot", "aortic", "tr", "pulmonary")
MODE = {"mitral": "PW", "tdi-septal": "TDI", "tdi-lateral": "TDI", "lvot": "PW", "aortic": "CW", "tr": "CW",
        "pulmonary": "PW"}
UNITS = {"mitral": "cm/s", "tdi-septal": "cm/s", "tdi-lateral": "cm/s", "lvot": "cm/s", "aortic": "m/s", "tr": "m/s",
         "pulmonary": "cm/s"}


@dataclass
class Wave:
    """One flow wave of one beat: a signed velocity function (cm/s) on [onset_s, end_s]."""

    name: str
    onset_s: float
    end_s: float
    fn: object  # callable(t: ndarray) -> ndarray cm/s (0 outside the wave)


@dataclass
class DopplerScreen:
    rgb: np.ndarray                 # (H, W, 3) uint8
    kind: str
    truth: dict                     # screen values (units in names), mean over complete beats
    beats: list[dict]               # per complete beat: times (s from panel left) and values
    params: dict = field(default_factory=dict)  # layout, scale, sweep, noise, rhythm: what the reader should find


def _rise_fall(t: np.ndarray, on: float, pk: float, end: float, vmax: float) -> np.ndarray:
    """Asymmetric hump: quarter-sine rise to ``vmax`` at ``pk``, quarter-cosine fall to 0 at ``end``."""
    out = np.zeros_like(t)
    a = (t >= on) & (t < pk)
    out[a] = np.sin(0.5 * np.pi * (t[a] - on) / (pk - on))
    b = (t >= pk) & (t < end)
    out[b] = np.cos(0.5 * np.pi * (t[b] - pk) / (end - pk))
    return vmax * out


def _e_wave(t: np.ndarray, on: float, at: float, dt: float, vmax: float) -> np.ndarray:
    out = np.zeros_like(t)
    a = (t >= on) & (t < on + at)
    out[a] = 0.5 * (1 - np.cos(np.pi * (t[a] - on) / at))
    b = (t >= on + at) & (t < on + at + dt)
    out[b] = 1 - (t[b] - on - at) / dt
    return vmax * out


def _tr_wave(t: np.ndarray, on: float, dur: float, vmax: float) -> np.ndarray:
    out = np.zeros_like(t)
    a = (t >= on) & (t < on + dur)
    out[a] = np.sin(np.pi * (t[a] - on) / dur) ** 0.55
    return vmax * out


def r_times(rng: np.random.Generator, dur_s: float, af: bool) -> tuple[np.ndarray, float]:
    """R-wave times from -2 s to dur_s + 1.5 s: sinus (HR 48-80, 2 % jitter) or AF (RR 0.45-1.15 s at random)."""
    rr0 = float(rng.uniform(0.75, 1.25))
    t, out = -2.0 + float(rng.uniform(0, 0.8)), []
    while t < dur_s + 1.5:
        out.append(t)
        t += float(rng.uniform(0.45, 1.15)) if af else rr0 * (1 + 0.02 * float(rng.standard_normal()))
    return np.asarray(out), rr0


def make_waves(kind: str, rng: np.random.Generator, r: np.ndarray, af: bool, resp) -> tuple[list[list[Wave]], dict]:
    """Per beat (R to next R) the waves of ``kind`` and the screen-level parameters drawn for it."""
    p: dict = {}
    beats: list[list[Wave]] = []
    if kind == "mitral":
        p.update(e=float(rng.uniform(50, 120)), ea=float(rng.uniform(0.6, 2.2)), dt=float(rng.uniform(0.14, 0.26)),
                 at=float(rng.uniform(0.08, 0.11)))
    elif kind.startswith("tdi"):
        lo, hi = (4.0, 12.0) if kind == "tdi-septal" else (6.0, 16.0)
        p.update(e=float(rng.uniform(lo, hi)), a=float(rng.uniform(5, 12)), s=float(rng.uniform(5, 12)))
    elif kind == "lvot":
        p.update(v=float(rng.uniform(70, 140)), pk=float(rng.uniform(0.28, 0.38)))
    elif kind == "aortic":
        v = float(rng.uniform(100, 500))
        p.update(v=v, pk=0.28 + 0.17 * (v - 100) / 400)
    elif kind == "tr":
        p.update(v=float(rng.uniform(180, 450)))
    elif kind == "pulmonary":
        p.update(v=float(rng.uniform(60, 130)), at=float(rng.uniform(0.07, 0.18)))
    for i in range(len(r) - 1):
        t0, rr = float(r[i]), float(r[i + 1] - r[i])
        f = resp(t0)
        w: list[Wave] = []
        e_on = t0 + 0.36 + 0.1 * min(rr, 1.2)
        if kind == "mitral":
            e = p["e"] * f * ((0.8 + 0.35 * (min(rr, 1.1) - 0.45) / 0.65) if af else 1.0)
            at, dt = p["at"], p["dt"] * float(rng.uniform(0.97, 1.03))
            w.append(Wave("E", e_on, e_on + at + dt, lambda t, a=e_on, b=at, c=dt, v=e: _e_wave(t, a, b, c, v)))
            if not af:
                a_on = t0 + rr - 0.16
                av = e / p["ea"]  # A carries E's respiratory factor
                w.append(Wave("A", a_on, a_on + 0.14, lambda t, a=a_on, v=av: _rise_fall(t, a, a + 0.06, a + 0.14, v)))
        elif kind.startswith("tdi"):
            s_on = t0 + 0.08
            w.append(Wave("s'", s_on, s_on + 0.24,
                          lambda t, a=s_on, v=p["s"] * f: _rise_fall(t, a, a + 0.08, a + 0.24, v)))
            eo = e_on - 0.01
            ev = p["e"] * f * ((0.85 + 0.3 * (min(rr, 1.1) - 0.45) / 0.65) if af else 1.0)
            w.append(Wave("e'", eo, eo + 0.16, lambda t, a=eo, v=-ev: _rise_fall(t, a, a + 0.06, a + 0.16, v)))
            if not af:
                a_on = t0 + rr - 0.15
                w.append(Wave("a'", a_on, a_on + 0.13,
                              lambda t, a=a_on, v=-p["a"] * f: _rise_fall(t, a, a + 0.05, a + 0.13, v)))
        elif kind in ("lvot", "aortic"):
            on = t0 + 0.06
            lvet = float(np.clip(0.29 + 0.12 * (min(rr, 1.2) - 0.8), 0.24, 0.34))
            if kind == "aortic":
                lvet += 0.02 * (p["v"] - 100) / 400
            v = p["v"] * f * ((0.8 + 0.35 * (min(rr, 1.1) - 0.45) / 0.65) if af else 1.0)
            pk = on + p["pk"] * lvet
            w.append(Wave("ejection", on, on + lvet, lambda t, a=on, b=pk, c=on + lvet, v=-v: _rise_fall(t, a, b, c, v)))
        elif kind == "pulmonary":
            on = t0 + 0.08
            et = float(np.clip(0.31 + 0.1 * (min(rr, 1.2) - 0.8), 0.26, 0.38))
            v = p["v"] * f * ((0.8 + 0.35 * (min(rr, 1.1) - 0.45) / 0.65) if af else 1.0)
            pk = on + min(p["at"], 0.6 * et)
            w.append(Wave("ejection", on, on + et, lambda t, a=on, b=pk, c=on + et, v=-v: _rise_fall(t, a, b, c, v)))
        elif kind == "tr":
            on, dur = t0 + 0.04, float(np.clip(0.42 + 0.1 * (min(rr, 1.2) - 0.8), 0.36, 0.48))
            w.append(Wave("TR", on, on + dur, lambda t, a=on, d=dur, v=-p["v"] * f: _tr_wave(t, a, d, v)))
        beats.append(w)
    return beats, p


def envelopes(beats: list[list[Wave]], t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(positive, negative) envelopes in cm/s at times ``t``: the sum of the waves on each side of the baseline."""
    pos, neg = np.zeros_like(t), np.zeros_like(t)
    for w in (x for b in beats for x in b):
        m = (t >= w.onset_s - 0.01) & (t <= w.end_s + 0.01)
        if m.any():
            v = w.fn(t[m])
            pos[m] += np.maximum(v, 0)
            neg[m] += np.minimum(v, 0)
    return pos, neg


def beat_truth(kind: str, beats: list[list[Wave]], p: dict, dur_s: float, ra_mmhg: float) -> list[dict]:
    """Per complete beat (every wave inside [0.02, dur_s - 0.02]) the values a reader should measure."""
    out = []
    for w in beats:
        if not w or w[0].onset_s < 0.02 or max(x.end_s for x in w) > dur_s - 0.02:
            continue
        t = np.arange(w[0].onset_s - 0.05, max(x.end_s for x in w) + 0.05, 0.001)
        pos, neg = envelopes([w], t)
        named = {x.name: x for x in w}
        rec: dict = {"onset_s": w[0].onset_s}
        if kind == "mitral":
            e = named["E"]
            in_e = (t >= e.onset_s) & (t <= e.onset_s + p["at"] + 0.005)
            rec.update(mv_e_cm_s=float(pos[in_e].max()), peak_s=float(t[in_e][np.argmax(pos[in_e])]))
            rec["mv_dt_ms"] = 1000 * (e.end_s - e.onset_s - p["at"])
            if "A" in named:
                a = named["A"]
                in_a = (t >= a.onset_s) & (t <= a.end_s)
                rec["mv_a_cm_s"] = float(pos[in_a].max())
        elif kind.startswith("tdi"):
            site = kind.split("-")[1]
            e = named["e'"]
            in_e = (t >= e.onset_s) & (t <= e.end_s)
            rec[f"e_prime_{site}_cm_s"] = float(-neg[in_e].min())
            rec["peak_s"] = float(t[in_e][np.argmin(neg[in_e])])
            if "a'" in named:
                a = named["a'"]
                in_a = (t >= a.onset_s) & (t <= a.end_s)
                rec[f"a_prime_{site}_cm_s"] = float(-neg[in_a].min())
        else:
            v_m_s = -neg / 100.0
            x = w[0]
            inw = (t >= x.onset_s) & (t <= x.end_s)
            pre = {"lvot": "lvot", "aortic": "av", "tr": "tr", "pulmonary": "pv"}[kind]
            vmax = float(v_m_s[inw].max())
            rec.update({f"{pre}_vmax_m_s": vmax, f"{pre}_peak_gradient_mmhg": 4 * vmax ** 2,
                        "peak_s": float(t[inw][np.argmax(v_m_s[inw])])})
            if kind == "tr":
                rec["rvsp_mmhg"] = 4 * vmax ** 2 + ra_mmhg
            elif kind == "pulmonary":
                rec["pv_vti_cm"] = float(np.sum(v_m_s[inw]) * 0.001 * 100)
                rec["pv_at_ms"] = 1000 * (rec["peak_s"] - x.onset_s)
                del rec["pv_peak_gradient_mmhg"]
            else:
                rec[f"{pre}_vti_cm"] = float(np.sum(v_m_s[inw]) * 0.001 * 100)
                rec[f"{pre}_mean_gradient_mmhg"] = float(np.mean(4 * v_m_s[inw] ** 2))
        out.append(rec)
    return out


def screen_truth(beats: list[dict]) -> dict:
    """Mean of each value over the complete beats; E/A as mean E over mean A; n_beats."""
    keys = sorted({k for b in beats for k in b if k not in ("onset_s", "peak_s")})
    out: dict = {k: float(np.mean([b[k] for b in beats if k in b])) for k in keys}
    if "mv_e_cm_s" in out and "mv_a_cm_s" in out:
        out["mv_e_a_ratio"] = out["mv_e_cm_s"] / out["mv_a_cm_s"]
    out["n_beats"] = len(beats)
    return out


def simulate(kind: str, seed: int, *, layout: str | None = None, af: bool = False, alias: float = 0.0,
             noise: float | None = None, ecg: bool | None = None, ra_mmhg: float = 8.0,
             label: bool = True) -> DopplerScreen:
    """One spectral Doppler screen of ``kind`` with its truth.

    ``alias`` > 0 (PW kinds only) sets the Nyquist limit on the flow's side to peak / (1 + alias): the top of the
    envelope wraps to the far edge. ``noise`` is the background noise level (0.01-0.12; default drawn).
    """
    from device.sim import doppler_render as dr

    if kind not in KINDS:
        raise ValueError(f"unknown Doppler kind {kind!r}; choose one of {', '.join(KINDS)}")
    rng = np.random.default_rng(seed)
    lay = dr.pick_layout(rng, layout)
    px_per_s = float(rng.uniform(120, 230))
    dur_s = lay.panel_w / px_per_s
    r, rr0 = r_times(rng, dur_s, af)
    t_resp, ph, amp = float(rng.uniform(3.0, 5.5)), float(rng.uniform(0, 2 * np.pi)), float(rng.uniform(0.02, 0.10))
    beats, p = make_waves(kind, rng, r, af, lambda t0: 1 + amp * np.sin(2 * np.pi * t0 / t_resp + ph))
    truth_beats = beat_truth(kind, beats, p, dur_s, ra_mmhg)
    t = (np.arange(lay.panel_w) + 0.5) / px_per_s
    pos, neg = envelopes(beats, t)
    scale = dr.pick_scale(kind, rng, float(pos.max()), float(-neg.min()), alias)
    nz = float(rng.uniform(0.015, 0.07)) if noise is None else float(noise)
    rgb, drawn = dr.render(rng, lay, kind, MODE[kind], scale, pos, neg, r, px_per_s, nz,
                           ecg=bool(rng.random() < 0.7) if ecg is None else ecg, label=label)
    params = {"layout": lay.name, "label": dr.LABELS[lay.name][kind] if label else None, "px_per_s": px_per_s, "dur_s": dur_s, "af": af, "alias": alias, "noise": nz,
              "rr0_s": rr0, "resp_amp": amp, "scale": scale, "ra_mmhg": ra_mmhg, **drawn,
              "wave_params": p}
    return DopplerScreen(rgb=rgb, kind=kind, truth=screen_truth(truth_beats), beats=truth_beats, params=params)
