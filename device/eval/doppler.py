"""Doppler reader (issue 14) on simulated held-out screens (seeds 300000+, never looked at in development; the
earlier range 100000+ was looked at while the reader was tuned on 2026-12-04 and is retired), and a
judgement of every real frame in ../shared/data/echo-dicom. Simulator figures: not a measure of accuracy on real
machines. ``python -m device.eval doppler`` prints the section."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from device.echo.doppler import KINDS, read_doppler
from device.sim.doppler import simulate

N_PER_KIND = 30
N_UNLABELLED = 10
SEED0 = 300_000


def score(n: int = N_PER_KIND) -> tuple[dict, dict, dict]:
    """Per value: list of (reading - truth) (AF screens under "name (AF)"); per kind: [refused, total, A found on
    sinus mitral/TDI screens, sinus screens, AF flagged irregular, AF screens, sinus flagged irregular]; and kind
    detection: per kind [right, wrong, undecided] with the label and, on ``N_UNLABELLED`` screens without a label."""
    err: dict[str, list[float]] = {}
    ref: dict[str, list[int]] = {k: [0] * 7 for k in KINDS}
    det: dict[str, dict[str, list[int]]] = {"label": {k: [0, 0, 0] for k in KINDS},
                                            "signal": {k: [0, 0, 0] for k in KINDS}}
    for ki, kind in enumerate(KINDS):
        for i in range(n):
            seed = SEED0 + 1000 * ki + i
            af = kind in ("mitral", "tdi-septal", "tdi-lateral") and i % 5 == 4
            alias = 0.25 if kind in ("mitral", "lvot", "pulmonary") and i % 4 == 3 else 0.0
            s = simulate(kind, seed, af=af, alias=alias)
            r = read_doppler(s.rgb, kind)
            ref[kind][1] += 1
            _tally(det["label"][kind], kind, read_doppler(s.rgb))
            if r.refused:
                ref[kind][0] += 1
                continue
            for k, v in s.truth.items():
                if k != "n_beats" and k in r.values:
                    err.setdefault(k + (" (AF)" if af else ""), []).append(r.values[k] - v)
            if kind == "mitral" or kind.startswith("tdi"):
                irr = bool(r.calibration.get("irregular_rhythm"))
                if af:
                    ref[kind][4] += irr
                    ref[kind][5] += 1
                else:
                    ref[kind][2] += any(k.startswith(("mv_a_", "a_prime_")) for k in r.values)
                    ref[kind][3] += 1
                    ref[kind][6] += irr
        for i in range(N_UNLABELLED):
            s = simulate(kind, SEED0 + 1000 * ki + 500 + i, label=False)
            _tally(det["signal"][kind], kind, read_doppler(s.rgb))
    return err, ref, det


def _tally(row: list[int], kind: str, r) -> None:
    row[0 if r.kind == kind and not r.refused else 2 if r.refused else 1] += 1


def _real(data: Path) -> list[str]:
    from device.drivers.files import read_any_frames

    rows = []
    for p in sorted((data / "echo-dicom").glob("*.dcm")):
        try:
            fr = read_any_frames(p, 1)
        except Exception as exc:  # noqa: BLE001 - an unreadable file is reported in the table
            rows.append(f"| {p.name} | unreadable: {exc} |")
            continue
        r = read_doppler(fr[-1], "mitral")
        rows.append(f"| {p.name} | {'refused: ' + r.refused if r.refused else 'read: ' + str(r.values)} |")
    return rows


def evaluate(data: Path) -> str:
    err, ref, det = score()
    lines = ["## Spectral Doppler (issue 14) — SIMULATOR figures", "",
             f"Reader `device/echo/doppler.py` on {N_PER_KIND} simulated held-out screens per kind (seeds from "
             f"{SEED0}, never used in development; all four layouts, a-c in Hershey fonts, d in a TrueType font; "
             "1 in 5 mitral/TDI screens in AF, 1 in 4 mitral/LVOT/pulmonary screens aliased at peak/1.25; the "
             "screen's vendor label drawn). Values are read with the kind given; kind detection is scored apart "
             "below. Error = reading - truth (truth: the mean over complete beats of the noise-free envelope). "
             "These are simulator figures, not accuracy on real machines.", "",
             "| value | n | bias | MAE | 90th pct abs error |", "|---|---|---|---|---|"]
    for k in sorted(err):
        e = np.asarray(err[k])
        lines.append(f"| {k} | {len(e)} | {e.mean():+.3g} | {np.abs(e).mean():.3g} | "
                     f"{np.percentile(np.abs(e), 90):.3g} |")
    lines += ["", "| kind | refused / screens | A (a') found, sinus | AF flagged irregular | sinus flagged irregular |",
              "|---|---|---|---|---|"]
    for k, (a, b, af_a, sinus, irr, n_af, false_irr) in ref.items():
        dia = k == "mitral" or k.startswith("tdi")
        lines.append(f"| {k} | {a} / {b} | {f'{af_a} / {sinus}' if dia else '-'} | "
                     f"{f'{irr} / {n_af}' if dia else '-'} | {f'{false_irr} / {sinus}' if dia else '-'} |")
    lines += ["", f"Kind detection (`read_doppler(rgb)` without a kind): the same {N_PER_KIND} labelled screens per "
              f"kind, and {N_UNLABELLED} more per kind drawn without a label (signal only). right / wrong / "
              "undecided (refused, e.g. TDI site or LVOT vs pulmonary without a label, or the screen not read).", "",
              "| kind | with label | without label |", "|---|---|---|"]
    lines += [f"| {k} | {'/'.join(map(str, det['label'][k]))} | {'/'.join(map(str, det['signal'][k]))} |"
              for k in KINDS]
    lines += ["", "Real frames in ../shared/data/echo-dicom (none is a spectral Doppler screen: two B-mode cines, "
              "one greyscale frame, one colour-Doppler TEE frame; read as `mitral`):", "",
              "| file | reading |", "|---|---|"] + _real(data)
    return "\n".join(lines)
