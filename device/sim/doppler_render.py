"""Draw a spectral Doppler screen: a 2-D thumbnail, the spectral panel, its velocity scale, time marks and an ECG.

Four vendor-like layouts (sizes, where the scale sits, colour map, label font, where the time marks are):
- ``a``: 800x600, scale on the right, grey spectrum, Hershey simplex labels, time marks above the panel, ECG below.
- ``b``: 640x480, scale on the left, bronze spectrum, Hershey plain labels, time marks below the panel, no ECG.
- ``c``: 1024x768, scale on the right, blue-grey spectrum, Hershey duplex labels, time marks above, ECG below.
- ``d``: 960x720, scale on the right, green-grey spectrum, a proportional sans-serif TrueType font (Pillow's
  bundled Aileron, the kind of font current vendors draw with) for every text, time marks below, ECG below.
Conventions shared by all three (the reader relies on them and says so): the velocity axis is a vertical line with
ticks at every labelled step; the unit ("cm/s" or "m/s") is printed just above the axis; time marks every 0.1 s with
a longer mark every 0.5 s run along the panel; the baseline is a thin line across the panel.
Each layout names the trace in its own words and label font (``LABELS``, ``LABEL_FONTS``: "PW  MV" / "MV Inflow" /
"Mitral" ...), as vendors do; ``label=False`` leaves the name off (the reader must then judge from the signal).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

FONTS = {"a": (cv2.FONT_HERSHEY_SIMPLEX, 0.42), "b": (cv2.FONT_HERSHEY_PLAIN, 0.9), "c": (cv2.FONT_HERSHEY_DUPLEX, 0.45)}
LABEL_FONTS = {"a": (cv2.FONT_HERSHEY_SIMPLEX, 0.5), "b": (cv2.FONT_HERSHEY_COMPLEX_SMALL | cv2.FONT_ITALIC, 0.8),
               "c": (cv2.FONT_HERSHEY_COMPLEX, 0.5)}
TTF_SIZES = {"scale": 13, "label": 16}     # layout d: Pillow's bundled TrueType font, px
LABELS = {
    "a": {"mitral": "PW  MV", "tdi-septal": "TDI  SEPT", "tdi-lateral": "TDI  LAT", "lvot": "PW  LVOT",
          "aortic": "CW  AV", "tr": "CW  TR", "pulmonary": "PW  PV"},
    "b": {"mitral": "MV Inflow", "tdi-septal": "Sept e'", "tdi-lateral": "Lat e'", "lvot": "LVOT PW",
          "aortic": "AoV CW", "tr": "TR CW", "pulmonary": "Pulm PW"},
    "c": {"mitral": "Mitral", "tdi-septal": "TDI Septal", "tdi-lateral": "TDI Lateral", "lvot": "LVOT",
          "aortic": "Aortic CW", "tr": "TV Regurg", "pulmonary": "PulmV"},
    "d": {"mitral": "MV E/A", "tdi-septal": "TDI Sept", "tdi-lateral": "TDI Lat", "lvot": "LVOT Vmax",
          "aortic": "AV Vmax", "tr": "TR Vmax", "pulmonary": "PV Vmax"},
}


@dataclass(frozen=True)
class Layout:
    name: str
    h: int
    w: int
    x0: int
    x1: int
    y0: int
    y1: int
    axis: str          # "right" | "left"
    marks: str         # "above" | "below"
    ecg: tuple[int, int] | None
    thumb: tuple[int, int, int, int]
    cmap: tuple[float, float, float]

    @property
    def panel_w(self) -> int:
        return self.x1 - self.x0

    @property
    def panel_h(self) -> int:
        return self.y1 - self.y0


LAYOUTS = {
    "a": Layout("a", 600, 800, 40, 725, 230, 515, "right", "above", (535, 585), (20, 10, 260, 200), (1.0, 1.0, 1.0)),
    "b": Layout("b", 480, 640, 80, 620, 165, 425, "left", "below", None, (230, 8, 410, 145), (1.0, 0.82, 0.55)),
    "c": Layout("c", 768, 1024, 30, 890, 300, 675, "right", "above", (695, 750), (360, 10, 660, 270),
                (0.72, 0.86, 1.0)),
    "d": Layout("d", 720, 960, 36, 850, 270, 610, "right", "below", (640, 700), (300, 10, 580, 240),
                (0.8, 1.0, 0.85)),
}


def pick_layout(rng: np.random.Generator, name: str | None) -> Layout:
    lay = LAYOUTS[name] if name else LAYOUTS["abcd"[int(rng.integers(0, 4))]]
    j = [int(v) for v in rng.integers(-10, 11, size=4)]
    return replace(lay, x0=lay.x0 + j[0], x1=lay.x1 + j[1], y0=lay.y0 + j[2], y1=lay.y1 + j[3])


def _nice_step(span: float) -> float:
    for s in (0.5, 1, 2, 5, 10, 20, 25, 50, 100):
        if span / s <= 9:
            return float(s)
    return 200.0


def pick_scale(kind: str, rng: np.random.Generator, pos_max: float, neg_max: float, alias: float) -> dict:
    """Scale in cm/s (top and bottom of the panel), the unit shown and the labelled step in that unit."""
    u = rng.uniform
    if kind == "mitral":
        top = pos_max / (1 + alias) if alias > 0 else pos_max * u(1.15, 1.5)
        bot = -top * u(0.3, 0.7)
    elif kind.startswith("tdi"):
        top, bot = u(15, 22), -max(neg_max * u(1.2, 1.6), 15.0)
    elif kind in ("lvot", "pulmonary"):
        bot = -(neg_max / (1 + alias) if alias > 0 else neg_max * u(1.15, 1.5))
        top = -bot * u(0.3, 0.7)
    else:  # CW, m/s
        bot, top = -max(neg_max * u(1.15, 1.4), neg_max + 40), u(60, 150)
    unit = "m/s" if kind in ("aortic", "tr") else "cm/s"
    div = 100.0 if unit == "m/s" else 1.0
    return {"v_top_cm_s": float(top), "v_bot_cm_s": float(bot), "unit": unit,
            "step": _nice_step((top - bot) / div), "alias": alias > 0}


def _spec(u: np.ndarray, e: np.ndarray, mode: str, span: float) -> np.ndarray:
    """Spectral intensity (0-1) at velocities ``u`` (rows) for envelopes ``e`` >= 0 (columns), both cm/s."""
    uu, ee = u[:, None], e[None, :]
    fill = {"PW": 0.18, "TDI": 0.55, "CW": 0.5}[mode]
    bw = 0.22 * ee + 0.01 * span
    edge = 0.012 * ee + 0.004 * span
    inside = (uu >= 0) & (uu <= ee)
    out = np.where(inside, fill + (1 - fill) * np.exp(-(((ee - uu) / bw) ** 2)),
                   np.where(uu > ee, np.exp(-(((uu - ee) / edge) ** 2)), 0.0))
    return out * (ee > 0.01 * span)


def spectrum(rng, lay: Layout, mode: str, scale: dict, pos: np.ndarray, neg: np.ndarray, noise: float) -> np.ndarray:
    """(panel_h, panel_w) intensities 0-1 with speckle, background noise, wall-filter clutter and aliasing wrap."""
    top, bot = scale["v_top_cm_s"], scale["v_bot_cm_s"]
    span = top - bot
    u = top - (np.arange(lay.panel_h) + 0.5) / lay.panel_h * span
    inten = np.zeros((lay.panel_h, lay.panel_w))
    for k in (-1, 0, 1):  # a velocity beyond the Nyquist limit shows one period (top - bot) away
        uk = u + k * span
        inten += _spec(uk, pos, mode, span) + _spec(-uk, -neg, mode, span)
    inten += 0.45 * np.exp(-((u / (0.02 * span)) ** 2))[:, None]
    inten *= rng.gamma(3.0, 1 / 3.0, size=inten.shape)
    inten = inten * float(rng.uniform(0.75, 1.0)) + np.abs(rng.normal(0, noise, size=inten.shape))
    return np.clip(inten, 0, 1)


def _ttf(size: int):
    from PIL import ImageFont
    return ImageFont.load_default(size=size)


def _size(s: str, lay: Layout, what: str = "scale") -> tuple[int, int]:
    """(width, height) px of ``s`` as drawn on ``lay``."""
    if lay.name == "d":
        x0, y0, x1, y1 = _ttf(TTF_SIZES[what]).getbbox(s, anchor="ls")
        return x1 - x0, -y0
    font, fs = FONTS[lay.name] if what == "scale" else LABEL_FONTS[lay.name]
    return cv2.getTextSize(s, font, fs, 1)[0]


def _text(img, s: str, org: tuple[int, int], lay: Layout, grey: int = 215, what: str = "scale") -> None:
    """Text with its baseline's left end at ``org``: Hershey fonts (a, b, c) or the TrueType font (d)."""
    if lay.name == "d":
        from PIL import Image, ImageDraw
        w, h = _size(s, lay, what)
        x, y = org
        y0, x1 = max(0, y - h - 6), min(img.shape[1], x + w + 4)
        tile = Image.fromarray(np.ascontiguousarray(img[y0:y + 6, x:x1]))
        ImageDraw.Draw(tile).text((0, y - y0), s, font=_ttf(TTF_SIZES[what]), fill=(grey, grey, grey), anchor="ls")
        img[y0:y + 6, x:x1] = np.asarray(tile)
        return
    font, fs = FONTS[lay.name] if what == "scale" else LABEL_FONTS[lay.name]
    cv2.putText(img, s, org, font, fs, (grey, grey, grey), 1, cv2.LINE_AA)


