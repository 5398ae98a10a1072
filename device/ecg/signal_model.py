"""The signal screen ``ecg_signal``: a compact 1-D CNN on the 12-lead signal (recorded or digitised from paper).

Shared by the training recipe (``models/training/ecg_signal.py``) and the cart, so both prepare the input alike:

- ``signal`` float32 (1, 24, 1, 1000): 10 s at 100 Hz. Channels 0-11 the leads I..V6 in mV, each contiguous
  printed/recorded run with its own median removed (a digitised segment's offset is arbitrary), clipped to +-5 mV,
  0 where missing; channels 12-23 the presence mask of each lead (1 recorded, 0 missing). The singleton height
  makes the 1-D convolutions plain Conv2D (1 x k) for ONNX Runtime and LiteRT alike.

The output ``logits`` (1, 7) are, in order, ``LABELS``. Probabilities are ``sigmoid(a * logit + b)`` with the
per-label Platt parameters fitted on PTB-XL fold 9 (manifest ``params.platt``); the abnormal decision threshold and
the per-superclass finding thresholds (chosen on fold 9) are in ``params.thresholds``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FS_IN = 100.0
N_IN = 1000
N_LEADS = 12
MODEL_NAME = "ecg_signal"
LABELS = ("abnormal", "NORM", "MI", "STTC", "CD", "HYP", "AF")
FINDING_TEXT = {"MI": "myocardial infarction pattern", "STTC": "ST/T change", "CD": "conduction disturbance",
                "HYP": "hypertrophy", "AF": "atrial fibrillation / flutter"}


def to_100hz(signals_mv: np.ndarray, fs_hz: float) -> np.ndarray:
    """float32 (1000, 12): the first 10 s resampled to 100 Hz (block mean for integer multiples of 100 Hz, NaN where
    every source sample is NaN; linear interpolation otherwise); shorter records are NaN-padded."""
    x = np.asarray(signals_mv, np.float64)
    if x.ndim != 2 or x.shape[1] != N_LEADS:
        raise ValueError(f"expected (n, 12) leads, got {x.shape}")
    ratio = fs_hz / FS_IN
    if abs(ratio - round(ratio)) < 1e-6 and round(ratio) >= 1:
        k = int(round(ratio))
        n = min(x.shape[0] // k, N_IN)
        blocks = x[: n * k].reshape(n, k, N_LEADS)
        fin = np.isfinite(blocks)
        cnt = fin.sum(1)
        y = np.where(cnt > 0, np.where(fin, blocks, 0.0).sum(1) / np.maximum(cnt, 1), np.nan)
    else:
        t_src = np.arange(x.shape[0]) / fs_hz
        n = min(int(t_src[-1] * FS_IN) + 1, N_IN)
        t_dst = np.arange(n) / FS_IN
        y = np.full((n, N_LEADS), np.nan)
        for j in range(N_LEADS):
            ok = np.isfinite(x[:, j])
            if ok.sum() >= 2:
                v = np.interp(t_dst, t_src[ok], x[ok, j])
                near = np.interp(t_dst, t_src, ok.astype(float)) > 0.5
                y[:, j] = np.where(near, v, np.nan)
    out = np.full((N_IN, N_LEADS), np.nan, np.float32)
    out[: y.shape[0]] = y
    return out


def prepare(x100: np.ndarray) -> np.ndarray:
    """float32 (24, 1000) model input from a (1000, 12) 100-Hz mV array with NaN = missing (see module doc)."""
    x = np.array(x100, np.float64).T  # (12, 1000)
    ok = np.isfinite(x)
    for j in range(N_LEADS):
        d = np.diff(np.concatenate(([0], ok[j].view(np.int8), [0])))
        for s, e in zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)):
            x[j, s:e] -= np.median(x[j, s:e])
    x = np.clip(np.where(ok, x, 0.0), -5.0, 5.0)
    return np.concatenate([x, ok.astype(np.float64)]).astype(np.float32)


def signal_input(signals_mv: np.ndarray, fs_hz: float) -> np.ndarray:
    """The model's ``signal`` input (1, 24, 1, 1000) from a (n, 12) mV array at ``fs_hz`` (NaN = not recorded)."""
    return prepare(to_100hz(signals_mv, fs_hz))[None, :, None, :]


def calibrated(logits: np.ndarray, platt: dict[str, list[float]]) -> np.ndarray:
    """Probabilities (..., 7) from logits (..., 7) with the per-label Platt parameters [a, b]."""
    z = np.asarray(logits, np.float64)
    a = np.array([platt[k][0] for k in LABELS])
    b = np.array([platt[k][1] for k in LABELS])
    return 1.0 / (1.0 + np.exp(-np.clip(a * z + b, -50.0, 50.0)))


@dataclass(frozen=True)
class SignalScreenResult:
    """``probabilities`` per label (calibrated, 0..1); ``findings`` the superclasses at or above their fold-9
    threshold; ``abnormal`` whether p(abnormal) reached the operating threshold; ``model`` the model tag."""

    probabilities: dict[str, float]
    findings: tuple[str, ...]
    abnormal: bool
    threshold: float
    coverage: float
    model: str


def run_signal_model(signals_mv: np.ndarray, fs_hz: float, variant: str | None = None) -> SignalScreenResult | None:
    """Screen a (n, 12) mV array with ``ecg_signal``; None when the model is not installed or under 1 s of any
    lead was recorded (the rule screen still runs)."""
    from device.errors import ModelError
    from device.inference import model_provider

    inp = signal_input(signals_mv, fs_hz)
    coverage = float(inp[0, N_LEADS:].mean())
    if inp[0, N_LEADS:].sum(axis=-1).max() < FS_IN:
        return None
    try:
        model = model_provider().get(MODEL_NAME, variant)
    except ModelError:
        return None
    logits = np.asarray(model.run({"signal": inp})["logits"], np.float64).reshape(-1)
    params = model.manifest.params
    p = calibrated(logits, params["platt"])
    probs = {k: float(v) for k, v in zip(LABELS, p)}
    thr = params["thresholds"]
    findings = tuple(k for k in LABELS[2:] if probs[k] >= float(thr[k]))
    return SignalScreenResult(probs, findings, probs["abnormal"] >= float(thr["abnormal"]), float(thr["abnormal"]),
                              coverage, model.tag)


def signal_model_screen(signals_mv: np.ndarray, fs_hz: float, variant: str | None = None):
    """The signal model's result as a ``Screen`` (label, p(abnormal), findings naming the superclasses with their
    probabilities, the model tag as ``source``); None when the model is not installed or the signal too short."""
    from device.ecg.screening import Screen

    r = run_signal_model(signals_mv, fs_hz, variant)
    if r is None:
        return None
    p = r.probabilities
    why = [f"signal model: abnormal probability {p['abnormal']:.2f} (threshold {r.threshold:.2f}, "
           f"{r.coverage:.0%} of the 12 x 10 s recorded)"]
    why += [f"{k} ({FINDING_TEXT[k]}) probability {p[k]:.2f}" for k in r.findings]
    return Screen("abnormal" if r.abnormal else "normal", p["abnormal"], tuple(why), r.model, dict(p), r.findings)
