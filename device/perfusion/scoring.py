"""Comparison with normal limits: defect extent and severity per territory, segment scores, reversibility.

* Pixel z-score: ``(polar - normal mean) / normal SD``; a pixel is abnormal when ``z < -z_threshold``.
* Extent: percent of a territory's (or the whole LV's) polar-map pixels that are abnormal.
* Severity: mean deficit of the abnormal pixels in SD units (``severity_sd``) and in percent points of the normal
  mean (``severity_pct``); 0 when nothing is abnormal.
* Segment score 0-4 (z >= -2: 0, -3..-2: 1, -4..-3: 2, -5..-4: 3, < -5: 4); summed stress/rest scores (SSS, SRS) and
  their difference (SDS) per territory and in total.
* Reversible extent: pixels abnormal at stress and not at rest, percent of the territory.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from device.perfusion.geometry import SEGMENT_TERRITORY, TERRITORIES, territory_masks
from device.perfusion.normals import NormalLimits


@dataclass(frozen=True)
class TerritoryScore:
    """Scores of one territory (LAD, LCX or RCA); *_pct are percent of the territory's polar pixels."""

    territory: str
    extent_pct: float
    severity_sd: float
    severity_pct: float
    summed_stress_score: int
    rest_extent_pct: float | None
    reversible_extent_pct: float | None
    summed_rest_score: int | None
    summed_difference_score: int | None


@dataclass(frozen=True)
class DefectScores:
    """z_stress: (N_RINGS, N_SECTORS) float32; abnormal_stress/rest: bool maps; segment scores (17,) int8."""

    z_stress: np.ndarray
    abnormal_stress: np.ndarray
    abnormal_rest: np.ndarray | None
    segment_score_stress: np.ndarray
    segment_score_rest: np.ndarray | None
    territories: tuple[TerritoryScore, ...]
    total_extent_pct: float
    sss: int
    srs: int | None
    sds: int | None


def segment_scores(segments_pct: np.ndarray, normals: NormalLimits) -> np.ndarray:
    """(17,) int8 scores 0-4 from the segments' z-scores against the normal limits."""
    z = (np.asarray(segments_pct, np.float64) - normals.segment_mean) / normals.segment_sd
    return np.clip(np.floor(-z - 1.0), 0, 4).astype(np.int8)


def _severity(z: np.ndarray, polar: np.ndarray, normals: NormalLimits, m: np.ndarray) -> tuple[float, float]:
    if not m.any():
        return 0.0, 0.0
    return float(-z[m].mean()), float((normals.polar_mean[m] - polar[m]).mean())


def score(polar_stress: np.ndarray, segments_stress: np.ndarray, normals: NormalLimits,
          polar_rest: np.ndarray | None = None, segments_rest: np.ndarray | None = None) -> DefectScores:
    """Compare stress (and optional rest) polar maps (percent of max) with the normal limits."""
    ps = np.asarray(polar_stress, np.float32)
    zs = (ps - normals.polar_mean) / normals.polar_sd
    ab_s = zs < -normals.z_threshold
    seg_s = segment_scores(segments_stress, normals)
    ab_r = seg_r = None
    if polar_rest is not None and segments_rest is not None:
        zr = (np.asarray(polar_rest, np.float32) - normals.polar_mean) / normals.polar_sd
        ab_r = zr < -normals.z_threshold
        seg_r = segment_scores(segments_rest, normals)
    masks = territory_masks()
    terr = []
    for t in TERRITORIES:
        m = masks[t]
        seg_idx = [i for i, s in enumerate(SEGMENT_TERRITORY) if s == t]
        sev_sd, sev_pct = _severity(zs, ps, normals, ab_s & m)
        sss_t = int(seg_s[seg_idx].sum())
        if ab_r is not None and seg_r is not None:
            rest_ext = float(100.0 * (ab_r & m).sum() / m.sum())
            rev = float(100.0 * (ab_s & ~ab_r & m).sum() / m.sum())
            srs_t = int(seg_r[seg_idx].sum())
            terr.append(TerritoryScore(t, float(100.0 * (ab_s & m).sum() / m.sum()), sev_sd, sev_pct, sss_t,
                                       rest_ext, rev, srs_t, sss_t - srs_t))
        else:
            terr.append(TerritoryScore(t, float(100.0 * (ab_s & m).sum() / m.sum()), sev_sd, sev_pct, sss_t,
                                       None, None, None, None))
    sss = int(seg_s.sum())
    srs = int(seg_r.sum()) if seg_r is not None else None
    return DefectScores(zs.astype(np.float32), ab_s, ab_r, seg_s, seg_r, tuple(terr),
                        float(100.0 * ab_s.mean()), sss, srs, (sss - srs) if srs is not None else None)
