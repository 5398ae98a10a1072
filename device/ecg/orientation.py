"""Which way up is the printout? Candidate orientations of the flattened page and the evidence for each.

A printed 12-lead ECG has an orientation that the grid does not show (the grid looks the same turned 180 degrees or
mirrored), but the print does:

- the 1 mV calibration pulse stands at the LEFT end of each row and points UP (a 180-degree turn puts it at the right
  end pointing down, a mirror image at the right end pointing up, an upside-down flip at the left pointing down);
- the rows run across the long side of the page (a 90-degree turn makes them vertical);
- the limb leads obey Einthoven's law, so in the second column of a 3x4 (or the first of a 6x2) aVR + aVL + aVF is
  close to zero; a page read the wrong way round assigns those names to the wrong traces and the sum is not zero.

``pulse_votes`` counts standard calibration pulses in each orientation (cheap, on the trace mask); ``limb_consistency``
scores a digitised reading. The reader tries the orientations the pulses favour and refuses a page whose orientation
stays undecided.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from device.ecg import layout
from device.ecg.types import LEADS

# name -> function of an (H, W[, C]) array giving the page turned back upright; each is its own inverse except the
# two quarter turns, which are each other's inverse (only the forward direction is needed here)
ORIENTATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "upright": lambda a: a,
    "mirrored left-right": lambda a: a[:, ::-1],
    "rotated 180 degrees": lambda a: a[::-1, ::-1],
    "upside down (mirrored top-bottom)": lambda a: a[::-1],
    "rotated 90 degrees clockwise": lambda a: np.rot90(a, 1),
    "rotated 90 degrees anticlockwise": lambda a: np.rot90(a, 3),
    "rotated 90 degrees and mirrored": lambda a: a.swapaxes(0, 1),
    "rotated 90 degrees and mirrored the other way": lambda a: np.rot90(a, 2).swapaxes(0, 1),
}
QUARTER_TURNS = tuple(k for k in ORIENTATIONS if "90" in k)
HALF_TURNS = tuple(k for k in ORIENTATIONS if "90" not in k)
# the turns that put other leads in the limb-lead boxes (columns swapped): the limb-lead relations see these
LIMB_SEES = ("mirrored left-right", "rotated 180 degrees")

# a standard pulse is 1 mV tall: 10 mm at the usual gain (20 mm or 5 mm at the others); photos stretch it by up to
# ~15 % (measured 8.5-11.5 mm on the Paper2Pulse photos). The 5 mm band is kept narrow: a row's own trace segments
# near 4.25 mm (the smallest height searched) were taken for pulses in wrongly turned pages.
PULSE_HEIGHTS_MM = ((8.4, 11.6, 1.0), (17.0, 23.0, 1.0), (4.5, 5.6, 0.5))
PULSE_WIDTHS_MM = ((3.5, 6.5), (8.5, 11.5))  # 0.2 s at 25 or 50 mm/s


@dataclass(frozen=True)
class Orientation:
    """``name`` a key of ORIENTATIONS; ``votes`` standard pulses found pointing up at the left of the rows;
    ``rows`` the printed rows found in that orientation (layout.Row)."""

    name: str
    votes: float
    rows: tuple

    @property
    def n_rows(self) -> int:
        return len(self.rows)


def pulse_weight(pulse: tuple[float, float, float, float] | None, px_per_mm: float) -> float:
    """1 for a calibration pulse of standard size (0.5 for the rare 5 mm/mV one), 0 for anything else."""
    if pulse is None:
        return 0.0
    w_mm = (pulse[1] - pulse[0]) / px_per_mm
    h_mm = (pulse[3] - pulse[2]) / px_per_mm
    if not any(lo <= w_mm <= hi for lo, hi in PULSE_WIDTHS_MM):
        return 0.0
    return next((wt for lo, hi, wt in PULSE_HEIGHTS_MM if lo <= h_mm <= hi), 0.0)


def _rows_found(mask: np.ndarray, px_per_mm: float) -> int:
    """Printed rows (ink across most of the width, 50 mm or longer) in ``mask``: cheap, no pulse search."""
    n = 0
    for y in layout.find_rows(mask, px_per_mm):
        x0, x1 = layout.row_extent(mask, y, px_per_mm)
        n += x1 - x0 >= 50 * px_per_mm
    return n


def pulse_votes(mask: np.ndarray, dark: np.ndarray, px_per_mm: float, grid_level: float) -> list[Orientation]:
    """Orientations in which printed rows run across the page, with their pulse votes, best first.

    Quarter turns are only tried when the page as given shows fewer than 3 rows (rows run down a turned page). An
    upright page with 2 or more pulses is checked against its mirror image only (a printer may put a pulse at both
    ends); pulses pointing down (the other two) are not taken for pulses, so they cannot outvote it."""
    names = list(HALF_TURNS)
    if _rows_found(mask, px_per_mm) < 3 and _rows_found(np.ascontiguousarray(mask.T), px_per_mm) >= 3:
        names = list(QUARTER_TURNS)
    out: list[Orientation] = []
    for name in names:
        f = ORIENTATIONS[name]
        m, d = np.ascontiguousarray(f(mask)), np.ascontiguousarray(f(dark))
        rows = layout.detect_rows(m, d, px_per_mm, grid_level)
        out.append(Orientation(name, sum(pulse_weight(r.pulse, px_per_mm) for r in rows), tuple(rows)))
        if len(out) == 2 and name == "mirrored left-right" and decisive(out):
            break
    return sorted(out, key=lambda o: -o.votes)


def decisive(cands: list[Orientation]) -> bool:
    """True when the pulses alone settle the orientation: at least 2 votes and at least twice the runner-up's."""
    if not cands:
        return False
    second = cands[1].votes if len(cands) > 1 else 0.0
    return cands[0].votes >= 2.0 and cands[0].votes >= 2.0 * second + 1.0


