"""SPECTF-format regional counts: parse rows and classify them with the ``perfusion_spectf`` model.

A SPECTF row holds rest and stress counts (0-100, % of the study maximum) of 22 LV regions, interleaved
``F1R, F1S, F2R, F2S, ..., F22R, F22S`` (UCI SPECTF heart). A 45-column row starts with the diagnosis (0/1).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from device.errors import InputError

N_REGIONS = 22
N_FEATURES = 2 * N_REGIONS
COLUMNS: tuple[str, ...] = tuple(f"F{i}{s}" for i in range(1, N_REGIONS + 1) for s in ("R", "S"))
MODEL_NAME = "perfusion_spectf"
MLP_MODEL_NAME = "perfusion_spectf_mlp"


@dataclass(frozen=True)
class SpectfRows:
    """counts: (n, 44) float32 in SPECTF column order; diagnosis: (n,) int8 (1 = abnormal) or None."""

    counts: np.ndarray
    diagnosis: np.ndarray | None


@dataclass(frozen=True)
class RegionsResult:
    """prob_abnormal: (n,) float32 in [0, 1], one per row; abnormal: prob >= threshold; model: the model tag."""

    prob_abnormal: np.ndarray
    abnormal: np.ndarray
    threshold: float
    model: str


def parse_spectf(text: str, source: str = "input") -> SpectfRows:
    """Parse comma- (or whitespace-) separated SPECTF rows: 44 counts, or diagnosis + 44 counts, per line.

    Blank lines and lines starting with '#' are skipped; a header line naming F1R... is skipped.
    Raises InputError naming the first bad line.
    """
    rows: list[list[float]] = []
    widths: set[int] = set()
    for lineno, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if not s or s.startswith("#") or s.upper().startswith(("F1R", "OVERALL", "DIAG")):
            continue
        parts = [p for p in s.replace(",", " ").replace(";", " ").split() if p]
        try:
            vals = [float(p) for p in parts]
        except ValueError:
            raise InputError(f"{source} line {lineno}: not numbers ({s[:40]!r}); a SPECTF row is 44 counts "
                             "(F1R,F1S,...,F22S), optionally preceded by the 0/1 diagnosis") from None
        if len(vals) not in (N_FEATURES, N_FEATURES + 1):
            raise InputError(f"{source} line {lineno}: {len(vals)} values; a SPECTF row has 44 counts "
                             "(or 45 with the diagnosis first)")
        if not np.all(np.isfinite(vals)):
            raise InputError(f"{source} line {lineno}: contains NaN or infinity; give finite counts 0-100")
        rows.append(vals)
        widths.add(len(vals))
    if not rows:
        raise InputError(f"{source} holds no SPECTF rows; give one line of 44 comma-separated counts per patient")
    if len(widths) > 1:
        raise InputError(f"{source} mixes rows with and without the diagnosis column; use one layout throughout")
    arr = np.asarray(rows, dtype=np.float64)
    diag = None
    if arr.shape[1] == N_FEATURES + 1:
        diag = arr[:, 0].astype(np.int8)
        if not set(np.unique(diag)) <= {0, 1}:
            raise InputError(f"{source}: the first of 45 columns must be the 0/1 diagnosis")
        arr = arr[:, 1:]
    counts = arr.astype(np.float32)
    check_rows(counts, source)
    return SpectfRows(counts, diag)


# A SPECTF count is a percent of the study maximum, so 0-100, and the hottest of a study's 22 regions is near that
# maximum (75-89 in every row of UCI SPECTF.train, n=62). A row whose hottest region is under 40 % is not a study
# normalised to its maximum (an all-zero row scored 1.0 "abnormal" before this check).
COUNT_RANGE = (0.0, 100.0)
MIN_ROW_MAX = 40.0


def check_rows(counts: np.ndarray, source: str = "input") -> None:
    """InputError naming the first row with counts outside 0-100 or without a region near the study maximum."""
    for i, row in enumerate(np.asarray(counts, np.float64), 1):
        if not np.isfinite(row).all():
            raise InputError(f"{source} row {i}: contains NaN or infinity; give finite counts 0-100")
        if row.min() < COUNT_RANGE[0] or row.max() > COUNT_RANGE[1]:
            raise InputError(f"{source} row {i}: counts {row.min():g}..{row.max():g} are outside 0-100; SPECTF "
                             "counts are percent of the study maximum")
        if row.max() < MIN_ROW_MAX:
            raise InputError(f"{source} row {i}: the hottest region is {row.max():g} % of the maximum (at least "
                             f"{MIN_ROW_MAX:g} in a real study; an empty row cannot be scored); check the export")


def read_spectf(path: Path) -> SpectfRows:
    """Read a SPECTF file (see ``parse_spectf``); InputError when missing or unreadable."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="strict")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file; give a SPECTF-format text file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot be read as text ({exc.__class__.__name__}); give a SPECTF CSV") from None
    return parse_spectf(text, str(path))


def classify_regions(counts: np.ndarray, variant: str | None = None, model_name: str = MODEL_NAME) -> RegionsResult:
    """Probability of an abnormal perfusion study per SPECTF row. counts: (n, 44) float, SPECTF column order.

    model_name: ``perfusion_spectf`` (default: L2 logistic regression, chosen by the prevalence-shift evaluation) or
    :data:`MLP_MODEL_NAME` (the 44-8-1 MLP it replaced, selectable)."""
    if model_name not in (MODEL_NAME, MLP_MODEL_NAME):
        raise InputError(f"SPECTF model {model_name!r} is not one of {MODEL_NAME}, {MLP_MODEL_NAME}")
    from device.inference import model_provider

    x = np.asarray(counts, dtype=np.float32)
    if x.ndim != 2 or x.shape[1] != N_FEATURES:
        raise InputError(f"regional counts must be (n, {N_FEATURES}); got {x.shape}")
    check_rows(x)
    model = model_provider().get(model_name, variant)
    name = model.manifest.inputs[0].name
    out = next(iter(model.run({name: x}).values()))
    prob = np.clip(np.asarray(out, dtype=np.float32).reshape(len(x)), 0.0, 1.0)
    thr = float(model.manifest.params.get("threshold", 0.5))
    return RegionsResult(prob, prob >= thr, thr, model.tag)
