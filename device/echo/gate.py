"""The standard-view gate: from per-frame model outputs to "standard view" (tone), alarms with hints, no signal,
not an echo view. Pure and clock-free: every call takes the frame's monotonic time in ns.

Abstention (issue 12): a frame the model is unsure of (``ViewOutput.uncertain``), a frame it names OTHER, and a
picture without a fan never count toward a standard view. Such a frame resets the hold (a standard view needs
``hold_s`` of consecutive certain frames of the view, so a loop saved after the tone holds no uncertain frame), ends a
standard view already reached, and, once the model has been unsure for ``abstain_grace_s``, restarts the search
timer, so no probe-guidance alarm sounds while the model is unsure (an uncertain frame never raises an alarm itself; a
single uncertain frame among confident "not this view yet" frames no longer keeps the search alarm from ever sounding). Its status is "uncertain" or "not_echo"; it carries no view name. The view smoothing ignores uncertain frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from device.echo.guidance import GuidanceSmoother, Hint, hint_for
from device.echo.prep import ViewOutput
from device.echo.quality import QualitySmoother

OTHER = "OTHER"
UNCERTAIN = "UNCERTAIN"  # clip-buffer label of frames that count for no view


@dataclass(frozen=True)
class GateParams:
    """quality_threshold: smoothed quality a view must hold; hold_s: for how long; hysteresis: drop below
    threshold - hysteresis to lose it; alarm_after_s: searching this long raises the first alarm; alarm_repeat_s:
    then repeat (or sooner when the hint changes, not more than every alarm_min_gap_s); no_signal_after_s /
    no_heart_after_s: how long a bad signal / no heart must last before the event; abstain_grace_s: uncertain frames
    for less than this long leave the search timer running instead of restarting it."""

    quality_threshold: float = 0.6
    hold_s: float = 1.0
    hysteresis: float = 0.05
    alarm_after_s: float = 1.5
    alarm_repeat_s: float = 4.0
    alarm_min_gap_s: float = 1.5
    no_signal_after_s: float = 0.5
    no_heart_after_s: float = 1.0
    view_tau_s: float = 0.25
    quality_tau_s: float = 0.4
    abstain_grace_s: float = 0.5


@dataclass(frozen=True)
class EchoEvent:
    """A typed event of the live loop.

    kind: "standard_view" | "alarm" | "no_signal" | "signal_back" | "no_heart" | "clip_saved" | "protocol_done"
    ("no_heart": a picture that is not an echo view has lasted ``no_heart_after_s``; it plays no tone);
    tone: "standard" (play the prompt tone), "alarm" (play the alarm) or None; text_en / text_zh: what to show.
    """

    kind: str
    t_mono_ns: int
    view: str | None
    target: str | None
    quality: float
    tone: str | None
    text_en: str
    text_zh: str
    hint: Hint | None = None
    data: dict = field(default_factory=dict)


@dataclass(frozen=True)
class GateState:
    """What the live page shows for one frame.

    status: "no_signal" | "not_echo" | "uncertain" | "searching" | "holding" | "standard"; view: smoothed view label
    (None without signal, when not echo and when uncertain); view_conf: its smoothed probability (the frame's own
    confidence when uncertain); quality: smoothed 0..1; hold_frac: progress toward standard (0..1); uncertain: the
    model abstained on this frame; ood_score: the frame's out-of-distribution score (0.0 when not measured).
    """

    t_mono_ns: int
    status: str
    view: str | None
    view_conf: float
    quality: float
    target: str | None
    hint: Hint | None
    hold_frac: float
    uncertain: bool = False
    ood_score: float = 0.0


class StandardViewGate:
    """Feed one frame at a time with `update`; returns the frame's GateState and the events it raised."""

    def __init__(self, labels: tuple[str, ...], params: GateParams = GateParams()):
        self.labels = labels
        self.p = params
        self.q = QualitySmoother(params.quality_tau_s)
        self.guide = GuidanceSmoother()
        self._probs: np.ndarray | None = None
        self._t_prev: int | None = None
        self._bad_since: int | None = None
        self._no_signal = False
        self._other_since: int | None = None
        self._no_heart = False
        self._search_since: int | None = None
        self._last_alarm: tuple[int, str] | None = None
        self._hold_since: int | None = None
        self._standard = False
        self._unsure_since: int | None = None

    def _smooth_view(self, t_ns: int, probs: np.ndarray) -> np.ndarray:
        if self._probs is None or self._t_prev is None or (t_ns - self._t_prev) / 1e9 > 1.0:
            self._probs = probs.astype(np.float64)
        else:
            a = 1 - np.exp(-max(0.0, (t_ns - self._t_prev) / 1e9) / self.p.view_tau_s)
            self._probs = self._probs + a * (probs - self._probs)
        self._t_prev = t_ns
        return self._probs

    def _reset_view(self) -> None:
        self.q.reset()
        self.guide.reset()
        self._probs = None
        self._hold_since = None
        self._standard = False
        self._other_since = None

    def update(self, t_ns: int, out: ViewOutput | None, target: str | None,
               bad_signal: bool = False) -> tuple[GateState, list[EchoEvent]]:
        """One frame: `out` is the model output (None when the picture has no fan: not an echo view), `bad_signal` a
        black, frozen or missing picture. `target` is the protocol's current view (None = any standard view counts)."""
        p, ev = self.p, []
        if bad_signal:
            self._bad_since = t_ns if self._bad_since is None else self._bad_since
            self._reset_view()
            self._search_since = None
            if not self._no_signal and (t_ns - self._bad_since) / 1e9 >= p.no_signal_after_s:
                self._no_signal = True
                ev.append(EchoEvent("no_signal", t_ns, None, target, 0.0, "alarm", "No signal from the ultrasound "
                                    "machine: check the video cable and that the machine is imaging",
                                    "无超声信号：请检查视频线并确认超声仪正在成像"))
            return GateState(t_ns, "no_signal", None, 0.0, 0.0, target, None, 0.0), ev
        if self._no_signal:
            ev.append(EchoEvent("signal_back", t_ns, None, target, 0.0, None, "Signal restored", "信号已恢复"))
        self._bad_since, self._no_signal = None, False
        if out is not None and out.uncertain:
            return self._abstain(t_ns, out, target), ev
        self._unsure_since = None
        view, conf = None, 0.0
        if out is not None:
            probs = self._smooth_view(t_ns, out.view_probs)
            iv = int(np.argmax(probs))
            view, conf = self.labels[iv], float(probs[iv])
        if out is None or view == OTHER or out.view == OTHER:
            return self._not_echo(t_ns, out, conf, target, ev), ev
        self._other_since, self._no_heart = None, False
        on_target = target is None or view == target
        q = self.q.update(t_ns, out.quality if on_target else 0.0)
        hint = self.guide.update(out.guidance, out.guidance_conf)
        if not on_target:
            hint = Hint("find_view", f"Showing {view}; go to {target}", f"当前为 {view}；请切换到 {target}", "search",
                        conf)
        thr_on = p.quality_threshold
        thr_off = p.quality_threshold - p.hysteresis
        good = on_target and (q >= thr_on or (self._hold_since is not None and q >= thr_off))
        if good:
            self._hold_since = t_ns if self._hold_since is None else self._hold_since
            held = (t_ns - self._hold_since) / 1e9
            if held >= p.hold_s and not self._standard:
                self._standard = True
                ev.append(EchoEvent("standard_view", t_ns, view, target, q, "standard", f"Standard view: {view}",
                                    f"标准切面：{view}"))
            self._search_since = None
            status = "standard" if self._standard else "holding"
            frac = 1.0 if self._standard else min(1.0, held / p.hold_s) if p.hold_s > 0 else 1.0
            return GateState(t_ns, status, view, conf, q, target, hint_for("hold", hint.confidence), frac), ev
        self._hold_since, self._standard = None, False
        self._search_since = t_ns if self._search_since is None else self._search_since
        if (t_ns - self._search_since) / 1e9 >= p.alarm_after_s:
            last = self._last_alarm
            since = (t_ns - last[0]) / 1e9 if last else float("inf")
            if since >= p.alarm_repeat_s or (last and last[1] != hint.code and since >= p.alarm_min_gap_s):
                self._last_alarm = (t_ns, hint.code)
                ev.append(EchoEvent("alarm", t_ns, view, target, q, "alarm", hint.text_en, hint.text_zh, hint))
        return GateState(t_ns, "searching", view, conf, q, target, hint, 0.0), ev

    def _abstain(self, t_ns: int, out: ViewOutput, target: str | None) -> GateState:
        """An uncertain frame: the hold restarts, a standard view ends; the search (alarm) timer restarts once the
        model has been unsure for abstain_grace_s (a shorter abstention leaves it running; no alarm on an uncertain frame)."""
        self._hold_since, self._standard = None, False
        self._unsure_since = t_ns if self._unsure_since is None else self._unsure_since
        if (t_ns - self._unsure_since) / 1e9 >= self.p.abstain_grace_s:
            self._search_since = None
        return GateState(t_ns, "uncertain", None, float(out.view_conf), 0.0, target, None, 0.0, uncertain=True,
                         ood_score=float(out.ood_score))

    def _not_echo(self, t_ns: int, out: ViewOutput | None, conf: float, target: str | None,
                  ev: list[EchoEvent]) -> GateState:
        """A picture without a fan or a frame named OTHER: nothing counts, no alarm; said once after no_heart_after_s
        (an event without a tone: a Doppler or M-mode screen is not an error)."""
        self._other_since = t_ns if self._other_since is None else self._other_since
        self._hold_since, self._standard = None, False
        self._search_since = None
        self.q.reset()
        if not self._no_heart and (t_ns - self._other_since) / 1e9 >= self.p.no_heart_after_s:
            self._no_heart = True
            ev.append(EchoEvent("no_heart", t_ns, None if out is None else OTHER, target, 0.0, None,
                                "Not an echo view: place the probe on an acoustic window",
                                "非心脏超声切面：请将探头放在声窗上"))
        return GateState(t_ns, "not_echo", None, conf, 0.0, target, None, 0.0,
                         ood_score=0.0 if out is None else float(out.ood_score))
