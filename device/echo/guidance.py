"""Probe guidance: the model's correction label -> words a sonographer uses, an arrow for the UI, and smoothing.

Labels (the model's guidance head, see models/echo_view/manifest.json "guidance_labels"):
hold, rotate_cw, rotate_ccw, tilt_up, tilt_down, rock_toward_marker, rock_away_marker, slide_apex, slide_base,
depth_more, depth_less.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass

from device import i18n

# the words come from the one glossary (device/i18n/glossary.<lang>.json, keys guidance.<label>)
HINTS_EN = i18n.table("en", "guidance.")
HINTS_ZH = i18n.table("zh-CN", "guidance.")
# arrow glyph names for the live page (a small SVG set in the UI)
ARROWS = {
    "hold": "dot", "rotate_cw": "rotate-cw", "rotate_ccw": "rotate-ccw", "tilt_up": "up", "tilt_down": "down",
    "rock_toward_marker": "right", "rock_away_marker": "left", "slide_apex": "slide-apex",
    "slide_base": "slide-base", "depth_more": "depth-plus", "depth_less": "depth-minus",
}


@dataclass(frozen=True)
class Hint:
    code: str
    text_en: str
    text_zh: str
    arrow: str
    confidence: float


def hint_for(code: str, confidence: float = 1.0) -> Hint:
    """The hint for a guidance label; unknown labels become 'hold' (never a crash on a newer model)."""
    c = code if code in HINTS_EN else "hold"
    return Hint(c, HINTS_EN[c], HINTS_ZH[c], ARROWS[c], float(confidence))


class GuidanceSmoother:
    """Majority vote of the last `n` guidance labels, so the arrow does not flicker frame to frame."""

    def __init__(self, n: int = 9):
        self.labels: deque[str] = deque(maxlen=n)
        self.confs: deque[float] = deque(maxlen=n)

    def update(self, code: str, confidence: float) -> Hint:
        self.labels.append(code)
        self.confs.append(confidence)
        best = Counter(self.labels).most_common(1)[0][0]
        conf = sum(c for lab, c in zip(self.labels, self.confs) if lab == best) / len(self.labels)
        return hint_for(best, conf)

    def reset(self) -> None:
        self.labels.clear()
        self.confs.clear()
