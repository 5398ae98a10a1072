"""USB detection on a fake /proc + /sys tree, and eject through injected commands."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from device.errors import UserError
from device.sync.usb import UsbDrive, eject, find_usb_drives


def _fake_root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "proc").mkdir(parents=True)
    (root / "proc" / "mounts").write_text(
        "sysfs /sys sysfs rw 0 0\n"
        "/dev/mmcblk0p2 / ext4 rw,relatime 0 0\n"
        "/dev/sda1 /data ext4 rw 0 0\n"
        "/dev/sdb1 /media/cart/MY\\040STICK vfat rw,nosuid 0 0\n"
        "/dev/sdc1 /media/cart/RO vfat ro 0 0\n"
        "/dev/sdd1 /media/cart/VIAUSB exfat rw 0 0\n")
    for disk, removable in (("mmcblk0", "0"), ("sda", "0"), ("sdb", "1"), ("sdc", "1")):
        d = root / "sys" / "block" / disk
        d.mkdir(parents=True)
        (d / "removable").write_text(removable + "\n")
    # sdd: not flagged removable but its sysfs path runs through a USB controller (USB SSD enclosures do this)
    real = root / "sys" / "devices" / "pci0000:00" / "usb2" / "2-1" / "block" / "sdd"
    real.mkdir(parents=True)
    (real / "removable").write_text("0\n")
    os.symlink(real, root / "sys" / "block" / "sdd")
    for m in ("MY STICK", "RO", "VIAUSB"):
        (root / "media" / "cart" / m).mkdir(parents=True)
    (root / "dev" / "disk" / "by-label").mkdir(parents=True)
    os.symlink("../../sdb1", root / "dev" / "disk" / "by-label" / "MY\\x20STICK")
    return root


def _statvfs(path: str):
    class S:
        f_frsize = 4096
        f_blocks = 1000
        f_bavail = 250 if "RO" not in path else 0
    return S()


def test_finds_only_removable_mounts(tmp_path):
    root = _fake_root(tmp_path)
    drives = find_usb_drives(root, statvfs=_statvfs)
    assert [d.device for d in drives] == ["/dev/sdb1", "/dev/sdc1", "/dev/sdd1"]
    stick = drives[0]
    assert stick.mountpoint == root / "media" / "cart" / "MY STICK" and stick.mountpoint.is_dir()
    assert (stick.label, stick.disk, stick.fs_type, stick.free_bytes, stick.total_bytes, stick.read_only) == (
        "MY STICK", "sdb", "vfat", 250 * 4096, 1000 * 4096, False)
    assert drives[1].read_only and drives[2].label == "VIAUSB"


def test_mount_roots_limit(tmp_path):
    root = _fake_root(tmp_path)
    assert find_usb_drives(root, statvfs=_statvfs, mount_roots=["/mnt", "/run/media"]) == []
    assert len(find_usb_drives(root, statvfs=_statvfs, mount_roots=["/media/"])) == 3


def test_no_proc_means_no_drives(tmp_path):
    assert find_usb_drives(tmp_path) == []


def test_real_machine_does_not_crash():
    assert isinstance(find_usb_drives(), list)


DRIVE = UsbDrive("/dev/sdb1", "sdb", Path("/media/x"), "vfat", "X", 10, 5, False)


def test_eject_with_udisks():
    calls, synced = [], []

    def run(cmd, **kw):
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 0, "", "")
    method = eject(DRIVE, run=run, which=lambda n: "/usr/bin/" + n, sync=lambda: synced.append(1))
    assert method == "udisksctl" and synced == [1]
    assert calls[0][:4] == ["udisksctl", "unmount", "-b", "/dev/sdb1"]
    assert calls[1][:4] == ["udisksctl", "power-off", "-b", "/dev/sdb"]


def test_eject_falls_back_to_umount_and_reports_busy():
    calls = []

    def run(cmd, **kw):
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 32, "", "umount: /media/x: target is busy.")
    which = lambda n: "/bin/umount" if n == "umount" else None  # noqa: E731
    with pytest.raises(UserError, match="target is busy"):
        eject(DRIVE, run=run, which=which, sync=lambda: None)
    assert calls == [["umount", "/media/x"]]


def test_eject_udisks_refused_then_umount():
    calls = []

    def run(cmd, **kw):
        calls.append(cmd[:2])
        ok = cmd[0] == "umount"
        return subprocess.CompletedProcess(cmd, 0 if ok else 1, "", "" if ok else "Error: Not authorized")
    method = eject(DRIVE, run=run, which=lambda n: "/usr/bin/" + n, sync=lambda: None)
    assert method == "umount (unmounted; power-off refused)"
    assert calls == [["udisksctl", "unmount"], ["umount", "/media/x"], ["udisksctl", "power-off"]]


def test_eject_without_tools_says_what_to_do():
    with pytest.raises(UserError, match="remove the drive"):
        eject(DRIVE, run=None, which=lambda n: None, sync=lambda: None)  # type: ignore[arg-type]
