"""Perfusion bullseye analysis (patent 000): short-axis stack -> 17-segment polar map, territories, report.

Entry points for the UI, store and report layers:

* ``load_volume(path, voxel_mm=None, orientation="auto") -> (PerfusionVolume, PerfusionVolume | None)``
* ``analyse_study(stress, voxel_mm, rest=None, orientation="short_axis", ...) -> PerfusionResult``
* ``render_bullseye(polar_pct, segments_pct, title, model_tag, abnormal) -> RGB uint8``,
  ``render_slices(stack, first, last) -> RGB uint8``
* ``classify_regions(counts (n, 44)) -> RegionsResult`` for SPECTF-format rows.
"""

from device.perfusion.analysis import LvGeometry, PerfusionResult, TerritoryResult, analyse_study
from device.perfusion.bullseye import render_bullseye, render_slices, write_bullseye_png
from device.perfusion.io import PerfusionVolume, load_volume
from device.perfusion.spectf import RegionsResult, classify_regions, parse_spectf, read_spectf

__all__ = ["LvGeometry", "PerfusionResult", "PerfusionVolume", "RegionsResult", "TerritoryResult", "analyse_study",
           "classify_regions", "load_volume", "parse_spectf", "read_spectf", "render_bullseye", "render_slices",
           "write_bullseye_png"]
