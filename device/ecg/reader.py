"""Photo or scan -> digitised 12-lead ECG (the pipeline of rectify, grid, layout, digitise).

``read_ecg_image`` is the entry point; ``redigitise`` re-runs the last step with lead boxes and a calibration a
person corrected (the UI's correction tool), on the same flattened image.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np

from device.ecg import digitise, grid, layout, orientation, rectify, traces, validity
from device.ecg.types import (
    FS_HZ,
    LEADS,
    N_SAMPLES,
    Calibration,
    EcgReading,
    Layout,
    LeadBox,
    Quality,
    Rectified,
)
from device.errors import InputError

PX_PER_MM = 8.0  # resolution of the flattened image
MIN_SHARPNESS = 15.0
# The tick-based time origin comes out 5-6 samples (0.275 mm) early on the project's own renderings, whose ticks
# sit exactly on the lead boundary (measured on synthetic pages, seeds 1-3; not on any evaluation photo).
TICK_BIAS_MM = 0.275
# without decisive calibration pulses, the printed lead names (OCR) settle the orientation when 2 or more are read
# in one orientation only; else the page may be confirmed as given (never turned): orientation.upright_as_given
MIN_TURN_CONSISTENCY = 0.3  # a page turned on the pulses' word must also obey Einthoven this well
# quality factor of a page that had to be turned: by decisive calibration pulses (True) or by the limb leads (False)
ORIENT_CERTAINTY = {True: 0.9, False: 0.75}
QUARTER_TICKS_ONLY = True  # _quarter_ticks: 6x2 vs 3x4+3 on the ticks at 2.5 and 7.5 s only


@dataclass(frozen=True)
class GridStage:
    """Result of flattening: ``flat`` uint8 image at PX_PER_MM; ``grid_px`` line spacing in it (None: no grid);
    ``photo_px_per_mm_x/y`` the grid as measured on the rectified photo; ``cover`` share of the sheet flattened."""

    flat: np.ndarray
    grid_px: float | None
    found: bool
    period_mm: float
    photo_px_per_mm_x: float = 0.0
    photo_px_per_mm_y: float = 0.0
    cover: float = 0.0
    confirmed: float = 1.0


def _grid_stage(rect: Rectified) -> GridStage:
    """Flatten on the grid, looked for as red ink first, then as any colour, then as grey lines."""
    for _name, fn in grid.GRID_MAPS:
        red = fn(rect.image)
        px, py, strength = grid.grid_period(red)
        if px > 0 and strength >= 0.15:
            break
    else:
        return GridStage(rect.image, None, False, 0.0)
    h, w = rect.image.shape[:2]
    period_mm = 5.0 if w / px < 120 else 1.0
    step = 1 if period_mm == 5.0 else 5
    mesh, conf = grid.grid_mesh(red, px * step, py * step)
    flat, _ = grid.flatten(rect.image, mesh, conf, period_mm * step, PX_PER_MM)  # InputError("no grid") if unsure
    sheet_mm2 = (h * period_mm / py) * (w * period_mm / px)
    cover = float(min(1.0, flat.shape[0] * flat.shape[1] / PX_PER_MM ** 2 / max(sheet_mm2, 1.0)))
    return GridStage(flat, PX_PER_MM * period_mm, True, period_mm, px / period_mm, py / period_mm, cover,
                     grid.confirmed_share(conf))


def speed_from_pulses(widths_mm: list[float]) -> float:
    """Paper speed from the 1 mV calibration pulses, which last 0.2 s: 5 mm wide at 25 mm/s, 10 mm at 50 mm/s.
    25 mm/s (the usual speed) unless most pulses are 10 mm wide."""
    n25 = sum(1 for w in widths_mm if 3.5 <= w <= 6.5)
    n50 = sum(1 for w in widths_mm if 8.5 <= w <= 11.5)
    return 50.0 if n50 > n25 else 25.0


def _calibrate(rows: list[layout.Row], px_per_mm: float, speed: float | None, gain: float | None,
               grid_found: bool) -> tuple[Calibration, list[str]]:
    warns: list[str] = []
    pulses = [r.pulse for r in rows if r.pulse]
    if speed is None:
        speed = speed_from_pulses([(p[1] - p[0]) / px_per_mm for p in pulses])
        if speed == 50.0:
            warns.append("calibration pulse is 10 mm wide: paper speed read as 50 mm/s")
    # only clean pulses (0.2 s wide at the paper speed) are trusted for the gain
    clean = [p for p in pulses if 0.14 * speed <= (p[1] - p[0]) / px_per_mm <= 0.26 * speed]
    heights = [(p[3] - p[2]) / px_per_mm for p in clean]
    pulse_found = bool(clean)
    if gain is None:
        if heights:
            h = float(np.median(heights))
            gain = 5.0 if abs(h - 5.0) < 1.0 else 20.0 if abs(h - 20.0) < 4.0 else 10.0
            if abs(h - gain) / gain > 0.25:
                warns.append(f"calibration pulse is {h:.1f} mm tall, not a standard gain; using {gain:g} mm/mV")
        else:
            gain = 10.0
            warns.append("no 1 mV calibration pulse found; assuming 10 mm/mV")
    return Calibration(px_per_mm_x=px_per_mm, px_per_mm_y=px_per_mm, speed_mm_s=speed, gain_mm_mv=gain,
                       grid_found=grid_found, pulse_found=pulse_found,
                       source="grid" if grid_found else "assumed"), warns


def digitise_boxes(mask: np.ndarray, dark: np.ndarray, lay: Layout, cal: Calibration,
                   origins: dict[int, float]) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """Signals (5000, 12) float32 mV and the per-box polylines. ``origins`` row -> x px of t = 0."""
    sig = np.full((N_SAMPLES, len(LEADS)), np.nan, np.float32)
    polys = []
    per_box = []
    for b in lay.boxes:
        poly = digitise.track(mask, b, cal.px_per_mm_x, dark)
        polys.append(poly)
        per_box.append(digitise.to_samples(poly, b, origins.get(b.row, b.x0 - b.t0_s * cal.px_per_s),
                                           cal.px_per_s, cal.px_per_mv))
    # the longest printing of a lead wins (a rhythm strip is one continuous record); shorter ones fill gaps
    for k in sorted(range(len(lay.boxes)), key=lambda k: -(lay.boxes[k].t1_s - lay.boxes[k].t0_s)):
        j = LEADS.index(lay.boxes[k].lead)
        s = per_box[k]
        fill = np.isfinite(s) & ~np.isfinite(sig[:, j])
        sig[fill, j] = s[fill]
    return sig, tuple(polys)


def read_ecg_image(image: np.ndarray, *, speed_mm_s: float | None = None, gain_mm_mv: float | None = None,
                   rhythm_leads: tuple[str, ...] | None = None) -> EcgReading:
    """Digitise a photographed or scanned 12-lead ECG.

    ``image`` uint8 (H, W, 3) RGB. ``speed_mm_s``/``gain_mm_mv`` override what is read from the printout.
    Raises InputError with ``step`` in {"no paper found", "no grid", "too blurred", "no traces"}."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise InputError("the image must be an RGB uint8 array (H, W, 3)", step="load")
    t = {"start": time.perf_counter()}
    rect = rectify.rectify(image)
    t["rectify"] = time.perf_counter()
    try:
        gs = _grid_stage(rect)
    except InputError:
        sharp0 = traces.sharpness(rect.image[::2, ::2])
        if sharp0 < MIN_SHARPNESS and float(rect.image[::4, ::4].std()) > 8.0:
            raise InputError(f"too blurred: the photo is out of focus (sharpness {sharp0:.0f}); hold still, tap to "
                             "focus and retake", step="too blurred") from None
        raise
    flat, grid_px, grid_found = gs.flat, gs.grid_px, gs.found
    t["grid"] = time.perf_counter()
    if grid_found:
        validity.check_colour(image)
    ppmm = min(gs.photo_px_per_mm_x, gs.photo_px_per_mm_y)
    if grid_found:
        validity.check_resolution(ppmm)
    sharp = traces.sharpness(flat[::2, ::2])
    if not grid_found:
        # a blurred printout still has contrast (grid colour, traces); a blank sheet has none
        contrast = float(flat[::4, ::4].std())
        if sharp < MIN_SHARPNESS and contrast > 8.0:
            raise InputError(f"too blurred: the photo is out of focus (sharpness {sharp:.0f}); hold still, tap to "
                             "focus and retake", step="too blurred")
        raise InputError("no grid: no ECG grid could be found on the paper; photograph the printout flat with "
                         "the whole grid visible", step="no grid")
    if sharp < MIN_SHARPNESS:
        raise InputError(f"too blurred: the photo is out of focus (sharpness {sharp:.0f}); hold still, tap to "
                         "focus and retake", step="too blurred")
    mask, dark = traces.trace_mask(flat, PX_PER_MM, grid_px)
    t["mask"] = time.perf_counter()
    glevel = traces.grid_darkness(dark, grid_px)
    att = _read_upright(flat, mask, dark, glevel, gs, speed_mm_s, gain_mm_mv, rhythm_leads)
    flat, lay, cal, sig, polys, warns = att.flat, att.layout, att.calibration, att.signals, att.polys, att.warnings
    t["layout+digitise"] = time.perf_counter()
    cover = _coverage(sig, lay)
    if cover < 0.5:
        warns.append(f"only {cover:.0%} of the printed time could be traced; check the overlay")
    res_factor = validity.resolution_factor(ppmm)
    quality = Quality(sharpness=sharp, trace_coverage=cover,
                      score=float(np.clip(cover, 0, 1) * min(1.0, sharp / 100.0) ** 0.25 * res_factor
                                  * att.certainty))
    rect_out = replace(rect, image=flat)
    keys = list(t)
    timings = {k: (t[k] - t[keys[i - 1]]) * 1e3 for i, k in enumerate(keys) if i}
    return EcgReading(signals_mv=sig, fs_hz=FS_HZ, lead_names=LEADS, layout=lay, calibration=cal,
                      rectified=rect_out, traces_px=polys, quality=quality, warnings=tuple(warns),
                      timings_ms=timings)


