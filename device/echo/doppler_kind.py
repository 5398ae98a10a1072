"""Which flow or tissue signal a spectral Doppler screen shows (pure: arrays in, verdict out).

Two sources, the screen's own label first:
1. **Label.** Text blobs outside the spectral panel (glyphs merged by a horizontal dilation) are matched against
   the vocabulary below rendered in OpenCV's Hershey fonts (plain and italic) and in Pillow's bundled sans-serif
   TrueType font (Aileron), by normalised correlation after scaling to a common height; a match needs correlation
   >= ``LABEL_MIN`` and the blob's aspect within 15 % of the template's. This reads labels drawn in those fonts (the
   simulator's four vendor styles); it is not a general OCR of real vendor fonts (a font it does not know scores
   below the threshold: the kind then comes from the signal alone), which is why the signal check always runs.
2. **Signal.** Side of the baseline that carries the flow, peak velocity, and for one-sided ejection-type traces
   the wave's fullness (mean / peak over the wave: a holosystolic TR jet is fuller than an ejection hump) and the
   spectral fill (CW traces are filled, PW traces hollow). Tissue Doppler (< 30 cm/s on both sides) cannot be told
   septal from lateral by the signal, nor LVOT from pulmonary PW flow: then only a label can decide.

A label that contradicts the signal (e.g. "MV" over a trace below the baseline) is not trusted: the screen is refused
with both reasons, so a mislabelled or misread screen is never measured as the wrong kind.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

LABEL_MIN = 0.80
VOCAB: dict[str, tuple[str, ...]] = {
    "mitral": ("PW  MV", "MV Inflow", "Mitral", "MV", "MV E/A", "Mitral Inflow"),
    "tdi-septal": ("TDI  SEPT", "Sept e'", "TDI Septal", "TDI Sept", "e' sept", "Septal e'"),
    "tdi-lateral": ("TDI  LAT", "Lat e'", "TDI Lateral", "TDI Lat", "e' lat", "Lateral e'"),
    "lvot": ("PW  LVOT", "LVOT PW", "LVOT", "LVOT Vmax"),
    "aortic": ("CW  AV", "AoV CW", "Aortic CW", "AV CW", "AV Vmax", "Ao CW"),
    "tr": ("CW  TR", "TR CW", "TV Regurg", "TR Vmax", "TR"),
    "pulmonary": ("PW  PV", "Pulm PW", "PulmV", "PV Vmax", "PV PW", "RVOT PW"),
}
_FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_PLAIN, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX,
          cv2.FONT_HERSHEY_TRIPLEX, cv2.FONT_HERSHEY_COMPLEX_SMALL)
_H = 18          # common template height, px


@dataclass(frozen=True)
class KindVerdict:
    kind: str | None             # None: undecided (see ``reason``)
    source: str                  # "label", "signal" or "given"
    label: str | None            # the label text matched, if any
    label_score: float
    signal_kinds: tuple[str, ...]   # kinds the signal allows
    reason: str = ""


def _crop(bw: np.ndarray) -> np.ndarray | None:
    ys, xs = np.nonzero(bw)
    if len(ys) == 0:
        return None
    return bw[ys.min():ys.max() + 1, xs.min():xs.max() + 1]


def _scaled(g: np.ndarray) -> np.ndarray:
    h, w = g.shape
    s = cv2.resize(g.astype(np.float32), (max(4, round(w * _H / h)), _H), interpolation=cv2.INTER_AREA)
    return cv2.GaussianBlur(s, (0, 0), 1.0)


def _templates() -> list[tuple[str, str, float, np.ndarray]]:
    """(kind, text, native height px, template) for each vocabulary text in each font, drawn 1 px thick at the
    sizes screen labels come in (cap heights ~7-16 px)."""
    out = []
    for kind, words in VOCAB.items():
        for text in words:
            for f in _FONTS:
                base = cv2.getTextSize("H", f, 1.0, 1)[0][1]
                for it in (0, cv2.FONT_ITALIC):
                    for cap in (7, 9, 11, 13, 16):
                        img = np.zeros((60, 20 * len(text) + 40), np.uint8)
                        cv2.putText(img, text, (10, 40), f | it, cap / base, 255, 1, cv2.LINE_AA)
                        g = _crop(img > 100)
                        if g is not None:
                            out.append((kind, text, float(g.shape[0]), _scaled(g)))
            out += [(kind, text, float(g.shape[0]), _scaled(g)) for g in _ttf_renders(text)]
    return out


def _ttf_renders(text: str) -> list[np.ndarray]:
    """``text`` in Pillow's bundled sans-serif TrueType font (Aileron) at label sizes, as binary crops."""
    from PIL import Image, ImageDraw, ImageFont

    out = []
    for size in (11, 13, 16, 19, 22):
        font = ImageFont.load_default(size=size)
        im = Image.new("L", (14 * len(text) + 40, 60))
        ImageDraw.Draw(im).text((10, 40), text, font=font, fill=255, anchor="ls")
        g = _crop(np.asarray(im) > 100)
        if g is not None:
            out.append(g)
    return out


_TPL: dict[int, list[tuple[str, str, float, np.ndarray]]] | None = None    # by native height, px


