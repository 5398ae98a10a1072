"""Echo view model evaluation helpers (the leading underscore keeps `make eval` from running this file on its own):
leave-one-clip-out real echo frames, selective accuracy against coverage, and what the model says about pictures
that are not echo. Shared by the v2 training recipe (numbers for the manifest)
and device/eval/echo.py (`make eval`), so both measure exactly the same thing through the cart's own path
(find_sector once per clip, crop_fan, ONNX backbone, numpy view head).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# the labelled real echo files (models/training/echo_view_v2_data.py says why each label)
REAL_LABELS = {"color3d_jpeg_baseline.dcm": "A4C", "US-PAL-8-10x-echo.dcm": "PLAX",
               "JPGLosslessP14SV1_1s_1f_8b.dcm": "PLAX"}
REAL_UNLABELLED = ("color-pl.dcm",)


@dataclass(frozen=True)
class FrameResult:
    source: str       # file name
    truth: str        # view label ("" when unknown / not echo)
    view: str
    confidence: float
    uncertain: bool
    ood_score: float
    quality: float


def clip_frames(path: Path) -> Iterator[tuple[np.ndarray, object]]:
    """(RGB frame, sector) per frame of a file, the fan found on the first frame as the cart's `echo view` does."""
    from device.drivers.files import iter_file_frames
    from device.echo.screen import find_sector

    sector = None
    for i, fr in enumerate(iter_file_frames(path)):
        if sector is None or i % 30 == 0:
            sector = find_sector(fr.pixels) or sector
        yield fr.pixels, sector


def run_file(clf, path: Path, truth: str) -> list[FrameResult]:
    out = []
    for rgb, sector in clip_frames(path):
        o = clf(rgb, sector)
        out.append(FrameResult(path.name, truth, o.view, float(o.view_conf), bool(o.uncertain), float(o.ood_score),
                               float(o.quality)))
    return out


def real_loco(data_dir: Path, clf_for_clip: Callable[[str], object]) -> list[FrameResult]:
    """Every labelled real echo frame, each clip scored by the classifier `clf_for_clip(file name)` returns (the
    model whose head never saw that clip)."""
    res: list[FrameResult] = []
    for name, truth in REAL_LABELS.items():
        p = data_dir / "echo-dicom" / name
        if p.is_file():
            res += run_file(clf_for_clip(name), p, truth)
    return res


def non_echo_files(data_dir: Path, per_group: int = 30) -> dict[str, list[Path]]:
    """Real pictures that are not echo: Sunnybrook cine-MR slices (spread over the 3 patients) and ECG photos/scans."""
    groups: dict[str, list[Path]] = {}
    mri = sorted((data_dir / "cardiac-mri-sunnybrook" / "dicoms").glob("*/*.dcm"))
    if mri:
        groups["Sunnybrook cine-MR slices"] = [mri[i] for i in np.linspace(0, len(mri) - 1, per_group).astype(int)]
    exts = {".jpg", ".jpeg", ".png", ".bmp"}
    phot = sorted(p for p in (data_dir / "ecg-photos-paper2pulse" / "images").glob("*") if p.suffix.lower() in exts)
    scans = sorted(p for p in (data_dir / "ecg-images-ecg-image-kit" / "sample-data" / "ecg-images").glob("*")
                   if p.suffix.lower() in exts)
    if phot:
        groups["ECG photos (Paper2Pulse)"] = phot[:per_group]
    if scans:
        groups["ECG scans/photos (ECG-Image-Kit)"] = scans[:per_group]
    return {k: v for k, v in groups.items() if v}


def non_echo_results(data_dir: Path, clf, per_group: int = 30) -> dict[str, list[FrameResult]]:
    """First frame of each non-echo file through `clf`; unreadable files are skipped."""
    from device.drivers.files import iter_file_frames
    from device.echo.screen import find_sector

    out: dict[str, list[FrameResult]] = {}
    for group, files in non_echo_files(data_dir, per_group).items():
        rows = []
        for f in files:
            try:
                fr = next(iter(iter_file_frames(f)))
            except (StopIteration, OSError, ValueError, RuntimeError) as exc:  # noqa: PERF203
                print(f"[echo_view eval] skipped {f.name}: {exc}")
                continue
            except Exception as exc:  # noqa: BLE001 - a reader's own error types (pydicom, cv2)
                print(f"[echo_view eval] skipped {f.name}: {exc}")
                continue
            o = clf(fr.pixels, find_sector(fr.pixels))
            rows.append(FrameResult(f.name, "", o.view, float(o.view_conf), bool(o.uncertain), float(o.ood_score),
                                    float(o.quality)))
        out[group] = rows
    return out


def summary(rows: list[FrameResult]) -> dict[str, float]:
    """Accuracy over all frames; coverage (fraction not uncertain) and selective accuracy (accuracy of the covered
    frames); fraction named OTHER; fraction 'not a view' (uncertain or OTHER)."""
    n = len(rows)
    if n == 0:
        return {"n": 0}
    ok = np.array([r.view == r.truth for r in rows])
    unc = np.array([r.uncertain for r in rows])
    other = np.array([r.view == "OTHER" for r in rows])
    cov = float((~unc).mean())
    return {"n": n, "accuracy": float(ok.mean()), "coverage": cov,
            "selective_accuracy": float(ok[~unc].mean()) if cov > 0 else float("nan"),
            "other": float(other.mean()), "not_a_view": float((unc | other).mean()),
            "median_quality": float(np.median([r.quality for r in rows]))}


def by(rows: list[FrameResult], key: Callable[[FrameResult], str]) -> dict[str, dict[str, float]]:
    keys = sorted({key(r) for r in rows})
    return {k: summary([r for r in rows if key(r) == k]) for k in keys}


def clip_mean_accuracy(rows: list[FrameResult]) -> float:
    """Mean over clips of the per-clip frame accuracy (each clip counts once, however many frames it has)."""
    per = by(rows, lambda r: r.source)
    return float(np.mean([v["accuracy"] for v in per.values()])) if per else float("nan")


def coverage_curve(rows: list[FrameResult], thresholds: tuple[float, ...] = (0.0, 0.3, 0.5, 0.7, 0.9)
                   ) -> list[tuple[float, float, float]]:
    """(confidence threshold, coverage, selective accuracy) for fixed thresholds (ood ignored)."""
    conf = np.array([r.confidence for r in rows])
    ok = np.array([r.view == r.truth for r in rows])
    out = []
    for t in thresholds:
        keep = conf >= t
        out.append((t, float(keep.mean()), float(ok[keep].mean()) if keep.any() else float("nan")))
    return out