@dataclass(frozen=True)
class _Attempt:
    """The page read in one orientation (``flat`` turned upright)."""

    orientation: str
    flat: np.ndarray
    rows: list
    layout: Layout
    calibration: Calibration
    signals: np.ndarray
    polys: tuple
    warnings: list
    votes: float
    consistency: float
    certainty: float = 1.0  # 1 upright; lower when the page had to be turned (more so on the limb leads alone)


def _read_upright(flat: np.ndarray, mask: np.ndarray, dark: np.ndarray, glevel: float, gs: GridStage,
                  speed_mm_s: float | None, gain_mm_mv: float | None,
                  rhythm_leads: tuple[str, ...] | None) -> _Attempt:
    """Find which way up the page is (orientation.py), turn it upright and read it.

    Calibration pulses settle most pages at once; otherwise every orientation with printed rows is read and the one
    whose limb leads obey Einthoven's law wins. A page whose orientation stays undecided is refused."""
    cands = orientation.pulse_votes(mask, dark, PX_PER_MM, glevel)
    by_pulses = orientation.decisive(cands)
    tries = cands[:1] if by_pulses else [c for c in cands if c.n_rows >= 3] or cands[:1]
    if by_pulses and tries[0].name != "upright":
        # before turning a page, let its printed lead names (OCR) speak for the page as given: a pulse cut off at
        # the left edge and the row ends on the right once outvoted the upright reading (ECG-Image-Kit crops)
        tries += [c for c in cands if c.name == "upright" and c.n_rows >= 3]
    errors: list[InputError] = []

    def read_all(cs: list[orientation.Orientation]) -> list[_Attempt]:
        out = []
        for c in cs:
            f = orientation.ORIENTATIONS[c.name]
            try:
                out.append(_read_oriented(c, *(np.ascontiguousarray(f(a)) for a in (flat, mask, dark)), glevel, gs,
                                          speed_mm_s, gain_mm_mv, rhythm_leads))
            except InputError as exc:
                errors.append(exc)
        return out

    done = read_all(tries)
    if not done:
        raise errors[0]

    def score(x: _Attempt) -> float:
        return (x.consistency if np.isfinite(x.consistency) else -1.0) + 0.3 * x.votes

    if not by_pulses:
        done.sort(key=score, reverse=True)
    best = done[0]
    if by_pulses and best.orientation != "upright" and not best.consistency >= MIN_TURN_CONSISTENCY:
        done = [a for a in done if a.orientation == "upright"]   # the limb leads do not back the turn
        if not done:
            raise InputError("cannot tell which way up the printout is (the calibration pulses and the limb leads "
                             "disagree); photograph the page upright, not mirrored, with the calibration pulses at "
                             "the left", step="orientation")
        best, by_pulses = done[0], False
    if by_pulses and not orientation.limb_relations(best.signals) >= orientation.PULSE_LIMB_DOUBT:
        # pulses whose page the limb leads do not back: read the other ways up; a far better fit, or printed lead
        # names, contradict the pulses (ECG-Image-Kit ecg00012 prints its pulses at the right end: mirrored, they
        # stood at the left pointing up and the page was read mirrored, limb leads -0.44)
        done += read_all([c for c in cands if c.n_rows >= 3 and c.name != best.orientation])
    labels = {a.orientation: orientation.labels_read(a.flat, a.layout, a.calibration.px_per_mm_x)
              for a in done} if len(done) > 1 else {}
    ranked = sorted(labels.items(), key=lambda kv: -kv[1])
    if ranked and ranked[0][1] >= 2 and ranked[0][1] > ranked[1][1]:
        best = next(a for a in done if a.orientation == ranked[0][0])   # the printed lead names settle it
    elif by_pulses and (why := orientation.pulses_contradicted(
            orientation.limb_relations(best.signals),
            {a.orientation: orientation.limb_relations(a.signals) for a in done if a is not best})):
        raise InputError(f"cannot tell which way up the printout is: the calibration pulses say it is "
                         f"{best.orientation}, but {why}; photograph the page upright, not mirrored",
                         step="orientation")
    elif not by_pulses:
        # the page as given, when two cues that see different turns agree and none contradicts
        # (orientation.as_given_votes); the limb leads alone once took a mirrored and an upside-down ECG-Image-Kit
        # page as upright (Einthoven holds on a page flipped top-bottom), and they never turn a page
        up = next((a for a in done if a.orientation == "upright"), None)
        turned = [v for v in (orientation.limb_relations(a.signals) for a in done
                              if a.orientation in orientation.LIMB_SEES) if np.isfinite(v)]
        if up is None or not orientation.upright_as_given(orientation.as_given_votes(
                up.signals, labels.get("upright", 0), max((v for k, v in labels.items() if k != "upright"),
                                                          default=0), max(turned, default=float("nan")))):
            raise InputError("cannot tell which way up the printout is (no calibration pulse found, and the limb "
                             "leads and QRS directions do not settle it); photograph the page upright, not mirrored, "
                             "with the calibration pulses at the left", step="orientation")
        best = up
    if best.orientation != "upright":
        best = replace(best, certainty=ORIENT_CERTAINTY[by_pulses])
        best.warnings.insert(0, f"the page was {best.orientation}: it was turned upright before reading; check "
                                "the lead names on the overlay")
    return best