def limb_consistency(signals_mv: np.ndarray) -> float:
    """Correlation of aVR + aVL with -aVF where all three were printed at the same time (Einthoven: the sum of the
    augmented limb leads is zero); NaN when they do not overlap for 0.4 s. Upright photos: 0.15-0.95 (median 0.75,
    n=30 Paper2Pulse); the same photos read turned or mirrored mostly score below 0.3."""
    idx = [LEADS.index(k) for k in ("aVR", "aVL", "aVF")]
    s = signals_mv[:, idx].astype(np.float64)
    ok = np.isfinite(s).all(1)
    if ok.sum() < 200:
        return float("nan")
    s = s[ok] - s[ok].mean(0)
    x, y = s[:, 0] + s[:, 1], -s[:, 2]
    den = float(np.sqrt((x @ x) * (y @ y)))
    return float(x @ y / den) if den > 1e-12 else float("nan")


def labels_read(flat: np.ndarray, lay, px_per_mm: float, n: int = 4) -> int:
    """How many of the first ``n`` lead boxes of the top row of ``lay`` (a types.Layout) carry their own printed
    name (OCR) in ``flat``, printed below the baseline at the box start (the project's renderer, many carts) or
    above it just left of the box start (ECG-Image-Kit, GE/Philips-style prints): an upright page reads "I", "aVR",
    "V1", "V4"; a turned page's glyphs are unreadable. 0 without the OCR binary."""
    from device.ecg import ocr

    if not ocr.available():
        return 0
    p = px_per_mm
    boxes = sorted((b for b in lay.boxes if b.row == 0), key=lambda b: b.x0)[:n]
    got = 0
    for b in boxes:
        below = ocr.read_label(flat, (int(b.x0 - 3 * p), int(b.baseline_y + 0.5 * p), int(b.x0 + 14 * p),
                                      int(b.baseline_y + 9 * p)))
        # above the baseline only names of 2+ characters count: a separator tick or a QRS spike reads as "I"
        got += below == b.lead or (len(b.lead) >= 2 and b.lead in _read_words(
            flat, (b.x0 - 6 * p, b.baseline_y - 9 * p, b.x0 + 8 * p, b.baseline_y - 1 * p)))
    return got


