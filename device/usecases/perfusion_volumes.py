"""Perfusion studies as stored volumes: parse the voxel size, store an upload (DICOM files, .zip, .npy/.npz) as
``volume`` captures before any analysis, and read a stored volume back for the analysis."""

from __future__ import annotations

import io
import re
import tokenize
import zipfile
import zlib
from pathlib import Path

import numpy as np

from device.errors import InputError, UserError
from device.store import clinical

ORIENTATIONS = ("auto", "short_axis", "transaxial")
MAX_ZIP_FILES, MAX_ZIP_BYTES = 4000, 1 << 30
# what numpy and zipfile raise for a damaged .npz (a bad member header is parsed with tokenize / ast)
_NPZ_ERRORS = (ValueError, OSError, KeyError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError,
               SyntaxError, tokenize.TokenError, MemoryError)
_ZIP_ERRORS = (zipfile.BadZipFile, ValueError, OSError, EOFError, zlib.error, NotImplementedError, RuntimeError,
               MemoryError)

# ---------------------------------------------------------------- storing an upload (before any analysis)

def parse_voxel(text: str) -> tuple[float, ...] | None:
    """'3.2' or '4 3.2 3.2' / '4,3.2,3.2' (mm) -> numbers; '' -> None. UserError when not 1 or 3 positive numbers."""
    parts = [p for p in re.split(r"[\s,;x×]+", text.strip()) if p]
    if not parts:
        return None
    try:
        vals = tuple(float(p) for p in parts)
    except ValueError:
        raise UserError(f"voxel size '{text.strip()}' is not a number; type e.g. 3.2 or 4 3.2 3.2 (mm)") from None
    if len(vals) not in (1, 3) or not all(0 < v <= 50 for v in vals):
        raise UserError("the voxel size is 1 or 3 numbers between 0 and 50 mm (slice, row, column), e.g. 3.2")
    return vals


def _format(name: str) -> str:
    suf = Path(name).suffix.lower()
    return {".npy": "npy", ".npz": "npz", ".zip": "zip"}.get(suf, "dicom")


_MEDIA = {"npy": "application/x-npy", "npz": "application/x-npz", "zip": "application/zip",
          "dicom": "application/dicom"}


def _npz_keys(data: bytes) -> list[str]:
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            return list(z.files)
    except _NPZ_ERRORS:  # unreadable: stored anyway; the analysis says what is wrong
        return []


def store_volumes(c, blobs, exam_id: int, phase: str, files: list[tuple[str, bytes]], voxel, orientation: str,
                  extra: dict | None = None, split_rest: bool = True) -> list[clinical.Capture]:
    """Store one uploaded phase as volume capture(s) (inside a Tx). Several DICOM files become one .zip blob; a
    .npz holding ``stress`` and ``rest`` becomes a stress and a rest capture of the same blob (unless
    ``split_rest`` is False: a rest study was uploaded separately and wins)."""
    fmts = {_format(n) for n, _ in files}
    if len(files) > 1 and fmts & {"npy", "npz", "zip"}:
        raise UserError("give one .npy/.npz/.zip file, or several DICOM files of one series, per phase")
    if "npy" in fmts and voxel is None:
        raise UserError("a .npy volume carries no voxel size; type it in 'Voxel size (mm)', e.g. 3.2")
    if len(files) > 1:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
            for i, (name, data) in enumerate(files):
                zf.writestr(f"{i:05d}_{Path(name).name or 'slice'}", data)
        fmt, data = "zip", buf.getvalue()
    else:
        fmt, data = fmts.pop(), files[0][1]
    meta = {"phase": phase, "format": fmt, "filenames": [Path(n).name for n, _ in files][:50],
            "voxel_mm": list(voxel) if voxel else None, "orientation": orientation, "key_image": False,
            **(extra or {})}
    label = phase + (" (simulated demo)" if meta.get("simulated") else "")
    if fmt != "npz":
        return [clinical.add_capture(c, blobs, exam_id, "volume", data, _MEDIA[fmt], label, None, meta)]
    keys = _npz_keys(data)
    if phase == "rest":
        key = "rest" if "rest" in keys else next((k for k in ("volume", "counts", "stress") if k in keys), None)
        return [clinical.add_capture(c, blobs, exam_id, "volume", data, _MEDIA[fmt], label, None,
                                     {**meta, "array": key})]
    key = next((k for k in ("stress", "volume", "counts") if k in keys), None)
    caps = [clinical.add_capture(c, blobs, exam_id, "volume", data, _MEDIA[fmt], label, None, {**meta, "array": key})]
    if split_rest and "rest" in keys and key is not None:
        rlabel = "rest" + (" (simulated demo)" if meta.get("simulated") else "")
        caps.append(clinical.add_capture(c, blobs, exam_id, "volume", data, _MEDIA[fmt], rlabel, None,
                                         {**meta, "phase": "rest", "array": "rest"}))
    return caps


# ---------------------------------------------------------------- reading a stored volume back

def load_capture(blobs, cap: clinical.Capture, work: Path):
    """The capture's PerfusionVolume via ``device.perfusion.load_volume`` (files written to ``work``)."""
    from device.perfusion import load_volume

    data, m = blobs.get(cap.blob_sha256), cap.meta
    fmt = m.get("format", "dicom")
    p = work / f"cap{cap.id}"
    if fmt in ("npz", "npy"):
        from device.limits import check_npz

        check_npz(data, "the uploaded file")  # declared sizes first: a 1 MB .npz inflated to 10.7 GB here
    if fmt == "npz" and m.get("array"):
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as z:
                arrays = {"stress": z[m["array"]], **{k: z[k] for k in ("voxel_mm", "orientation", "direction")
                                                        if k in z.files}}
        except _NPZ_ERRORS as exc:
            raise InputError(f"the uploaded .npz cannot be read ({type(exc).__name__}); re-export it with "
                             "numpy.savez") from None
        p = p.with_suffix(".npz")
        np.savez(p, **arrays)
    elif fmt in ("npz", "npy"):
        p = p.with_suffix("." + fmt)
        p.write_bytes(data)
    elif fmt == "zip":
        _unzip(data, p)
    else:
        p = p.with_suffix(".dcm")
        p.write_bytes(data)
    return load_volume(p, m.get("voxel_mm"), m.get("orientation", "auto"))[0]


def _unzip(data: bytes, folder: Path) -> None:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise InputError("the uploaded .zip is damaged; zip the DICOM series again") from None
    infos = [i for i in zf.infolist() if not i.is_dir() and Path(i.filename).name.upper() != "DICOMDIR"
             and not Path(i.filename).name.startswith(".")]
    if not infos:
        raise InputError("the .zip holds no files; zip the DICOM slices of one series")
    if len(infos) > MAX_ZIP_FILES or sum(i.file_size for i in infos) > MAX_ZIP_BYTES:
        raise InputError(f"the .zip is too large (more than {MAX_ZIP_FILES} files or 1 GB); give one series")
    folder.mkdir(parents=True)
    for k, info in enumerate(infos):  # own names: nothing from the archive chooses a path
        try:
            data = zf.read(info)
        except _ZIP_ERRORS as exc:  # bad header, CRC, deflate stream, offsets; encrypted (RuntimeError)
            raise InputError(f"{Path(info.filename).name} in the uploaded .zip cannot be unpacked "
                             f"({type(exc).__name__}); zip the DICOM series again") from None
        (folder / f"{k:05d}.dcm").write_bytes(data)