def _read_oriented(cand: orientation.Orientation, flat: np.ndarray, mask: np.ndarray, dark: np.ndarray,
                   glevel: float, gs: GridStage, speed_mm_s: float | None, gain_mm_mv: float | None,
                   rhythm_leads: tuple[str, ...] | None) -> _Attempt:
    """Rows, calibration, layout and traces of a page already turned to ``cand``."""
    grid_found, grid_cover = gs.found, gs.cover
    rows = list(cand.rows)
    cal, warns = _calibrate(rows, PX_PER_MM, speed_mm_s, gain_mm_mv, grid_found)
    cal = replace(cal, photo_px_per_mm_x=gs.photo_px_per_mm_x, photo_px_per_mm_y=gs.photo_px_per_mm_y)
    if cand.name in orientation.QUARTER_TURNS:
        cal = replace(cal, photo_px_per_mm_x=gs.photo_px_per_mm_y, photo_px_per_mm_y=gs.photo_px_per_mm_x)
    validity.check_complete(rows, cal)
    if gs.confirmed < grid.WARN_CONFIRMED:
        warns.append(f"the grid was seen at only {gs.confirmed:.0%} of its crossings (folds, shadow or a faint "
                     "grid): check the traces on the overlay")
    origins = _origins(rows, PX_PER_MM)
    if len(rows) in (3, 4, 5, 6) and rows:
        # 3x4 rows: the separator ticks (interior of the page, where the flattening is best) refine t = 0
        base = float(np.median(list(origins.values())))
        x_t, n_t = layout.tick_origin(mask, rows, base, cal.px_per_s, PX_PER_MM,
                                      seg_s=min(10.0, 250.0 / cal.speed_mm_s) / 4)
        x_t += TICK_BIAS_MM * PX_PER_MM
        if n_t >= 3:
            origins = {i: x_t for i in origins}  # every row of a printout starts at the same instant
    rows = [replace(r, x0=origins[i]) for i, r in enumerate(rows)]
    three_by_four = len(rows) != 6 or _quarter_ticks(mask, rows, origins, cal) or layout.quarter_label(flat, rows, cal)
    try:
        lay = layout.assign_layout(rows, cal.px_per_mm_x, cal.speed_mm_s, rhythm_leads, three_by_four)
    except InputError as exc:
        if grid_cover < 0.6:
            raise InputError(f"{exc} (the grid could be followed over only {grid_cover:.0%} of the sheet: "
                             "folds, shadow or a faint grid; flatten the paper and light it evenly)",
                             step=exc.step) from None
        raise
    if rhythm_leads is None:
        lay = layout.name_rhythm_strips(flat, lay, PX_PER_MM)
    if lay.name not in ("3x4+1", "3x4+3", "3x4", "6x2", "12x1"):
        warns.append(f"unusual layout ({len(rows)} rows read as {lay.name}): check the lead boxes on the overlay")
    sig, polys = digitise_boxes(layout.erase_labels(mask, lay, PX_PER_MM), dark, lay, cal, origins)
    printed = [np.isfinite(sig[:, j]).any() for j in range(len(LEADS))]
    if not any(printed):
        raise InputError("no traces: no trace could be followed in any lead box", step="no traces")
    return _Attempt(cand.name, flat, rows, lay, cal, sig, polys, warns, cand.votes,
                    orientation.limb_consistency(sig))