def read_label(grey: np.ndarray, panel: tuple[int, int, int, int]) -> tuple[str | None, str | None, float]:
    """(kind, matched text, score) of the best vocabulary match among text blobs outside the panel."""
    global _TPL
    if _TPL is None:
        _TPL = {}
        for kind, text, th, t in _templates():       # zero-mean, unit-norm: a dot product is the correlation
            tz = t - t.mean()
            _TPL.setdefault(int(round(th)), []).append((kind, text, th, tz / (np.linalg.norm(tz) + 1e-9)))
    x0, y0, x1, y1 = panel
    bw = grey > 150
    bw[max(0, y0 - 30):y1 + 16, max(0, x0 - 80):x1 + 80] = False
    merged = cv2.dilate(bw.astype(np.uint8), np.ones((1, 13), np.uint8))
    n, _lab, st, _ = cv2.connectedComponentsWithStats(merged, connectivity=8)
    blobs = sorted((tuple(int(v) for v in st[i][:4]) for i in range(1, n) if 6 <= st[i][3] <= 40 and st[i][2] <= 400),
                   key=lambda b: (b[1] // 6, b[0]))
    boxes = list(blobs)
    for a, b in zip(blobs, blobs[1:]):      # two words of one line ("PW  MV"): their union too
        if abs(a[1] - b[1]) <= 4 and 0 <= b[0] - (a[0] + a[2]) <= 3 * max(a[3], b[3]):
            x, y = min(a[0], b[0]), min(a[1], b[1])
            boxes.append((x, y, b[0] + b[2] - x, max(a[1] + a[3], b[1] + b[3]) - y))
    best: tuple[str | None, str | None, float] = (None, None, 0.0)
    for x, y, w, h in boxes:
        if w < 12:
            continue
        g = _crop(bw[y:y + h, x:x + w])
        if g is None or g.shape[0] < 6:
            continue
        s = _scaled(g)
        near = [t for hh in range(g.shape[0] - 3, g.shape[0] + 4) for t in _TPL.get(hh, [])]
        sized: dict[int, np.ndarray] = {}
        for kind, text, th, t in near:
            if abs(np.log(s.shape[1] / t.shape[1])) > 0.15 or abs(th - g.shape[0]) > 2.5:
                continue
            if t.shape[1] not in sized:
                v = cv2.resize(s, (t.shape[1], _H), interpolation=cv2.INTER_AREA)
                v = v - v.mean()
                sized[t.shape[1]] = v / (np.linalg.norm(v) + 1e-9)
            c = float((sized[t.shape[1]] * t).sum())
            if c > best[2]:
                best = (kind, text, c)
    return best


def _fullness(env: np.ndarray, thr: float) -> list[float]:
    on = env > thr
    d = np.diff(np.concatenate([[0], on.astype(np.int8), [0]]))
    out = []
    for a, b in zip(np.nonzero(d == 1)[0], np.nonzero(d == -1)[0]):
        if a > 0 and b < len(env) and b - a >= 8:
            seg = env[a:b]
            out.append(float(seg.mean() / seg.max()))
    return out


def signal_kinds(pos: np.ndarray, neg: np.ndarray, fill: float) -> tuple[tuple[str, ...], str]:
    """Kinds the envelopes allow (``pos``/``neg``: cm/s on each side of the baseline per column; ``fill``: mean
    intensity inside the envelope relative to its edge, ~0.2-0.4 PW, >= 0.5 CW) and a one-line description."""
    vp, vn = float(np.percentile(pos, 98)), float(np.percentile(neg, 98))
    if max(vp, vn) < 30 and min(vp, vn) > 2:
        return ("tdi-septal", "tdi-lateral"), f"tissue velocities (peaks {vp:.0f} / {vn:.0f} cm/s)"
    if vp > 1.5 * vn:
        return ("mitral",), f"inflow toward the probe (peak {vp:.0f} cm/s)"
    if vn <= 1.5 * vp:
        return (), f"flow on both sides of the baseline (peaks {vp:.0f} / {vn:.0f} cm/s)"
    full = _fullness(neg, 0.12 * vn)
    fu = float(np.median(full)) if full else 0.0
    if vn > 170:
        kinds = ("tr",) if fu > 0.70 else ("aortic",)
        return kinds, f"high-velocity jet away from the probe ({vn / 100:.1f} m/s, fullness {fu:.2f})"
    if fill >= 0.5:
        return ("aortic", "tr"), f"filled (CW) trace away from the probe ({vn / 100:.1f} m/s)"
    return ("lvot", "pulmonary"), f"hollow (PW) ejection away from the probe ({vn / 100:.2f} m/s)"


def decide(label: tuple[str | None, str | None, float], sig: tuple[tuple[str, ...], str]) -> KindVerdict:
    """The label when it is read and the signal allows it; the signal alone when it names one kind."""
    lk, text, score = label
    kinds, why = sig
    if lk is not None and score >= LABEL_MIN:
        if lk in kinds:
            return KindVerdict(lk, "label", text, score, kinds)
        return KindVerdict(None, "label", text, score, kinds,
                           f"the screen's label reads '{text}' ({lk}) but the trace shows {why}; "
                           "give the kind (--kind) or check the screen")
    if len(kinds) == 1:
        return KindVerdict(kinds[0], "signal", None, score, kinds)
    if not kinds:
        return KindVerdict(None, "signal", None, score, kinds, f"no label read and the trace shows {why}; give the kind")
    return KindVerdict(None, "signal", None, score, kinds,
                       f"no label read; the trace ({why}) could be {' or '.join(kinds)}; give the kind")