def _read_words(rgb: np.ndarray, box: tuple[float, float, float, float]) -> set[str]:
    """Lead names OCR reads in ``box`` (x0, y0, x1, y1 px) of ``rgb``: ink darker than halfway between the paper
    and the darkest pixel (grid dots and lines drop out), a white margin, tesseract reading a block of text."""
    import cv2

    from device.ecg import ocr

    x0, y0, x1, y1 = (max(0, int(v)) for v in box)
    crop = rgb[y0:y1, x0:x1]
    if crop.size == 0:
        return set()
    g = crop.max(axis=2).astype(np.float32)     # red grid turns light, black text stays dark
    bw = np.where(g < (float(np.median(g)) + float(g.min())) / 2.0, 0, 255).astype(np.uint8)
    if (bw == 0).mean() < 0.01:
        return set()
    big = cv2.copyMakeBorder(cv2.resize(bw, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC), 20, 20, 20, 20,
                             cv2.BORDER_CONSTANT, value=255)
    ok, png = cv2.imencode(".png", cv2.GaussianBlur(big, (3, 3), 0))
    if not ok:
        return set()
    return ocr.read_block_leads(png.tobytes())


# --- the page as given, when no calibration pulse settles it (cropped printouts) ------------------------------------
# Each cue votes +1 (the page reads upright as given), -1 (it reads like a turned page) or 0 (cannot tell). The cues
# see different things: the limb-lead relations (Einthoven) fail when columns are swapped (mirror, 180 degrees) but
# not when the rows are flipped top-bottom; QRS polarity fails when traces are inverted (180 degrees, upside down) but
# not on a mirror image; the printed lead names fail on all three.
CUE_LIMB_FOR, CUE_LIMB_AGAINST = 0.4, 0.1      # the weaker of the two limb-lead relations (correlation)
# ... and the page as given must fit them this much better than read mirrored or turned 180 degrees (the turns the
# limb leads see): ECG-Image-Kit ecg00035 fed turned 180 degrees fit 0.71 as given, 0.58 mirrored and 0.42 turned
# back, and was read as given (both cues agreed, the QRS polarity at 0.49); upright pages the cues accept fit by a
# margin of 0.34-0.96 (n=7, ECG-Image-Kit)
CUE_LIMB_MARGIN = 0.25
CUE_POLARITY_FOR, CUE_POLARITY_AGAINST = 0.25, -0.1  # mean signed R-wave asymmetry of II, V5, V6 and -aVR


def limb_relations(signals_mv: np.ndarray) -> float:
    """The lower of corr(aVR + aVL, -aVF) and corr(II, I + III) over the samples where each set was printed
    together; NaN when neither overlaps for 0.4 s. The lower, because a 3x4 page read mirrored or turned 180 degrees
    puts V4-V6 (alike) in the boxes of I-III, so II ~ I + III alone holds there too; the augmented leads then hold
    V1-V3 and fail."""
    def corr(a: np.ndarray, b: np.ndarray) -> float:
        ok = np.isfinite(a) & np.isfinite(b)
        if ok.sum() < 200:
            return float("nan")
        x, y = a[ok] - a[ok].mean(), b[ok] - b[ok].mean()
        den = float(np.sqrt((x @ x) * (y @ y)))
        return float(x @ y / den) if den > 1e-12 else float("nan")

    s = signals_mv.astype(np.float64)
    ix = {k: LEADS.index(k) for k in ("I", "II", "III", "aVR", "aVL", "aVF")}
    r = [corr(s[:, ix["aVR"]] + s[:, ix["aVL"]], -s[:, ix["aVF"]]), corr(s[:, ix["II"]], s[:, ix["I"]] + s[:, ix["III"]])]
    r = [v for v in r if np.isfinite(v)]
    return float(min(r)) if r else float("nan")