def _origins(rows: list[layout.Row], px_per_mm: float) -> dict[int, float]:
    """t = 0 of each row: rows printed together start at the same x, so use the median start of the rows whose
    calibration pulse was found (each row's own start when it is far from that)."""
    xs = [r.x0 for r in rows if r.pulse is not None] or [r.x0 for r in rows]
    x_med = float(np.median(xs))
    pulsed = any(r.pulse is not None for r in rows)
    return {i: (x_med if pulsed or abs(r.x0 - x_med) < 3 * px_per_mm else r.x0) for i, r in enumerate(rows)}


def _quarter_ticks(mask: np.ndarray, rows: list[layout.Row], origins: dict[int, float], cal: Calibration) -> bool:
    """True when the top rows have separator ticks at 2.5 and 7.5 s (a 3x4 block), not only at 5 s (6x2).
    QUARTER_TICKS_ONLY: count only the ticks at 2.5 and 7.5 s (3 of 6 needed); else any 4 of the 9 at 2.5, 5 and
    7.5 s, which a 6x2 page's three 5-s ticks and one QRS stroke near 2.5 s satisfied (fold 1-8 renderings)."""
    x0 = float(np.median(list(origins.values())))
    ks = (1, 3) if QUARTER_TICKS_ONLY else (1, 2, 3)
    _, n = layout.tick_origin(mask, rows, x0, cal.px_per_s, cal.px_per_mm_x,
                              seg_s=min(10.0, 250.0 / cal.speed_mm_s) / 4, ks=ks)
    return n >= (3 if QUARTER_TICKS_ONLY else 4)


