"""Per-stage error budget of the paper-ECG digitiser on renderings of real PTB-XL signals with known truth.

Each rendering (device.sim.ecg_paper: layouts 3x4+1, 3x4+3, 6x2, 12x1; 25/50 mm/s; 5/10/20 mm/mV; grid colours;
software photo damage) is read four ways, each handing the pipeline the truth of one more stage:

  A  end to end: the photo through device.ecg.reader.read_ecg_image
  B  oracle rectification + grid: the same light, cast, blur, noise and JPEG applied to the page in its own pixels,
     resampled to the reader's 8 px/mm with the grid at known positions; the reader goes on from its trace mask
  C  B + oracle layout and calibration: the true lead boxes, baselines, t = 0, speed and gain
  D  C + oracle trace pixels: the mask of the trace ink alone (no grid, labels, pulses, other leads' ink damage)
  E  no pipeline: the truth read once per pixel column at the reader's resolution (what a perfect tracker gives)

Per-lead SNR is the PhysioNet 2024 definition (device.ecg.eval_metrics.lead_snr_db, missing output counts as 0 dB);
a reading that fails scores 0 dB on every printed lead. Stage losses are the differences of mean SNR, A-B the
rectification/grid stage, B-C layout + calibration, C-D trace segmentation, D-E the tracker (centre line,
overlapping leads, sampling).

    python -m device.eval.ecg_stages --data ../shared/data [--n 120] [--part 0/2] [--tag base]
    python -m device.eval.ecg_stages --data ../shared/data --summary [--tag base]

Only strat_fold 9-10 records are rendered here (held out from anything tuned on renderings, which uses folds 1-8).
Results are cached per rendering under var/cache/ecg_stages/<tag>/.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from device.ecg import layout, reader, traces
from device.ecg.eval_metrics import lead_snr_db
from device.ecg.types import DURATION_S, LEADS, N_SAMPLES, Calibration, Layout
from device.errors import InputError
from device.sim import ecg_paper

RENDER_PX_PER_MM = 10.0
FLAT_PX_PER_MM = reader.PX_PER_MM
CACHE = Path("var/cache/ecg_stages")
STAGES = ("A", "B", "C", "D")
ALL_STAGES = (*STAGES, "E")
MAX_SHIFT = 50  # +-100 ms at 500 Hz


def records(data: Path, folds: tuple[int, ...]) -> list[tuple[int, Path]]:
    """(ecg_id, header path) of the 500-Hz PTB-XL records in ``folds``."""
    root = data / "ecg-records-ptbxl"
    out = []
    with open(root / "labels.csv", newline="") as f:
        for r in csv.DictReader(f):
            if r["source"] == "ptbxl" and r["fs"] == "500" and int(r["strat_fold"]) in folds:
                out.append((int(r["ecg_id"]), root / (r["record"] + ".hea")))
    return sorted(out)


def config(ecg_id: int) -> dict:
    """The printout of one record (seeded by its id): mostly the usual 3x4+1 at 25 mm/s and 10 mm/mV."""
    rng = np.random.default_rng(1000 + ecg_id)
    lay = str(rng.choice(["3x4+1", "3x4+3", "6x2", "12x1"], p=[0.4, 0.2, 0.2, 0.2]))
    speed = 50.0 if rng.uniform() < 0.2 else 25.0
    gain = float(rng.choice([5.0, 10.0, 20.0], p=[0.2, 0.6, 0.2]))
    if lay == "12x1" and gain == 20.0:
        gain = 10.0  # 15.5-mm rows: 20 mm/mV would print every row over its neighbours
    grid = str(rng.choice(list(ecg_paper.GRID_COLOURS), p=[0.5, 0.1, 0.1, 0.1, 0.1, 0.1]))
    return {"layout": lay, "speed": speed, "gain": gain, "grid": grid, "ink_mm": float(rng.uniform(0.15, 0.35)),
            "strength": float(rng.uniform(0.3, 1.0)), "seed": int(rng.integers(1 << 30))}


def rendering(sig: np.ndarray, cfg: dict) -> tuple[ecg_paper.RenderedPage, np.ndarray, np.ndarray]:
    """(page with truth, photo, page-pixels damage at the reader's resolution)."""
    rng = np.random.default_rng(cfg["seed"])
    page = ecg_paper.render(np.nan_to_num(sig), px_per_mm=RENDER_PX_PER_MM, gain_mm_mv=cfg["gain"],
                            speed_mm_s=cfg["speed"], rng=rng, layout=cfg["layout"], grid=cfg["grid"],
                            ink_mm=cfg["ink_mm"], row_mm=250.0, truth=True)
    dmg = ecg_paper.photo_damage(rng, cfg["strength"])
    photo = ecg_paper.apply_damage(page.image, dmg, np.random.default_rng(cfg["seed"] + 1))
    flat_hi = ecg_paper.apply_damage(page.image, dmg, np.random.default_rng(cfg["seed"] + 1), geometry=False)
    f = FLAT_PX_PER_MM / RENDER_PX_PER_MM
    flat = cv2.resize(flat_hi, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
    return page, photo, flat


def true_layout(page: ecg_paper.RenderedPage, name: str) -> tuple[Layout, dict[int, float]]:
    f = FLAT_PX_PER_MM / RENDER_PX_PER_MM
    boxes = tuple(replace(b, x0=b.x0 * f, x1=b.x1 * f, y0=b.y0 * f, y1=b.y1 * f, baseline_y=b.baseline_y * f)
                  for b in page.boxes)
    return Layout(name, boxes), {b.row: page.x0_px * f for b in page.boxes}


def _empty() -> np.ndarray:
    return np.full((N_SAMPLES, len(LEADS)), np.nan, np.float32)


def read_stages(page: ecg_paper.RenderedPage, photo: np.ndarray, flat: np.ndarray, cfg: dict) -> dict:
    """Signals (5000, 12) of stages A-D and the end-to-end read time."""
    out: dict = {}
    t0 = time.perf_counter()
    try:
        out["A"] = reader.read_ecg_image(photo).signals_mv
    except InputError:
        out["A"] = _empty()
    out["time_s"] = time.perf_counter() - t0
    grid_px = 5.0 * FLAT_PX_PER_MM
    gs = reader.GridStage(flat, grid_px, True, 5.0, RENDER_PX_PER_MM, RENDER_PX_PER_MM, 1.0)
    mask, dark = traces.trace_mask(flat, FLAT_PX_PER_MM, grid_px)
    try:
        out["B"] = reader._read_upright(flat, mask, dark, traces.grid_darkness(dark, grid_px), gs,
                                        None, None, None).signals
    except InputError:
        out["B"] = _empty()
    lay, origins = true_layout(page, cfg["layout"])
    cal = Calibration(FLAT_PX_PER_MM, FLAT_PX_PER_MM, cfg["speed"], cfg["gain"])
    out["C"] = reader.digitise_boxes(layout.erase_labels(mask, lay, FLAT_PX_PER_MM), dark, lay, cal, origins)[0]
    f = FLAT_PX_PER_MM / RENDER_PX_PER_MM
    ink = cv2.resize(page.trace_ink, (flat.shape[1], flat.shape[0]), interpolation=cv2.INTER_AREA) if f != 1 \
        else page.trace_ink
    true_mask = ink > 64
    out["D"] = reader.digitise_boxes(true_mask, ink.astype(np.float32) / 255.0, lay, cal, origins)[0]
    out["E"] = column_sampled(page.printed_mv, cal.px_per_s)
    return out


def column_sampled(printed_mv: np.ndarray, px_per_s: float) -> np.ndarray:
    """The truth read once per pixel column of the flattened image and interpolated back to 500 Hz: what a perfect
    tracker at the reader's resolution could give (stage E, the resolution ceiling)."""
    out = np.full_like(printed_mv, np.nan)
    step = N_SAMPLES / DURATION_S / px_per_s  # samples per column
    for j in range(printed_mv.shape[1]):
        idx = np.flatnonzero(np.isfinite(printed_mv[:, j]))
        for seg in np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1) if idx.size else []:
            at = np.unique(np.round(np.arange(seg[0], seg[-1] + 1, step)).astype(int).clip(seg[0], seg[-1]))
            out[seg, j] = np.interp(seg, at, printed_mv[at, j])
    return out


def score(sig: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """(mean per-lead SNR dB unaligned, with the best global shift within +-100 ms)."""
    s0 = float(np.nanmean(lead_snr_db(sig, truth, 0)))
    best = max(float(np.nanmean(lead_snr_db(sig, truth, k))) for k in range(-MAX_SHIFT, MAX_SHIFT + 1, 2))
    return s0, max(s0, best)


def run(data: Path, n: int, part: tuple[int, int], tag: str) -> None:
    recs = records(data, (9, 10))[:n]
    d = CACHE / tag
    d.mkdir(parents=True, exist_ok=True)
    for k, (ecg_id, hea) in enumerate(recs):
        if k % part[1] != part[0] or (d / f"{ecg_id}.json").exists():
            continue
        cfg = config(ecg_id)
        sig = ecg_paper.record_signals(hea)
        page, photo, flat = rendering(sig, cfg)
        res = read_stages(page, photo, flat, cfg)
        row = {"ecg_id": ecg_id, **cfg, "time_s": res["time_s"]}
        for s in ALL_STAGES:
            row[s], row[s + "_aligned"] = score(res[s], page.printed_mv)
            row[s + "_leads"] = [None if not np.isfinite(v) else round(float(v), 2)
                                 for v in lead_snr_db(res[s], page.printed_mv)]
        (d / f"{ecg_id}.json").write_text(json.dumps(row))
        print(ecg_id, cfg["layout"], " ".join(f"{s}={row[s]:.1f}" for s in STAGES), f"{res['time_s']:.1f}s",
              flush=True)


def _with_ceiling(rows: list[dict]) -> list[dict]:
    """Stage E does not depend on the pipeline: take it from another tag's run of the same rendering if missing."""
    for r in rows:
        if "E" not in r:
            for p in CACHE.glob(f"*/{r['ecg_id']}.json"):
                other = json.loads(p.read_text())
                if "E" in other and other["seed"] == r["seed"]:
                    r["E"], r["E_aligned"] = other["E"], other["E_aligned"]
                    break
    return rows


def summary(tag: str) -> str:
    rows = _with_ceiling([json.loads(p.read_text()) for p in sorted((CACHE / tag).glob("*.json"))])
    if not rows:
        return f"no results under {CACHE / tag}"
    has_e = all("E" in r for r in rows)

    def line(name: str, rs: list[dict]) -> str:
        st = ALL_STAGES if has_e else STAGES
        m = {s: float(np.mean([r[s] for r in rs])) for s in st}
        ma = {s: float(np.mean([r[s + "_aligned"] for r in rs])) for s in st}
        cells = " | ".join(f"{m[s]:.1f} ({ma[s]:.1f})" for s in st)
        loss = " | ".join(f"{m[b] - m[a]:.1f}" for a, b in zip(st, st[1:]))
        return f"| {name} | {len(rs)} | {cells} | {loss} |"

    head = ["A end to end", "B oracle rectify+grid", "C + oracle layout/calibration", "D + oracle trace pixels"]
    loss = ["rectify+grid (B-A)", "layout/calibration (C-B)", "trace segmentation (D-C)"]
    if has_e:
        head.append("E column-sampled truth (resolution ceiling)")
        loss.append("tracker/centre line (E-D)")
    out = [f"| renderings | n | {' | '.join(head)} | {' | '.join('loss ' + x for x in loss)} |",
           "|---" * (2 + len(head) + len(loss)) + "|", line("all", rows)]
    for key in ("layout", "speed", "gain"):
        for v in sorted({r[key] for r in rows}, key=str):
            out.append(line(f"{key} {v:g}" if isinstance(v, float) else f"{key} {v}",
                            [r for r in rows if r[key] == v]))
    out.append(line("grid red", [r for r in rows if r["grid"] == "red"]))
    out.append(line("grid other colours", [r for r in rows if r["grid"] != "red"]))
    t = np.array([r["time_s"] for r in rows])
    fails = sum(1 for r in rows if r["A"] == 0.0)
    out.append(f"\nmean per-lead SNR dB, unaligned (in brackets: one global shift within +-100 ms); end-to-end read "
               f"time median {np.median(t):.2f} s, p90 {np.percentile(t, 90):.2f} s; end-to-end reads that failed "
               f"(0 dB): {fails}/{len(rows)}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--n", type=int, default=120)
    ap.add_argument("--part", default="0/1")
    ap.add_argument("--tag", default="base")
    ap.add_argument("--summary", action="store_true")
    a = ap.parse_args(argv)
    if a.summary:
        print(summary(a.tag))
        return 0
    if not (a.data / "ecg-records-ptbxl" / "labels.csv").exists():
        print(f"no PTB-XL records under {a.data}; pass --data pointing at the shared data folder")
        return 2
    i, k = (int(x) for x in a.part.split("/"))
    run(a.data, a.n, (i, k), a.tag)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
