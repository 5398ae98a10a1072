"""Short-axis MRI upload checks (split from :mod:`device.usecases.sax_study`): unpack the uploaded files or .zip
within the limits, and read the DICOM headers only to refuse what is not a short-axis MR series, in one line."""

from __future__ import annotations

import io
import zipfile
import zlib
from pathlib import Path

from device.errors import UserError

MAX_FILES = 2000                       # a cine stack: ~12 slices x 30 phases; more is not one SAX series
MAX_SERIES_PIXELS = 150_000_000        # all frames together (600 MB as float32 in the job)
_ZIP_ERRORS = (zipfile.BadZipFile, ValueError, OSError, EOFError, zlib.error, NotImplementedError, RuntimeError)
_MODALITY_WORDS = {"US": "an ultrasound (echo) image", "CT": "a CT image", "NM": "a nuclear medicine image",
                   "PT": "a PET image", "CR": "an X-ray", "DX": "an X-ray", "XA": "an angiogram", "ECG": "an ECG"}


def unpack(files: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """The DICOM files of an upload: several files as they are, or the members of one .zip (limits checked on the
    zip directory before anything is inflated). UserError when empty, damaged or too large."""
    from device.limits import check_zip

    files = [(n, d) for n, d in files if d]
    if not files:
        raise UserError("choose the short-axis series first: its DICOM files, or a .zip of its folder")
    if len(files) == 1 and (files[0][0].lower().endswith(".zip") or files[0][1][:2] == b"PK"):
        check_zip(files[0][1], files[0][0], max_members=MAX_FILES + 50)
        try:
            zf = zipfile.ZipFile(io.BytesIO(files[0][1]))
            infos = [i for i in zf.infolist() if not i.is_dir() and not Path(i.filename).name.startswith(".")
                     and Path(i.filename).name.upper() != "DICOMDIR"]
            out = [(Path(i.filename).name, zf.read(i)) for i in infos]
        except _ZIP_ERRORS as exc:
            raise UserError(f"{files[0][0]} cannot be unpacked ({type(exc).__name__}); zip the series folder "
                            "again") from None
        if not out:
            raise UserError(f"{files[0][0]} holds no files; zip the folder of the short-axis series")
        files = out
    if len(files) > MAX_FILES:
        raise UserError(f"{len(files)} files are more than one short-axis series ({MAX_FILES} at most); upload one "
                        "series")
    return files


def check_series(files: list[tuple[str, bytes]]) -> dict:
    """Read the DICOM headers only (no pixels) and refuse what is not a short-axis MR series, in one line.
    Returns what the page shows about the series: images, slice positions, modality, description."""
    import pydicom

    from device.limits import MAX_IMAGE_PIXELS, check_pixels

    n_img, pixels, locs, descs, mods, other = 0, 0, set(), set(), set(), 0
    for name, data in files:
        try:
            ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
        except Exception:  # noqa: BLE001 - not DICOM or damaged: pydicom raises many kinds; counted, not fatal
            other += 1
            continue
        if not any(k in ds for k in ("Rows", "Columns")):
            other += 1
            continue
        try:
            rows, cols = int(ds.Rows), int(ds.Columns)
            n = int(getattr(ds, "NumberOfFrames", 1) or 1)
        except (TypeError, ValueError):
            raise UserError(f"{name}: its image size is unreadable; export the series again") from None
        check_pixels(cols, rows, name, MAX_IMAGE_PIXELS)
        n_img += max(n, 1)
        pixels += rows * cols * max(n, 1)
        mods.add(str(getattr(ds, "Modality", "") or "").upper())
        descs.add(" ".join(str(getattr(ds, k, "") or "") for k in ("SeriesDescription", "ProtocolName")).strip())
        loc = getattr(ds, "SliceLocation", None)
        if loc is not None:
            try:
                locs.add(round(float(loc), 1))
            except (TypeError, ValueError):
                pass
    if n_img == 0:
        raise UserError("no DICOM images were found in the upload" + (f" ({other} other files)" if other else "")
                        + "; upload the DICOM files of a short-axis MRI series")
    if pixels > MAX_SERIES_PIXELS:
        raise UserError(f"the series has {pixels / 1e6:.0f} million pixels, more than the cart reads "
                        f"({MAX_SERIES_PIXELS / 1e6:.0f} million); upload one short-axis series")
    bad = sorted(m for m in mods if m and m != "MR")
    if bad:
        what = _MODALITY_WORDS.get(bad[0], f"a {bad[0]} image")
        raise UserError(f"this is {what} (Modality {bad[0]}), not a short-axis MRI series; upload a cine MRI "
                        "short-axis series (Modality MR)")
    from device.lv.dicom_io import _LAX_WORDS
    for d in descs:
        low = d.lower()
        if any(w in low for w in _LAX_WORDS) and "sax" not in low and "short" not in low:
            raise UserError(f"the series '{d}' is a long-axis view, not short-axis; upload a short-axis (SAX) series")
    return {"n_images": n_img, "n_slices": len(locs), "modality": "MR", "description": sorted(descs)[0][:80]}