def _coverage(sig: np.ndarray, lay: Layout) -> float:
    tot, got = 0, 0
    for b in lay.boxes:
        i0, i1 = int(b.t0_s * FS_HZ), min(N_SAMPLES, int(b.t1_s * FS_HZ))
        tot += i1 - i0
        got += int(np.isfinite(sig[i0:i1, LEADS.index(b.lead)]).sum())
    return got / max(1, tot)


def redigitise(reading: EcgReading, boxes: tuple[LeadBox, ...] | list[LeadBox],
               calibration: Calibration | None = None) -> EcgReading:
    """Re-run the digitisation on ``reading.rectified.image`` with corrected ``boxes`` (pixel coordinates of that
    image; each box's ``x0`` is taken as its ``t0_s``) and optionally a corrected ``calibration``."""
    if not boxes:
        raise InputError("no lead boxes given; place at least one box over a printed lead", step="layout")
    for b in boxes:
        if b.lead not in LEADS:
            raise InputError(f"unknown lead '{b.lead}'; use one of {', '.join(LEADS)}", step="layout")
        if b.x1 <= b.x0 or b.y1 <= b.y0 or b.t1_s <= b.t0_s:
            raise InputError(f"the box for lead {b.lead} is empty; drag it over the trace", step="layout")
    cal = calibration or reading.calibration
    flat = reading.rectified.image
    grid_px = cal.px_per_mm_x * 5.0 if cal.grid_found else None
    mask, dark = traces.trace_mask(flat, cal.px_per_mm_x, grid_px)
    lay = Layout(name=reading.layout.name, boxes=tuple(boxes), label_source="user")
    origins: dict[int, float] = {}
    sig = np.full((N_SAMPLES, len(LEADS)), np.nan, np.float32)
    polys = []
    for b in lay.boxes:
        poly = digitise.track(mask, b, cal.px_per_mm_x, dark)
        polys.append(poly)
        s = digitise.to_samples(poly, b, b.x0 - b.t0_s * cal.px_per_s, cal.px_per_s, cal.px_per_mv)
        j = LEADS.index(b.lead)
        fill = np.isfinite(s) & ~np.isfinite(sig[:, j])
        sig[fill, j] = s[fill]
    del origins
    cover = _coverage(sig, lay)
    q = Quality(sharpness=reading.quality.sharpness, trace_coverage=cover, score=float(np.clip(cover, 0, 1)))
    return replace(reading, signals_mv=sig, layout=lay, calibration=cal, traces_px=tuple(polys), quality=q,
                   warnings=tuple(w for w in reading.warnings if "calibration" not in w))
