"""``analyse_study``: a stress (and optional rest) perfusion volume -> polar maps, 17 segments, territories, report.

Pipeline (patent 000): orientation -> short-axis stack (re-oriented from transaxial when needed) -> fuzzy c-means
myocardium, slices apex -> base -> network 1's polar map (slice + two neighbours -> ring) and the classical polar map
(maximum count between endo- and epicardium) -> the map in use -> 17 segments -> normal limits, extent/severity per
territory, rest/stress reversibility -> network 2's LAD/LCX/RCA risk.

Which map is used (``polar_source``): "network" (patent 000's chain), "classical", or "ensemble" (the classical map
feeds the bullseye, segments and scores; network 2's territory probability is the mean of its output on the classical
and on the network-1 map, a two-map ensemble that halves the noise of either map; classical alone on a disagreement). With "network" the classical map
is computed beside it as a check: when the two differ by more than :data:`AGREEMENT_BOUND_PCT` percent points per
polar pixel (mean absolute difference, stress or rest) or any of the 17 segment values differs by more than
:data:`SEGMENT_BOUND_PCT`, the classical map is used instead and ``polar_note`` says why. The default is
:data:`DEFAULT_POLAR_SOURCE` (chosen by measurement: EVALUATION.md, perfusion section).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from device import DISCLAIMER_EN, DISCLAIMER_ZH
from device.errors import InputError
from device.perfusion.geometry import SEGMENT_NAMES, SEGMENT_TERRITORY, TERRITORIES, segment_means
from device.perfusion.io import check_counts
from device.perfusion.networks import network_rings, territory_risk
from device.perfusion.normals import NormalLimits, load_normals
from device.perfusion.polar import rings_to_polar, slice_rings
from device.perfusion.reorient import SA_ANGLE_DEG, AxisEstimate, estimate_long_axis, reorient_to_short_axis
from device.perfusion.scoring import DefectScores, score
from device.perfusion.segment import LvSegmentation, segment_lv
from device.perfusion.validity import check_lv, check_volume


POLAR_SOURCES = ("network", "classical", "ensemble")
DEFAULT_POLAR_SOURCE = "classical"
# Bounds of the network-1 / classical agreement. Measured on simulated studies never used in training (EVALUATION.md):
# per-pixel MAE max 3.5 pp (training-simulator family) and 4.2 pp (independent cone phantoms); a bound of 5 pp sits
# above every study measured, so a fallback means the network met an input unlike anything it was checked on.
AGREEMENT_BOUND_PCT = 5.0
SEGMENT_BOUND_PCT = 12.0


@dataclass(frozen=True)
class TerritoryResult:
    """One coronary territory: network-2 probability and the rule-based scores (percent of territory pixels)."""

    territory: str
    prob_at_risk: float
    at_risk: bool
    extent_pct: float
    severity_sd: float
    severity_pct: float
    summed_stress_score: int
    rest_extent_pct: float | None
    reversible_extent_pct: float | None
    summed_rest_score: int | None
    summed_difference_score: int | None


@dataclass(frozen=True)
class LvGeometry:
    """Where the LV was found: apex and base slice of the (apex-first) SA stack, whether the input's slice order
    was reversed, whether it was re-oriented from transaxial (with the long axis and its angle to the slices)."""

    first_slice: int
    last_slice: int
    flipped: bool
    reoriented: bool
    axis_lps: tuple[float, float, float] | None
    axis_angle_to_slices_deg: float | None
    sa_voxel_mm: tuple[float, float, float]


@dataclass(frozen=True)
class PerfusionResult:
    """Polar maps: (N_RINGS, N_SECTORS) float32 percent of max, ring 0 apex (see ``geometry``); segments: (17,)
    float32, AHA order; short_axis: the apex-first SA stress stack (n, rows, cols) float32 for display.

    polar_stress_pct / polar_rest_pct: the maps IN USE (bullseye, segments, scores and network 2 read them), made by
    ``polar_source`` ("network" = network 1, or "classical"); polar_classical_pct: the classical stress map (the check
    shown beside); polar_network_pct: network 1's stress map (None without networks); polar_note: why the classical
    map is in use when network 1 was asked for, else ""."""

    polar_stress_pct: np.ndarray
    polar_rest_pct: np.ndarray | None
    polar_network_pct: np.ndarray | None
    network_agreement_mae_pct: float | None
    segments_stress_pct: np.ndarray
    segments_rest_pct: np.ndarray | None
    scores: DefectScores
    territories: tuple[TerritoryResult, ...]
    lv: LvGeometry
    short_axis: np.ndarray
    models: tuple[str, ...]
    normals: str
    polar_source: str = "classical"
    polar_classical_pct: np.ndarray | None = None
    polar_note: str = ""
    network_segment_max_diff_pct: float | None = None
    disclaimer_en: str = DISCLAIMER_EN
    disclaimer_zh: str = DISCLAIMER_ZH

    def to_json_dict(self) -> dict:
        """The ``segments.json`` document: 17 values, territory risks, extent and severity, models, disclaimer."""
        s = self.scores

        def seg_rows(vals: np.ndarray | None, sc: np.ndarray | None) -> list | None:
            if vals is None:
                return None
            return [{"segment": i + 1, "name": SEGMENT_NAMES[i], "territory": SEGMENT_TERRITORY[i],
                     "value_pct": round(float(vals[i]), 1), "score": int(sc[i]) if sc is not None else None}
                    for i in range(17)]

        return {
            "segments_stress": seg_rows(self.segments_stress_pct, s.segment_score_stress),
            "segments_rest": seg_rows(self.segments_rest_pct, s.segment_score_rest),
            "territories": [{k: (round(v, 3) if isinstance(v, float) else v) for k, v in t.__dict__.items()}
                            for t in self.territories],
            "summed_stress_score": s.sss, "summed_rest_score": s.srs, "summed_difference_score": s.sds,
            "total_extent_pct": round(s.total_extent_pct, 2),
            "network_polar_agreement_mae_pct": (round(self.network_agreement_mae_pct, 2)
                                                if self.network_agreement_mae_pct is not None else None),
            "lv": {k: v for k, v in self.lv.__dict__.items()},
            "polar_map": {"source": POLAR_SOURCE_TEXT[self.polar_source], "note": self.polar_note,
                          "agreement_bound_pct": AGREEMENT_BOUND_PCT, "segment_bound_pct": SEGMENT_BOUND_PCT,
                          "network_segment_max_diff_pct": (round(self.network_segment_max_diff_pct, 2)
                                                           if self.network_segment_max_diff_pct is not None else None),
                          "units": "percent of map maximum", "ring0": "apex",
                          "sector0": "lateral, counter-clockwise through anterior"},
            "models": list(self.models), "normals": self.normals,
            "disclaimer": self.disclaimer_en, "disclaimer_zh": self.disclaimer_zh,
        }


POLAR_SOURCE_TEXT = {"network": "network 1 (slice + two neighbours -> ring)",
                     "classical": "classical (maximum count between endo- and epicardium)",
                     "ensemble": "classical map; network 2 averaged over the classical and network-1 maps"}


def _tilt_deg(seg: LvSegmentation, voxel_mm: tuple[float, float, float]) -> float:
    zs = np.arange(seg.first, seg.last + 1)
    if len(zs) < 2:
        return 90.0
    d = (seg.centres[zs[-1]] - seg.centres[zs[0]]) / (zs[-1] - zs[0])
    return float(np.degrees(np.arctan(np.hypot(d[0] * voxel_mm[1], d[1] * voxel_mm[2]) / voxel_mm[0])))


def to_short_axis(stress: np.ndarray, voxel_mm: tuple[float, float, float], rest: np.ndarray | None,
                  orientation: str, direction: np.ndarray | None
                  ) -> tuple[np.ndarray, np.ndarray | None, tuple[float, float, float], AxisEstimate | None]:
    """SA stacks for stress (and rest) plus their voxel size; re-orients transaxial/oblique input."""
    if orientation in ("unknown", "auto"):
        # short axis when the LV centre barely moves across slices, or the estimated long axis runs along them
        try:
            _, seg = segment_lv(stress)
            if _tilt_deg(seg, voxel_mm) < 10.0:
                return stress, rest, voxel_mm, None
            if estimate_long_axis(stress, voxel_mm, direction).angle_to_slices_deg < SA_ANGLE_DEG:
                return stress, rest, voxel_mm, None
        except InputError:
            pass
        orientation = "transaxial"
    if orientation == "short_axis":
        return stress, rest, voxel_mm, None
    # one long axis for both phases, estimated on their sum (rest fills in what a stress defect hides)
    both = stress / max(float(stress.max()), 1e-9) + (rest / max(float(rest.max()), 1e-9) if rest is not None else 0)
    sa, step, est = reorient_to_short_axis(both, voxel_mm, direction)
    from device.perfusion.reorient import DEFAULT_DIRECTION, _index_to_lps, resample_short_axis

    m = _index_to_lps(np.asarray(voxel_mm, np.float64), DEFAULT_DIRECTION if direction is None else direction)
    n = sa.shape[0]
    sa_s = resample_short_axis(stress, m, est.centre_lps, est.apex_lps, n, step)
    sa_r = resample_short_axis(rest, m, est.centre_lps, est.apex_lps, n, step) if rest is not None else None
    return sa_s, sa_r, (step, step, step), est


def _polar(stack: np.ndarray) -> tuple[np.ndarray, np.ndarray, LvSegmentation]:
    sa, seg = segment_lv(stack)
    rings, _ = slice_rings(sa, seg)
    return sa, rings_to_polar(rings), seg


def choose_polar(classical: np.ndarray, network: np.ndarray | None, classical_rest: np.ndarray | None = None,
                 network_rest: np.ndarray | None = None) -> tuple[str, str, float | None, float | None]:
    """(source, note, stress MAE, largest segment difference) for network-1 and classical maps (percent of max).

    "network" when network 1's maps agree with the classical ones within the bounds (stress and, when given, rest),
    else "classical" with a one-line note naming the disagreement. ``network`` None: "classical", no note."""
    if network is None:
        return "classical", "", None, None

    def diff(net: np.ndarray, cls: np.ndarray) -> tuple[float, float]:
        return (float(np.abs(net - cls).mean()),
                float(np.abs(segment_means(net) - segment_means(cls)).max()))

    mae, seg = diff(network, classical)
    checks = [("stress", mae, seg)]
    if network_rest is not None and classical_rest is not None:
        checks.append(("rest", *diff(network_rest, classical_rest)))
    for phase, m, sg in checks:
        if m > AGREEMENT_BOUND_PCT or sg > SEGMENT_BOUND_PCT:
            return "classical", (f"network-1 {phase} map differs from the classical map by {m:.1f} percent points "
                                 f"per pixel (bound {AGREEMENT_BOUND_PCT:g}) and up to {sg:.1f} in a segment "
                                 f"(bound {SEGMENT_BOUND_PCT:g}): the classical map is used; review the slices"), mae, seg
    return "network", "", mae, seg


def analyse_study(stress: np.ndarray, voxel_mm: tuple[float, float, float] | float, rest: np.ndarray | None = None,
                  orientation: str = "short_axis", direction: np.ndarray | None = None,
                  normals: NormalLimits | None = None, variant: str | None = None,
                  use_networks: bool = True, polar_source: str | None = None) -> PerfusionResult:
    """Analyse a perfusion study.

    stress, rest: (nz, ny, nx) counts (any real dtype, >= 0); voxel_mm: (dz, dy, dx) or one number;
    orientation: "short_axis" (slices across the LV long axis, rows anterior -> inferior, columns septal ->
    lateral; either slice order), "transaxial" (index axes along ``direction``, default DICOM LPS z, y, x) or
    "auto"; normals: defaults to the shipped database; variant: model variant (fp32, int8, tflite); polar_source:
    "network" or "classical" (default :data:`DEFAULT_POLAR_SOURCE`; without networks always classical).
    Raises InputError (no heart, empty, not re-orientable) or ModelError (model files missing/altered).
    """
    vx = tuple(float(v) for v in np.broadcast_to(np.asarray(voxel_mm, np.float64), (3,)))
    for v, name in ((stress, "stress volume"), (rest, "rest volume")):
        if v is not None:
            check_volume(np.asarray(v), name)  # before any copy: size and value range
    st = check_counts(stress, "stress volume")
    rs = check_counts(rest, "rest volume") if rest is not None else None
    if rs is not None and rs.shape != st.shape:
        raise InputError(f"rest {rs.shape} and stress {st.shape} volumes differ in shape; give matching volumes")
    normals = normals or load_normals()
    source = DEFAULT_POLAR_SOURCE if polar_source is None else polar_source
    if source not in POLAR_SOURCES:
        raise InputError(f"polar map source {source!r} is not one of {', '.join(POLAR_SOURCES)}")
    sa_s, sa_r, sa_vx, est = to_short_axis(st, vx, rs, orientation, direction)
    stack, polar_s, seg = _polar(sa_s)
    check_lv(seg, sa_vx)  # a brain or a kidney is ring-shaped too
    polar_r = stack_r = seg_rest = None
    if sa_r is not None:
        stack_r, polar_r, seg_rest = _polar(sa_r)
    models: list[str] = []
    polar_net = polar_net_r = None
    if use_networks:
        rings_net, tag1 = network_rings(stack, seg, (sa_vx[1], sa_vx[2]), variant)
        polar_net = rings_to_polar(rings_net)
        if source in ("network", "ensemble") and stack_r is not None and seg_rest is not None:
            polar_net_r = rings_to_polar(network_rings(stack_r, seg_rest, (sa_vx[1], sa_vx[2]), variant)[0])
        models.append(tag1)
    used, note, mae, seg_diff = choose_polar(polar_s, polar_net if source in ("network", "ensemble") else None,
                                             polar_r, polar_net_r)
    if polar_net is not None and mae is None:
        mae = float(np.abs(polar_net - polar_s).mean())
        seg_diff = float(np.abs(segment_means(polar_net) - segment_means(polar_s)).max())
    ensemble = source == "ensemble" and used == "network" and polar_net is not None
    if ensemble:   # bullseye, segments and scores from the classical map; network 2 averaged over both maps
        used = "ensemble"
        map_s, map_r = polar_s, polar_r
    elif used == "network" and polar_net is not None:
        map_s, map_r = polar_net, (polar_net_r if polar_r is not None else None)
    else:
        map_s, map_r = polar_s, polar_r
    seg_s = segment_means(map_s)
    seg_r = segment_means(map_r) if map_r is not None else None
    sc = score(map_s, seg_s, normals, map_r, seg_r)
    if use_networks:
        risk = territory_risk(map_s, variant)
        models.append(risk.model)
        prob, at = risk.prob, risk.at_risk
        if ensemble and polar_net is not None:
            other = territory_risk(polar_net, variant)
            prob = {t: 0.5 * (risk.prob[t] + other.prob[t]) for t in TERRITORIES}
            at = {t: prob[t] >= risk.threshold for t in TERRITORIES}
    else:
        prob = {t: float("nan") for t in TERRITORIES}
        at = {t: False for t in TERRITORIES}
    terr = tuple(TerritoryResult(t.territory, prob[t.territory], at[t.territory], t.extent_pct, t.severity_sd,
                                 t.severity_pct, t.summed_stress_score, t.rest_extent_pct, t.reversible_extent_pct,
                                 t.summed_rest_score, t.summed_difference_score) for t in sc.territories)
    lv = LvGeometry(seg.first, seg.last, seg.flipped, est is not None,
                    tuple(float(v) for v in est.apex_lps) if est is not None else None,
                    est.angle_to_slices_deg if est is not None else None, sa_vx)
    return PerfusionResult(map_s, map_r, polar_net, mae, seg_s, seg_r, sc, terr, lv, stack, tuple(models),
                           normals.name, used, polar_s, note, seg_diff)
