"""Encrypted bundles: round trip, manifest, progress, wrong passphrase, too little room, a drive pulled mid-write."""

from __future__ import annotations

import errno
import hashlib
import io
import json
import zipfile

import numpy as np
import pytest

from device.sync.bundle import BundleError, BundleFile, read_bundle_file, required_bytes, verify_bundle, \
    write_bundle
from device.sync.export import exam_bundle_files, export_to_drive
from device.sync.usb import UsbDrive

PW = "correct horse battery"


def _files(n=5, size=20_000):
    """Incompressible content (like compressed pixel data), so the zip is about as large as the data."""
    rng = np.random.default_rng(n)
    return [BundleFile(f"E1/DICOM/f{i}.dcm", rng.integers(0, 256, size, dtype=np.uint8).tobytes()) for i in range(n)]


def test_roundtrip_manifest_and_progress(tmp_path):
    seen = []
    files = _files()
    res = write_bundle(files, tmp_path, "export_1", PW, progress=lambda ph, d, t: seen.append((ph, d, t)))
    assert res.path == tmp_path / "export_1.zip" and res.n_files == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export_1.zip"]  # no temp left
    man = verify_bundle(res.path, PW)
    assert {e["path"]: e["sha256"] for e in man["files"]} == {
        f.arcname: hashlib.sha256(f.data).hexdigest() for f in files}
    assert read_bundle_file(res.path, PW, "E1/DICOM/f3.dcm") == files[3].data
    assert seen[-1] == ("verify", sum(len(f.data) for f in files), sum(len(f.data) for f in files))
    assert [s for s in seen if s[0] == "write"][-1][1] == sum(len(f.data) for f in files)


def test_contents_are_encrypted(tmp_path):
    res = write_bundle([BundleFile("a.txt", b"PATIENT SECRET NAME" * 10)], tmp_path, "b", PW)
    raw = res.path.read_bytes()
    assert b"PATIENT SECRET NAME" not in raw
    with zipfile.ZipFile(res.path) as z:  # the stdlib cannot read AES entries without the key
        with pytest.raises((RuntimeError, NotImplementedError)):
            z.read("a.txt")


def test_wrong_passphrase_and_short_passphrase(tmp_path):
    res = write_bundle(_files(1), tmp_path, "b", PW)
    with pytest.raises(BundleError, match="passphrase"):
        verify_bundle(res.path, "wrong passphrase!")
    with pytest.raises(BundleError, match="8 characters"):
        write_bundle(_files(1), tmp_path, "c", "short")


def test_too_little_room_is_refused_before_writing(tmp_path):
    files = _files()
    drive = UsbDrive("/dev/sdb1", "sdb", tmp_path, "vfat", "TINY", 10**6, required_bytes(files) - 1, False)
    with pytest.raises(BundleError, match=r"TINY|has .* MB free"):
        export_to_drive(drive, files, PW, "x")
    assert list(tmp_path.iterdir()) == []
    ro = UsbDrive("/dev/sdb1", "sdb", tmp_path, "vfat", "LOCKED", 10**9, 10**9, True)
    with pytest.raises(BundleError, match="read-only"):
        export_to_drive(ro, files, PW, "x")


class _PulledDrive(io.RawIOBase):
    """A file that dies with EIO after ``limit`` bytes, as when the drive is pulled out."""

    def __init__(self, path, limit):
        self.f = open(path, "wb")
        self.limit, self.n = limit, 0

    def writable(self):
        return True

    def write(self, b):
        if self.n + len(b) > self.limit:
            part = self.limit - self.n
            if part > 0:
                self.f.write(bytes(b)[:part])
                self.n += part
            self.f.flush()
            raise OSError(errno.EIO, "Input/output error")
        self.n += len(b)
        return self.f.write(b)

    def seek(self, *a):
        return self.f.seek(*a)

    def tell(self):
        return self.f.tell()

    def seekable(self):
        return True

    def fileno(self):
        return self.f.fileno()

    def flush(self):
        if not self.f.closed:
            self.f.flush()

    def close(self):
        self.f.close()
        super().close()


@pytest.mark.parametrize("limit", [100, 50_000, 99_000])
def test_pulled_drive_leaves_nothing_that_looks_complete(tmp_path, limit):
    with pytest.raises(BundleError, match="removed"):
        write_bundle(_files(), tmp_path, "export_2", PW, opener=lambda p: _PulledDrive(p, limit))
    assert not (tmp_path / "export_2.zip").exists()
    assert [p for p in tmp_path.iterdir() if p.suffix == ".zip"] == []


def test_corrupted_bundle_fails_verification(tmp_path):
    res = write_bundle(_files(2), tmp_path, "b", PW)
    raw = bytearray(res.path.read_bytes())
    raw[200] ^= 0xFF
    res.path.write_bytes(bytes(raw))
    with pytest.raises(BundleError):
        verify_bundle(res.path, PW)


def test_bad_names_rejected(tmp_path):
    with pytest.raises(BundleError):
        write_bundle([BundleFile("../evil", b"x")], tmp_path, "b", PW)
    with pytest.raises(BundleError):
        write_bundle([BundleFile("a", b"x"), BundleFile("a", b"y")], tmp_path, "b", PW)
    with pytest.raises(BundleError):
        write_bundle(_files(1), tmp_path, "bad name/..", PW)


def test_exam_bundle_layout(tmp_path):
    from device.reports.dicom.exam import build_report_objects
    from device.reports.pdf import render_pdf
    from device.reports.sample import sample_report
    d = sample_report("echo")
    pdf = render_pdf(d)
    objs = build_report_objects(d, pdf)
    files = exam_bundle_files(d, pdf=pdf, objects=objs)
    names = [f.arcname for f in files]
    assert "ACC0001/report_echo_v1_en.pdf" in names and len([n for n in names if "/DICOM/" in n]) == len(objs)
    res = write_bundle(files, tmp_path, "exam", PW)
    man = verify_bundle(res.path, PW)
    assert len(man["files"]) == len(files)
    j = json.loads(read_bundle_file(res.path, PW, "ACC0001/report_echo_v1_en_fhir.json"))
    assert j["resourceType"] == "Bundle"
