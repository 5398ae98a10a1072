"""Encrypted export bundles for a USB drive: an AES-256 zip (pyzipper, WinZip AES) holding DICOM, PDF, JSON and a
``manifest.json`` with the sha256 of every file.

Written atomically: to a hidden ``.<name>.zip.part`` first, fsynced, then renamed, then read back and checked
against the manifest. A drive pulled mid-write leaves at most the ``.part`` file (not a valid zip, not named
like a bundle); a bundle that fails verification is removed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pyzipper

from device.errors import UserError
from device.fsutil import fsync_dir

FORMAT = "cardiocart.bundle/1"
MIN_PASSPHRASE = 8
Progress = Callable[[str, int, int], None]  # (phase "write"|"verify", bytes done, bytes total)


class BundleError(UserError):
    """The bundle could not be written or did not verify."""


@dataclass(frozen=True)
class BundleFile:
    """One file of the bundle: its path inside the zip (``/``-separated, relative) and its bytes."""

    arcname: str
    data: bytes


@dataclass(frozen=True)
class BundleResult:
    path: Path
    size_bytes: int
    n_files: int
    manifest: dict[str, Any]


def required_bytes(files: list[BundleFile]) -> int:
    """Room the bundle may need: content (stored if deflate does not help) + per-file zip/AES overhead + 5%."""
    content = sum(len(f.data) for f in files)
    return int(content * 1.05) + 512 * (len(files) + 1) + 64 * 1024


def _check_names(files: list[BundleFile]) -> None:
    seen: set[str] = set()
    for f in files:
        a = f.arcname
        if not a or a.startswith("/") or ".." in a.split("/") or "\\" in a or a == "manifest.json":
            raise BundleError(f"bad file name in export bundle: '{a}'")
        if a in seen:
            raise BundleError(f"file '{a}' appears twice in the export bundle")
        seen.add(a)


def write_bundle(files: list[BundleFile], dest_dir: Path, name: str, passphrase: str, *,
                 free_bytes: int | None = None, progress: Progress | None = None,
                 opener: Callable[[Path], IO[bytes]] | None = None,
                 now: dt.datetime | None = None) -> BundleResult:
    """Write ``dest_dir/<name>.zip`` and verify it. ``free_bytes``: room on the drive (refused if too little).

    ``opener`` opens the temp file for binary writing (tests inject a failing one to simulate a pulled drive).
    Raises BundleError (a UserError) with a message for the user; never leaves a file that looks complete.
    """
    if len(passphrase) < MIN_PASSPHRASE:
        raise BundleError(f"the export passphrase is shorter than {MIN_PASSPHRASE} characters; an administrator "
                          "must set a longer one")
    if not re.fullmatch(r"[A-Za-z0-9._-]{1,100}", name):
        raise BundleError(f"bundle name '{name}' may only use letters, digits, '.', '_' and '-'")
    if not files:
        raise BundleError("nothing to export: choose at least one exam")
    _check_names(files)
    need = required_bytes(files)
    if free_bytes is not None and free_bytes < need:
        raise BundleError(f"the USB drive has {_mb(free_bytes)} free but this export needs about {_mb(need)}; "
                          "use a larger drive, free space on it, or export fewer exams")
    dest_dir = Path(dest_dir)
    final = dest_dir / f"{name}.zip"
    tmp = dest_dir / f".{name}.zip.part"
    manifest = {"format": FORMAT, "created": (now or dt.datetime.now(dt.UTC)).isoformat(),
                "files": [{"path": f.arcname, "size": len(f.data), "sha256": hashlib.sha256(f.data).hexdigest()}
                          for f in files]}
    total = sum(len(f.data) for f in files)
    open_tmp = opener or _open_new
    try:
        fh = open_tmp(tmp)
        try:
            zf = pyzipper.AESZipFile(fh, "w", compression=pyzipper.ZIP_DEFLATED, encryption=pyzipper.WZ_AES)
            try:
                zf.setpassword(passphrase.encode("utf-8"))
                zf.setencryption(pyzipper.WZ_AES, nbits=256)
                done = 0
                for f in files:
                    zf.writestr(f.arcname, f.data)
                    done += len(f.data)
                    if progress:
                        progress("write", done, total)
                zf.writestr("manifest.json", json.dumps(manifest, indent=1).encode("utf-8"))
                zf.close()  # writes the central directory
            except BaseException:
                zf.fp = None  # abandon: a zip without its central directory is not a readable bundle
                raise
            fh.flush()
            os.fsync(fh.fileno())
            _drop_cache(fh.fileno())  # so verification reads the drive, not the page cache
        finally:
            try:
                fh.close()
            except OSError:
                pass
        os.replace(tmp, final)
        fsync_dir(dest_dir)
    except OSError as exc:
        _remove(tmp)
        raise BundleError(f"writing the export to {dest_dir} failed ({exc.strerror or exc}); the drive may have "
                          "been removed or is full; nothing usable was left on it; reinsert it and export again"
                          ) from None
    try:
        verify_bundle(final, passphrase, progress=progress)
    except BundleError:
        _remove(final)
        raise
    return BundleResult(path=final, size_bytes=final.stat().st_size, n_files=len(files), manifest=manifest)


def _open_new(path: Path) -> IO[bytes]:
    """A new file at ``path``, never reached through a symbolic link: a drive that holds a link named like the temp
    file (pointing at the cart's database, say) must not make the export write elsewhere."""
    try:
        path.unlink()          # a stale temp file of an earlier attempt, or a link: removed, never followed
    except FileNotFoundError:
        pass
    return open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666), "wb")


def verify_bundle(path: Path, passphrase: str, progress: Progress | None = None) -> dict[str, Any]:
    """Read the bundle back: decrypt every file and compare its sha256 with the manifest. Returns the manifest."""
    try:
        with pyzipper.AESZipFile(path) as zf:
            zf.setpassword(passphrase.encode("utf-8"))
            manifest = json.loads(zf.read("manifest.json"))
            entries = manifest["files"]
            names = set(zf.namelist()) - {"manifest.json"}
            if names != {e["path"] for e in entries}:
                raise BundleError(f"export bundle {path.name} does not match its manifest (files differ)")
            total, done = sum(int(e["size"]) for e in entries), 0
            for e in entries:
                data = zf.read(e["path"])
                if hashlib.sha256(data).hexdigest() != e["sha256"]:
                    raise BundleError(f"export bundle {path.name}: {e['path']} is damaged (checksum differs)")
                done += len(data)
                if progress:
                    progress("verify", done, total)
    except RuntimeError as exc:  # pyzipper: bad password
        raise BundleError(f"cannot open export bundle {path.name}: {exc}; check the passphrase") from None
    except (OSError, KeyError, ValueError, TypeError, zlib.error, struct.error, NotImplementedError,
            pyzipper.BadZipFile) as exc:   # struct.error: a damaged AES extra field
        raise BundleError(f"export bundle {path.name} is unreadable or incomplete ({exc}); export again") from None
    return manifest


def _drop_cache(fd: int) -> None:
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    except (AttributeError, OSError):
        pass


def _remove(p: Path) -> None:
    try:
        p.unlink()
    except OSError:
        pass


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def read_bundle_file(path: Path, passphrase: str, arcname: str) -> bytes:
    """One file out of a bundle (for checks and the import side)."""
    with pyzipper.AESZipFile(path) as zf:
        zf.setpassword(passphrase.encode("utf-8"))
        return zf.read(arcname)


__all__ = ["BundleFile", "BundleResult", "BundleError", "write_bundle", "verify_bundle", "required_bytes",
           "read_bundle_file"]