def _label(v: float, step: float) -> str:
    return str(int(round(v))) if float(step).is_integer() else f"{v:.1f}"


def _scale(img, lay: Layout, scale: dict) -> dict:
    top, bot, step = scale["v_top_cm_s"], scale["v_bot_cm_s"], scale["step"]
    div = 100.0 if scale["unit"] == "m/s" else 1.0
    xa = lay.x1 + 2 if lay.axis == "right" else lay.x0 - 3
    sgn = 1 if lay.axis == "right" else -1
    cv2.line(img, (xa, lay.y0), (xa, lay.y1 - 1), (200, 200, 200), 1)
    ticks = []
    for k in range(int(np.ceil(bot / div / step)), int(np.floor(top / div / step)) + 1):
        v = k * step
        row = lay.y0 + (top - v * div) / (top - bot) * lay.panel_h - 0.5
        y = int(round(row))
        if y < lay.y0 + 2 or y > lay.y1 - 3:
            continue
        cv2.line(img, (xa, y), (xa + sgn * 6, y), (200, 200, 200), 1)
        s = _label(v, step)
        tw, th = _size(s, lay)
        x = xa + 10 if sgn > 0 else xa - 10 - tw
        _text(img, s, (x, y + th // 2), lay)
        ticks.append((row, v))
    tw, th = _size(scale["unit"], lay)
    _text(img, scale["unit"], (xa + 4 if sgn > 0 else xa - 4 - tw, lay.y0 - 8), lay)
    return {"axis_x": xa, "ticks": ticks}


def _marks(img, lay: Layout, px_per_s: float) -> None:
    k = 0
    while (x := int(round(lay.x0 + k * 0.1 * px_per_s))) < lay.x1:
        n = 7 if k % 5 == 0 else 3
        y = (lay.y0 - 3, lay.y0 - 3 - n) if lay.marks == "above" else (lay.y1 + 2, lay.y1 + 2 + n)
        cv2.line(img, (x, y[0]), (x, y[1]), (180, 180, 180), 1)
        k += 1


def _ecg(img, lay: Layout, r: np.ndarray, px_per_s: float, rng) -> None:
    y0, y1 = lay.ecg
    xs = np.arange(lay.x0, lay.x1)
    t = (xs - lay.x0 + 0.5) / px_per_s
    v = np.zeros_like(t)
    for tr in r:
        v += np.exp(-(((t - tr) / 0.012) ** 2)) - 0.25 * np.exp(-(((t - tr - 0.03) / 0.015) ** 2))
        v += 0.25 * np.exp(-(((t - tr - 0.28) / 0.05) ** 2)) + 0.12 * np.exp(-(((t - tr + 0.16) / 0.03) ** 2))
    ys = (y1 - 0.35 * (y1 - y0) - v * 0.55 * (y1 - y0)).astype(np.int32)
    pts = np.stack([xs, ys], axis=1).reshape(-1, 1, 2)
    cv2.polylines(img, [pts], False, (40, 210, 90), 1, cv2.LINE_AA)


def _thumb(img, lay: Layout, rng, kind: str, mode: str, label: bool = True) -> None:
    x0, y0, x1, y1 = lay.thumb
    h, w = y1 - y0, x1 - x0
    yy, xx = np.mgrid[0:h, 0:w]
    ang = np.arctan2(xx - w / 2, yy + 2)
    rad = np.hypot(xx - w / 2, yy + 2)
    fan = (np.abs(ang) < 0.6) & (rad < h - 2)
    tex = np.clip(rng.gamma(1.5, 40, size=(h, w)) * (0.4 + 0.6 * np.sin(rad / 9) ** 2), 0, 255)
    img[y0:y1, x0:x1] = np.where(fan[..., None], tex[..., None], 0).astype(np.uint8)
    a = float(rng.uniform(-0.3, 0.3))
    cx, d = x0 + w // 2, 0.7 * h
    end = (int(cx + np.sin(a) * (h - 4)), int(y0 + np.cos(a) * (h - 4)))
    cv2.line(img, (cx, y0 + 2), end, (200, 200, 120), 1)
    gx, gy = int(cx + np.sin(a) * d), int(y0 + np.cos(a) * d)
    cv2.line(img, (gx - 6, gy), (gx + 6, gy), (240, 240, 120), 1)
    tx = x1 + 30 if x1 + 200 < lay.w else 20
    if label:
        _text(img, LABELS[lay.name][kind], (tx, y0 + 30), lay, 235, "label")
    _text(img, f"{rng.uniform(1.8, 3.5):.1f}MHz  G{int(rng.integers(30, 80))}", (tx, y0 + 55), lay, 180)


def render(rng, lay: Layout, kind: str, mode: str, scale: dict, pos: np.ndarray, neg: np.ndarray, r: np.ndarray,
           px_per_s: float, noise: float, ecg: bool, label: bool = True) -> tuple[np.ndarray, dict]:
    """The whole screen (H, W, 3) uint8 and what was drawn where (panel box, axis column, baseline row, ticks)."""
    img = rng.integers(0, 6, size=(lay.h, lay.w, 3)).astype(np.uint8)
    inten = spectrum(rng, lay, mode, scale, pos, neg, noise)
    cm = np.asarray(lay.cmap)
    img[lay.y0:lay.y1, lay.x0:lay.x1] = np.clip(inten[..., None] * cm * 255, 0, 255).astype(np.uint8)
    top, bot = scale["v_top_cm_s"], scale["v_bot_cm_s"]
    base = lay.y0 + top / (top - bot) * lay.panel_h - 0.5
    cv2.line(img, (lay.x0, int(round(base))), (lay.x1 - 1, int(round(base))), (150, 150, 150), 1)
    drawn = _scale(img, lay, scale)
    _marks(img, lay, px_per_s)
    if ecg and lay.ecg is not None:
        _ecg(img, lay, r, px_per_s, rng)
    _thumb(img, lay, rng, kind, mode, label)
    drawn.update(panel=(lay.x0, lay.y0, lay.x1, lay.y1), baseline_row=float(base), ecg_drawn=bool(ecg and lay.ecg))
    return img, drawn
