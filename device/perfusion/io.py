"""Load perfusion volumes: DICOM NM/PET (multi-frame file or a folder of slices), .npy and .npz.

Every loader returns ``PerfusionVolume`` (counts ``(nz, ny, nx)`` float32, voxel size ``(dz, dy, dx)`` mm, what is
known about the orientation). Bad input raises ``InputError`` with what to do; nothing here guesses a voxel size.

``.npz`` layout: ``stress`` (or ``volume``/``counts``), optional ``rest``, ``voxel_mm`` (1 or 3 numbers),
optional ``orientation`` ("short_axis" | "transaxial") and ``direction`` (3x3, LPS unit vector of each index axis z,
y, x). A ``.npy`` holds one volume; its voxel size must be given.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from device.errors import InputError
from device.limits import check_npz

ORIENTATIONS = ("auto", "short_axis", "transaxial")


@dataclass(frozen=True)
class PerfusionVolume:
    """counts: (nz, ny, nx) float32 >= 0; voxel_mm: (dz, dy, dx); orientation: short_axis | transaxial | unknown;
    direction: (3, 3) LPS unit vectors of the index axes (z, y, x) or None; modality: NM | PT | array."""

    counts: np.ndarray
    voxel_mm: tuple[float, float, float]
    orientation: str
    direction: np.ndarray | None
    source: str
    modality: str


def _voxel(v: object, source: str) -> tuple[float, float, float]:
    try:
        arr = np.atleast_1d(np.asarray(v, dtype=np.float64)).ravel()
    except (TypeError, ValueError):
        arr = np.array([np.nan])
    if arr.size == 1:
        arr = np.repeat(arr, 3)
    if arr.size != 3 or not np.all(np.isfinite(arr)) or np.any(arr <= 0) or np.any(arr > 50):
        raise InputError(f"{source}: voxel size must be 1 or 3 positive numbers in mm (0-50), got {arr.tolist()}")
    return float(arr[0]), float(arr[1]), float(arr[2])


def check_counts(vol: np.ndarray, source: str) -> np.ndarray:
    """Validate a 3-D count volume; returns float32. InputError for wrong shape, NaN, negative or all-zero data."""
    a = np.asarray(vol)
    if a.ndim == 4 and 1 in a.shape:
        a = a.reshape([s for s in a.shape if s != 1] or [1])
    if a.ndim != 3:
        raise InputError(f"{source}: a perfusion volume is 3-D (slices, rows, columns); this one has shape {a.shape}")
    if min(a.shape) < 8:
        raise InputError(f"{source}: volume {a.shape} is too small (each axis needs 8 or more voxels)")
    if a.dtype.kind not in "uif":
        raise InputError(f"{source}: volume data type {a.dtype} is not numeric")
    a = a.astype(np.float32)
    if not np.all(np.isfinite(a)):
        raise InputError(f"{source}: the volume contains NaN or infinite values; re-export the reconstruction")
    if a.min() < 0:
        a = np.clip(a, 0, None)  # reconstructions (OSEM with scatter correction) can dip below zero
    if a.max() <= 0:
        raise InputError(f"{source}: all counts are zero; no polar map can be made from an empty volume")
    return a


def load_array(path: Path, voxel_mm: object = None, orientation: str = "auto") -> tuple[PerfusionVolume,
                                                                                       PerfusionVolume | None]:
    """(stress, rest or None) from a .npy or .npz file."""
    src = str(path)
    name = Path(path).name  # messages name the file, never a server path (an upload is read from a temp folder)
    try:
        check_npz(path, name)  # declared sizes first: a 1 MB .npz may inflate to 10 GB
    except OSError as exc:
        raise InputError(f"{name}: cannot be read ({exc.__class__.__name__}); check the path") from None
    try:
        data = np.load(path, allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 - damaged files: BadZipFile, TokenError, SyntaxError, MemoryError...
        raise InputError(f"{name}: cannot be read as a numpy file ({exc.__class__.__name__}); "
                         "give .npy or .npz") from None
    if isinstance(data, np.ndarray):
        if voxel_mm is None:
            raise InputError(f"{name}: a .npy volume carries no voxel size; give --voxel-mm (e.g. --voxel-mm 3.2)")
        vol = PerfusionVolume(check_counts(data, src), _voxel(voxel_mm, src), _orient(orientation), None, src,
                              "array")
        return vol, None
    try:
        with data:
            return _from_npz(data, src, voxel_mm, orientation)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged member: BadZipFile, zlib.error, EOFError, TokenError...
        raise InputError(f"{name}: an array in the .npz cannot be read ({exc.__class__.__name__}); save the study "
                         "again with numpy.savez") from None


def _from_npz(data, src: str, voxel_mm: object, orientation: str) -> tuple[PerfusionVolume, PerfusionVolume | None]:
    name = Path(src).name
    keys = set(data.files)
    key = next((k for k in ("stress", "volume", "counts") if k in keys), None)
    if key is None:
        raise InputError(f"{name}: the .npz holds {sorted(keys)}; it needs 'stress' (or 'volume'), optional 'rest', "
                         "and 'voxel_mm'")
    vx = voxel_mm if voxel_mm is not None else (data["voxel_mm"] if "voxel_mm" in keys else None)
    if vx is None:
        raise InputError(f"{name}: no 'voxel_mm' in the file; add it or give --voxel-mm")
    orient = orientation
    if orient == "auto" and "orientation" in keys:
        orient = str(data["orientation"])
    direction = np.asarray(data["direction"], np.float64) if "direction" in keys else None
    if direction is not None and (direction.shape != (3, 3) or not np.all(np.isfinite(direction))
                                  or abs(np.linalg.det(direction)) < 1e-3):   # three independent axes
        raise InputError(f"{name}: 'direction' must be 3x3 (LPS unit vector of each index axis z, y, x)")
    voxel = _voxel(vx, src)
    stress = PerfusionVolume(check_counts(data[key], f"{name}:{key}"), voxel, _orient(orient), direction, src,
                             "array")
    rest = None
    if "rest" in keys:
        rest = PerfusionVolume(check_counts(data["rest"], f"{name}:rest"), voxel, _orient(orient), direction, src,
                               "array")
        if rest.counts.shape != stress.counts.shape:
            raise InputError(f"{name}: rest {rest.counts.shape} and stress {stress.counts.shape} differ in shape")
    return stress, rest


def _orient(o: str) -> str:
    o = str(o).lower().replace("-", "_")
    if o not in ORIENTATIONS:
        raise InputError(f"orientation '{o}' is not one of {', '.join(ORIENTATIONS)}")
    return "unknown" if o == "auto" else o


def load_volume(path: Path | str, voxel_mm: object = None, orientation: str = "auto"
                ) -> tuple[PerfusionVolume, PerfusionVolume | None]:
    """(stress, rest or None) from a DICOM file/folder, .npy or .npz. ``orientation`` overrides what the file says."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file or folder; give a DICOM series, .npy or .npz volume")
    if p.suffix.lower() in (".npy", ".npz"):
        return load_array(p, voxel_mm, orientation)
    from device.perfusion.dicom_io import load_dicom

    vol = load_dicom(p)
    if orientation != "auto":
        vol = PerfusionVolume(vol.counts, vol.voxel_mm, _orient(orientation), vol.direction, vol.source, vol.modality)
    if voxel_mm is not None:
        vol = PerfusionVolume(vol.counts, _voxel(voxel_mm, str(p)), vol.orientation, vol.direction, vol.source,
                              vol.modality)
    return vol, None
