"""Measurements + rhythm + screening of a 12-lead signal, as one frozen result (what the UI and store show)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from device import DISCLAIMER_EN, DISCLAIMER_ZH
from device.ecg.measure import Measurements, measure
from device.ecg.rhythm import Rhythm, classify_rhythm
from device.ecg.screening import SCREEN_NAME, Screen, combine, screen_signals
from device.ecg.types import LEADS


@dataclass(frozen=True)
class EcgAnalysis:
    """``signal_screen`` from the rules on the signals; ``model_screen`` from the signal model ``ecg_signal`` (or
    the older image model; None when no model ran); ``screen`` the combined result. ``disclaimer`` must be shown
    with every result."""

    measurements: Measurements
    rhythm: Rhythm
    signal_screen: Screen
    model_screen: Screen | None
    screen: Screen
    disclaimer_en: str = DISCLAIMER_EN
    disclaimer_zh: str = DISCLAIMER_ZH

    def as_dict(self) -> dict:
        return {"measurements": self.measurements.as_dict(),
                "rhythm": {"label": self.rhythm.label, "reason": self.rhythm.reason,
                           "irregular": self.rhythm.irregular},
                "screening": {"signal": self.signal_screen.as_dict(),
                              "model": self.model_screen.as_dict() if self.model_screen else None,
                              "combined": self.screen.as_dict()},
                "disclaimer": {"en": self.disclaimer_en, "zh": self.disclaimer_zh}}


def analyse(signals_mv: np.ndarray, fs_hz: float, model_screen: Screen | None = None,
            lead_names: tuple[str, ...] = LEADS, measurements: Measurements | None = None,
            use_model: bool = True) -> EcgAnalysis:
    """Measure, classify the rhythm and screen a (n, 12) float mV array (NaN = not recorded). Unless a
    ``model_screen`` is given (or ``use_model`` is False), the signal model ``ecg_signal`` screens the 12 standard
    leads when it is installed."""
    if model_screen is None and use_model and lead_names == LEADS:
        from device.ecg.signal_model import signal_model_screen

        model_screen = signal_model_screen(signals_mv, fs_hz)
    m = measurements or measure(signals_mv, fs_hz, lead_names)
    rl = lead_names.index(m.rhythm_lead) if m.rhythm_lead in lead_names else 0
    x = signals_mv[:, rl]
    rh = classify_rhythm(m, x if np.isfinite(x).all() else None, fs_hz)
    s = screen_signals(signals_mv, fs_hz, m, rh) if lead_names == LEADS else Screen(
        "undetermined", 0.5, ("the rule screen needs the 12 standard leads",), SCREEN_NAME)
    return EcgAnalysis(measurements=m, rhythm=rh, signal_screen=s, model_screen=model_screen,
                       screen=combine(s, model_screen))
