"""USB drives: find the mounted removable ones, and eject one safely.

Detection reads ``<root>/proc/mounts`` and ``<root>/sys/block/<disk>/removable`` (or a ``/usb`` in the disk's
sysfs path), so tests pass a fake root. Eject flushes (``sync``), then ``udisksctl unmount`` + ``power-off`` when
udisks is present, else ``umount``; the commands are injectable.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from device.errors import UserError


@dataclass(frozen=True)
class UsbDrive:
    """A mounted partition of a removable/USB disk. ``mountpoint`` is where to write (already joined to root)."""

    device: str          # /dev/sdb1
    disk: str            # sdb
    mountpoint: Path
    fs_type: str
    label: str
    total_bytes: int
    free_bytes: int
    read_only: bool


def _unescape(s: str) -> str:
    """/proc/mounts escapes space, tab, newline and backslash as octal (\\040)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), s)


def _disk_of(partition: str) -> str:
    m = re.fullmatch(r"((?:mmcblk|nvme\d+n)\d+)p\d+", partition)
    if m:
        return m.group(1)
    return re.sub(r"\d+$", "", partition)


def _is_removable(root: Path, disk: str) -> bool:
    base = root / "sys" / "block" / disk
    try:
        if (base / "removable").read_text().strip() == "1":
            return True
    except OSError:
        pass
    try:
        return "/usb" in os.path.realpath(base)
    except OSError:
        return False


def _labels(root: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    d = root / "dev" / "disk" / "by-label"
    if d.is_dir():
        for link in d.iterdir():
            try:
                target = os.path.basename(os.readlink(link))
            except OSError:
                continue
            out[target] = _unescape(link.name.replace("\\x20", " "))
    return out


def find_usb_drives(root: Path = Path("/"),
                    statvfs: Callable[[str], os.statvfs_result] = os.statvfs,
                    mount_roots: Sequence[str] | None = None) -> list[UsbDrive]:
    """Mounted partitions of removable disks, in /proc/mounts order; [] when none or /proc is unreadable.

    ``mount_roots`` (settings ``usb.mount_roots``, e.g. /media, /mnt, /run/media) limits where a drive may be
    mounted; None accepts any mount point.
    """
    root = Path(root)
    try:
        mounts = (root / "proc" / "mounts").read_text().splitlines()
    except OSError:
        return []
    labels = _labels(root)
    drives: list[UsbDrive] = []
    for line in mounts:
        parts = line.split()
        if len(parts) < 4 or not parts[0].startswith("/dev/"):
            continue
        dev, mnt, fs, opts = parts[0], _unescape(parts[1]), parts[2], parts[3].split(",")
        if mount_roots is not None and not any(
                mnt == r.rstrip("/") or mnt.startswith(r.rstrip("/") + "/") for r in mount_roots):
            continue
        part = os.path.basename(dev)
        disk = _disk_of(part)
        if not _is_removable(root, disk):
            continue
        mountpoint = root / mnt.lstrip("/")
        try:
            st = statvfs(str(mountpoint))
            total, free = st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize
        except OSError:
            continue
        drives.append(UsbDrive(device=dev, disk=disk, mountpoint=mountpoint, fs_type=fs,
                               label=labels.get(part, os.path.basename(mnt) or part), total_bytes=total,
                               free_bytes=free, read_only="ro" in opts))
    return drives


def eject(drive: UsbDrive, run: Callable[..., subprocess.CompletedProcess] = subprocess.run,
          which: Callable[[str], str | None] = shutil.which, sync: Callable[[], None] = os.sync) -> str:
    """Flush and unmount ``drive``, then power it off when udisks can. Returns the method used.

    Tries ``udisksctl unmount`` first, then ``umount`` (e.g. when udisks is not allowed to unmount a drive that
    another service mounted). Raises UserError naming the drive when nothing could unmount it.
    """
    sync()
    reasons: list[str] = []

    def attempt(cmd: list[str]) -> bool:
        r = run(cmd, capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            msg = (r.stderr or r.stdout or "").strip().splitlines()
            reasons.append(msg[-1] if msg else f"{cmd[0]} exit {r.returncode}")
        return r.returncode == 0

    has_udisks = bool(which("udisksctl"))
    if has_udisks and attempt(["udisksctl", "unmount", "-b", drive.device, "--no-user-interaction"]):
        method = "udisksctl"
    elif which("umount") and attempt(["umount", str(drive.mountpoint)]):
        method = "umount"
    elif not reasons:
        raise UserError(f"cannot eject {drive.label}: neither udisksctl nor umount is installed; wait a few "
                        "seconds and remove the drive")
    else:
        raise UserError(f"could not eject USB drive {drive.label} ({'; '.join(reasons)}); close anything using "
                        "it and try again")
    if has_udisks and not attempt(["udisksctl", "power-off", "-b", f"/dev/{drive.disk}",
                                   "--no-user-interaction"]):
        return f"{method} (unmounted; power-off refused)"  # unmounted: the data is safe
    return method
