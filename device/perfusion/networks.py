"""The patent's two networks (000): slice-to-ring (network 1) and polar-map-to-territory risk (network 2).

Network 1 (``perfusion_ring``): input = the current short-axis slice and its two neighbours, each resampled on a
``crop_px`` x ``crop_px`` grid of ``crop_mm`` spacing centred on the LV centre and divided by the study's
myocardial maximum, flattened to one vector (3 * crop_px^2); output = that slice's ring: N_SECTORS maximum counts
as a fraction of the myocardial maximum. Iterating over the LV slices fills the polar map.

Network 2 (``perfusion_territory``): input = the stress polar map (N_RINGS x N_SECTORS, percent of max, divided by
100) flattened; output = probability that LAD, LCX, RCA are at risk. Numbers live in the manifests' ``params``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from device.perfusion.geometry import N_RINGS, N_SECTORS, TERRITORIES
from device.perfusion.segment import LvSegmentation

RING_MODEL = "perfusion_ring"
TERRITORY_MODEL = "perfusion_territory"


def ring_inputs(stack: np.ndarray, seg: LvSegmentation, pixel_mm: tuple[float, float], crop_px: int,
                crop_mm: float) -> np.ndarray:
    """(n_lv, 3 * crop_px^2) float32 network-1 inputs for slices seg.first..seg.last of an apex-first stack."""
    zs = np.arange(seg.first, seg.last + 1)
    off = (np.arange(crop_px) - (crop_px - 1) / 2.0) * crop_mm
    dr = off / pixel_mm[0]
    dc = off / pixel_mm[1]
    c = seg.centres[zs]
    nz = stack.shape[0]
    out = np.empty((len(zs), 3, crop_px, crop_px), np.float32)
    for j, dz in enumerate((-1, 0, 1)):
        zz = np.clip(zs + dz, 0, nz - 1).astype(np.float64)
        rows = c[:, 0, None, None] + dr[None, :, None] + 0 * dc[None, None, :]
        cols = c[:, 1, None, None] + dc[None, None, :] + 0 * dr[None, :, None]
        coords = [np.broadcast_to(zz[:, None, None], rows.shape), rows, cols]
        out[:, j] = ndimage.map_coordinates(stack, coords, order=1, mode="constant", cval=0.0)
    out /= max(seg.myo_max, 1e-6)
    return out.reshape(len(zs), -1)


def network_rings(stack: np.ndarray, seg: LvSegmentation, pixel_mm: tuple[float, float],
                  variant: str | None = None) -> tuple[np.ndarray, str]:
    """Run network 1 on every LV slice: returns ((n_lv, N_SECTORS) float32 rings in counts, model tag)."""
    from device.inference import model_provider

    model = model_provider().get(RING_MODEL, variant)
    p = model.manifest.params
    x = ring_inputs(stack, seg, pixel_mm, int(p["crop_px"]), float(p["crop_mm"]))
    name = model.manifest.inputs[0].name
    y = np.asarray(next(iter(model.run({name: x}).values())), np.float32).reshape(len(x), N_SECTORS)
    return np.clip(y, 0, None) * seg.myo_max, model.tag


@dataclass(frozen=True)
class TerritoryRisk:
    """prob: LAD, LCX, RCA probability at risk (0..1); at_risk: prob >= the manifest threshold; model: tag."""

    prob: dict[str, float]
    at_risk: dict[str, bool]
    threshold: float
    model: str


def territory_risk(polar_pct: np.ndarray, variant: str | None = None) -> TerritoryRisk:
    """Run network 2 on a (N_RINGS, N_SECTORS) stress polar map in percent of max."""
    from device.inference import model_provider

    model = model_provider().get(TERRITORY_MODEL, variant)
    x = (np.asarray(polar_pct, np.float32).reshape(1, N_RINGS * N_SECTORS) / 100.0).astype(np.float32)
    name = model.manifest.inputs[0].name
    y = np.asarray(next(iter(model.run({name: x}).values())), np.float64).reshape(-1)
    labels = list(model.manifest.labels) or list(TERRITORIES)
    thr = float(model.manifest.params.get("threshold", 0.5))
    prob = {t: float(np.clip(y[labels.index(t)], 0, 1)) for t in TERRITORIES}
    return TerritoryRisk(prob, {t: prob[t] >= thr for t in TERRITORIES}, thr, model.tag)