def qrs_polarity(signals_mv: np.ndarray) -> float:
    """Mean signed asymmetry (up - down) / (up + down) of the trace about its median in II, V5, V6 and minus aVR:
    R waves point up in II/V5/V6 and down in aVR on nearly every upright ECG, so this is positive on an upright page
    and negative on one turned 180 degrees or upside down (traces inverted). NaN when fewer than 2 are printed."""
    vals = []
    for lead, sign in (("II", 1), ("V5", 1), ("V6", 1), ("aVR", -1)):
        x = signals_mv[:, LEADS.index(lead)].astype(np.float64)
        x = x[np.isfinite(x)]
        if x.size < 200:
            continue
        x = x - np.median(x)
        up, down = float(np.percentile(x, 99.5)), -float(np.percentile(x, 0.5))
        if up + down > 1e-6:
            vals.append(sign * (up - down) / (up + down))
    return float(np.mean(vals)) if len(vals) >= 2 else float("nan")


def as_given_votes(signals_mv: np.ndarray, labels_given: int, labels_other: int,
                   limb_turned: float = float("nan")) -> dict[str, int]:
    """The cues' votes on a page read as given (``signals_mv`` its reading; ``labels_given``/``labels_other`` lead
    names read by OCR on it and at most on any other orientation; ``limb_turned`` the best limb_relations of the page
    read mirrored or turned 180 degrees, NaN when not read: within CUE_LIMB_MARGIN of it the limb leads do not vote
    for the page as given, the evidence being ambiguous)."""
    def vote(v: float, lo: float, hi: float) -> int:
        return 0 if not np.isfinite(v) else 1 if v >= hi else -1 if v < lo else 0

    limb = limb_relations(signals_mv)
    limb_vote = vote(limb, CUE_LIMB_AGAINST, CUE_LIMB_FOR)
    if limb_vote > 0 and np.isfinite(limb_turned) and limb < limb_turned + CUE_LIMB_MARGIN:
        limb_vote = 0
    return {"limb leads": limb_vote,
            "QRS polarity": vote(qrs_polarity(signals_mv), CUE_POLARITY_AGAINST, CUE_POLARITY_FOR),
            # one name alone is no evidence: "I", "II", "III" read the same mirrored or turned 180 degrees (a
            # mirrored ECG-Image-Kit page read 1 name, its upright reading 0)
            "lead names": (1 if labels_given >= 2 and labels_given > labels_other else
                           -1 if labels_other >= 2 and labels_other > labels_given else 0)}


# A page whose orientation the calibration pulses settled is checked against its limb leads: when they fit it poorly
# (limb_relations below PULSE_LIMB_DOUBT) the other ways up are read too, and one that fits them at least
# PULSE_LIMB_BETTER better (and at least CUE_LIMB_FOR) contradicts the pulses. Upright pulse-decided pages read
# their limb leads at 0.2-0.95; a mirror image of one scores below 0 (ECG-Image-Kit ecg00012 mirrored: -0.44).
PULSE_LIMB_DOUBT, PULSE_LIMB_BETTER = 0.1, 0.4


def pulses_contradicted(limb_pulses: float, limb_others: dict[str, float]) -> str | None:
    """Why the limb leads contradict the pulses' orientation (``limb_pulses`` its limb_relations, ``limb_others``
    those of the other ways up read), or None when they do not."""
    lp = limb_pulses if np.isfinite(limb_pulses) else -1.0
    for name, v in sorted(limb_others.items(), key=lambda kv: -(kv[1] if np.isfinite(kv[1]) else -9)):
        if np.isfinite(v) and v >= CUE_LIMB_FOR and v >= lp + PULSE_LIMB_BETTER:
            return (f"the limb leads (Einthoven: II = I + III, aVR + aVL + aVF = 0) fit the page {name} "
                    f"({v:.2f} against {lp:.2f})")
    return None


def upright_as_given(votes: dict[str, int]) -> bool:
    """Two cues that see different turns agree that the page reads upright, and none says otherwise. The limb leads
    and the QRS polarity see different turns (mirror vs inversion); the lead names see both."""
    agree = {k for k, v in votes.items() if v > 0}
    sees_mirror = bool(agree & {"limb leads", "lead names"})
    sees_inversion = bool(agree & {"QRS polarity", "lead names"})
    return len(agree) >= 2 and sees_mirror and sees_inversion and not any(v < 0 for v in votes.values())
