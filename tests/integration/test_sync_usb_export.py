"""USB export of real exam objects to a detected (fake-root) drive: progress, verify, a drive pulled mid-write,
too little room, then eject through injected commands."""

from __future__ import annotations

import errno
import io
import subprocess

import pydicom
import pytest

from device.reports.dicom.exam import build_report_objects
from device.reports.model import sign
from device.reports.pdf import render_pdf
from device.reports.sample import sample_report
from device.sync import bundle as bundle_mod
from device.sync.bundle import BundleError, read_bundle_file, verify_bundle
from device.sync.export import exam_bundle_files, export_to_drive
from device.sync.usb import eject, find_usb_drives

PW = "admin set this phrase"


def _drive_root(tmp_path, free_blocks=100_000):
    root = tmp_path / "root"
    (root / "proc").mkdir(parents=True)
    (root / "proc" / "mounts").write_text("/dev/sdb1 /media/cart/STICK vfat rw 0 0\n")
    (root / "sys" / "block" / "sdb").mkdir(parents=True)
    (root / "sys" / "block" / "sdb" / "removable").write_text("1\n")
    (root / "media" / "cart" / "STICK").mkdir(parents=True)

    class St:
        f_frsize = 4096
        f_blocks = 200_000
        f_bavail = free_blocks
    return root, (lambda p: St())


def _exam_files():
    files = []
    for i, kind in enumerate(("echo", "ecg", "perfusion")):
        d = sign(sample_report(kind, accession=f"ACC{i}"), "Dr. Roe", sample_report().exam.exam_datetime)
        pdf = render_pdf(d)
        files += exam_bundle_files(d, pdf=pdf, objects=build_report_objects(d, pdf))
    return files


def test_export_verify_pulled_and_eject(tmp_path, monkeypatch):
    root, statvfs = _drive_root(tmp_path)
    [drive] = find_usb_drives(root, statvfs=statvfs)
    files = _exam_files()

    # 1. the drive is pulled half way: the error says so, nothing looks complete
    real_open = open

    class Dying(io.FileIO):
        written = 0

        def write(self, b):
            Dying.written += len(b)
            if Dying.written > 150_000:
                raise OSError(errno.ENODEV, "No such device")
            return super().write(b)

    monkeypatch.setattr(bundle_mod, "open", lambda p, m: Dying(p, "wb"), raising=False)
    with pytest.raises(BundleError, match="removed"):
        export_to_drive(drive, files, PW, "cardiocart_2026-11-21")
    assert not any(p.suffix == ".zip" for p in drive.mountpoint.iterdir())
    monkeypatch.setattr(bundle_mod, "open", real_open, raising=False)

    # 2. reinserted: the export completes and verifies, with progress to 100 %
    seen = []
    res = export_to_drive(drive, files, PW, "cardiocart_2026-11-21", progress=lambda *a: seen.append(a))
    assert seen[-1][0] == "verify" and seen[-1][1] == seen[-1][2]
    man = verify_bundle(res.path, PW)
    dcm_names = [e["path"] for e in man["files"] if e["path"].endswith(".dcm")]
    assert len(dcm_names) == 4 + 3 + 3
    ds = pydicom.dcmread(io.BytesIO(read_bundle_file(res.path, PW, dcm_names[0])))
    assert ds.PatientID == "PID-0001"

    # 3. eject: sync then udisks unmount + power-off
    calls = []
    method = eject(drive, run=lambda c, **k: calls.append(c) or subprocess.CompletedProcess(c, 0, "", ""),
                   which=lambda n: f"/usr/bin/{n}", sync=lambda: calls.append(["sync"]))
    assert method == "udisksctl" and calls[0] == ["sync"] and calls[1][1] == "unmount"


def test_small_drive_refused(tmp_path):
    root, statvfs = _drive_root(tmp_path, free_blocks=10)  # 40 kB free
    [drive] = find_usb_drives(root, statvfs=statvfs)
    with pytest.raises(BundleError, match="40.0 MB|0.0 MB free|larger drive"):
        export_to_drive(drive, _exam_files(), PW, "x")
    assert list(drive.mountpoint.iterdir()) == []
