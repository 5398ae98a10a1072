"""Training data for ``ecg_screen``: printouts rendered by ``device.sim.ecg_paper`` from real records (Paper2Pulse /
PTB-XL signals, PhysioNet/Chapman 12-lead records in ../shared/data) and from synthetic ECGs, turned into the
model's inputs exactly as on the cart (``device.ecg.screen_model``)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from device.ecg.measure import measure
from device.ecg.screen_model import beat_matrix, global_image, ink_map
from device.sim import ecg_paper

KINDS_ABNORMAL = ("afib", "wide_qrs", "st_elevation", "t_inversion", "lvh", "brady", "tachy")


@dataclass(frozen=True)
class Source:
    """A 10-s 12-lead signal (5000, 12) mV with its label (1 = abnormal) and a group id for leave-out splits."""

    name: str
    signals_mv: np.ndarray
    label: int
    group: str


def real_sources(data: Path) -> list[Source]:
    """Paper2Pulse signals (labels.csv: abnormal unless the superclasses are NORM alone) + other 12-lead records."""
    out = []
    p2p = data / "ecg-photos-paper2pulse"
    if p2p.is_dir():
        for row in csv.DictReader(open(p2p / "labels.csv")):
            rec = row["record"]
            sig = ecg_paper.record_signals(p2p / "signals" / f"{rec}.hea")
            ab = int(any(x.strip() != "NORM" for x in row["labels"].split(",")))
            out.append(Source(rec, sig, ab, f"p2p:{rec}"))
    kit = data / "ecg-images-ecg-image-kit" / "paired_generated_at_27cc68e"
    extra = [(kit / "12lead" / "JS00001.hea", 1, 0.0),  # Dx: atrial fibrillation (164889003)
             (kit / "PTB_XL_data" / "00001_lr.hea", 0, 0.0)]  # PTB-XL ecg_id 1: NORM, sinus rhythm
    ptb = data / "ecg-records-physionet" / "s0010_re.hea"  # PTB diagnostic: myocardial infarction
    extra += [(ptb, 1, s) for s in (0.0, 10.0, 20.0)]
    for hea, lab, start in extra:
        if hea.exists():
            out.append(Source(f"{hea.stem}@{start:g}", ecg_paper.record_signals(hea, start), lab, f"other:{hea.stem}"))
    return out


def synthetic_sources(n: int, seed: int) -> list[Source]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        if i % 2 == 0:
            out.append(Source(f"syn{i}", ecg_paper.synthetic_ecg(rng), 0, f"syn:{i}"))
        else:
            kind = KINDS_ABNORMAL[(i // 2) % len(KINDS_ABNORMAL)]
            out.append(Source(f"syn{i}-{kind}", ecg_paper.synthetic_ecg(rng, kind=kind), 1, f"syn:{i}"))
    return out


def as_printed(sig: np.ndarray) -> np.ndarray:
    """What a 3x4 + II printout shows: each lead's 2.5-s column, lead II for 10 s; NaN elsewhere."""
    t = np.full_like(sig, np.nan)
    for leads in ecg_paper.ROWS_3x4:
        for k, lead in enumerate(leads):
            j = ecg_paper.LEADS.index(lead)
            t[k * 1250 : (k + 1) * 1250, j] = sig[k * 1250 : (k + 1) * 1250, j]
    t[:, 1] = sig[:, 1]
    return t


def _degrade_signal(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Digitiser-like errors: amplitude scale, per-segment offset, noise, slight smoothing."""
    y = x * rng.uniform(0.85, 1.1) + rng.normal(0, rng.uniform(0.005, 0.03), x.shape)
    k = int(rng.integers(1, 4))
    if k > 1:
        ker = np.ones(k) / k
        y = np.apply_along_axis(lambda c: np.convolve(np.nan_to_num(c), ker, "same"), 0, y) + 0 * y
    return y.astype(np.float32)


def _degrade_image(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    light = 1.0 - rng.uniform(0, 0.3) * (rng.uniform(-1, 1) * xx / w + rng.uniform(-1, 1) * yy / h)
    out = np.clip(img.astype(np.float32) * light[..., None] + rng.normal(0, rng.uniform(1, 6), img.shape), 0, 255)
    out = cv2.GaussianBlur(out.astype(np.uint8), (0, 0), rng.uniform(0.3, 1.2))
    ok, enc = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(60, 95))])
    return cv2.imdecode(enc, cv2.IMREAD_UNCHANGED)


def make_example(src: Source, rng: np.random.Generator, px_per_mm: float = 4.0) -> dict[str, np.ndarray] | None:
    """One training example (model inputs + label) from a source: render the page, degrade it, build the inputs."""
    sig = src.signals_mv
    page = ecg_paper.render(np.nan_to_num(sig), px_per_mm=px_per_mm, rng=rng)
    img = _degrade_image(page.image, rng)
    ink = ink_map(img, px_per_mm)
    sp = 38 * px_per_mm
    box = (page.x0_px - 8 * px_per_mm, page.baselines_px[0] - 0.75 * sp, page.x0_px + 250 * px_per_mm,
           page.baselines_px[-1] + 0.75 * sp)
    jitter = rng.uniform(-3, 3, 4) * px_per_mm
    g = global_image(ink, tuple(np.asarray(box) + jitter))
    printed = _degrade_signal(as_printed(sig), rng)
    m = measure(printed, 500.0)
    if m.n_beats < 2:
        return None
    beats, mask = beat_matrix(printed, m.r_peaks_s, 500.0, rng)
    return {"beats": beats, "beat_mask": mask, "image": g[None], "label": np.int64(src.label)}


def make_digitised_example(src: Source, rng: np.random.Generator) -> dict[str, np.ndarray] | None:
    """One example through the cart's own path: render, photograph (random strength), digitise, build inputs.
    The model then trains on the digitiser's errors, not on simulated ones."""
    from device.ecg.reader import read_ecg_image
    from device.ecg.screen_model import reading_inputs
    from device.errors import InputError

    page = ecg_paper.render(np.nan_to_num(src.signals_mv), px_per_mm=8.0, rng=rng)
    img = ecg_paper.photograph(page.image, rng, strength=float(rng.uniform(0.2, 1.0)))
    try:
        r = read_ecg_image(img)
    except InputError:
        return None
    m = measure(r.signals_mv, r.fs_hz)
    if m.n_beats < 2:
        return None
    x = reading_inputs(r, m.r_peaks_s)
    return {"beats": x["beats"][0], "beat_mask": x["beat_mask"][0], "image": x["image"][0],
            "label": np.int64(src.label)}


def build(sources: list[Source], per_source: int, seed: int, digitised: bool = False) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    ex = []
    for s in sources:
        for _ in range(per_source):
            e = make_digitised_example(s, rng) if digitised else make_example(s, rng)
            if e is not None:
                ex.append(e)
    return {k: np.stack([e[k] for e in ex]) for k in ex[0]}
