"""``python -m device export``: render a report JSON to PDF/HTML/DICOM/FHIR/CSV, list USB drives, write an
encrypted bundle. Works on files, without the store."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from device.errors import InputError, UserError
from device.fsutil import atomic_write_bytes, atomic_write_text


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("export", help="render reports (PDF, DICOM, FHIR, CSV) and write USB bundles")
    sub = p.add_subparsers(dest="export_cmd", metavar="ACTION", required=True)

    s = sub.add_parser("sample", help="write a demonstration report JSON")
    s.add_argument("out", type=Path)
    s.add_argument("--kind", choices=("echo", "ecg", "perfusion"), default="echo")
    s.add_argument("--lang", choices=("en", "zh-CN"), default="en")
    s.set_defaults(func=_sample)

    r = sub.add_parser("render", help="render a report JSON to the chosen formats")
    r.add_argument("report", type=Path, help="report JSON (format cardiocart.report/1)")
    r.add_argument("--pdf", type=Path)
    r.add_argument("--html", type=Path)
    r.add_argument("--dicom", type=Path, metavar="DIR", help="write the exam's DICOM objects here")
    r.add_argument("--fhir", type=Path)
    r.add_argument("--csv", type=Path, help="measurements CSV")
    r.set_defaults(func=_render)

    d = sub.add_parser("drives", help="list mounted USB drives")
    d.set_defaults(func=_drives)

    b = sub.add_parser("bundle", help="write an encrypted, verified bundle of report JSONs")
    b.add_argument("reports", type=Path, nargs="+")
    where = b.add_mutually_exclusive_group(required=True)
    where.add_argument("--to", type=Path, metavar="DIR", help="destination directory")
    where.add_argument("--drive", metavar="DEVICE", help="USB partition, e.g. /dev/sdb1 (see 'export drives')")
    b.add_argument("--name", default="cardiocart_export")
    b.add_argument("--passphrase-file", type=Path,
                   help="file holding the passphrase (default: $CARDIOCART_EXPORT_PASSPHRASE)")
    b.add_argument("--eject", action="store_true", help="eject the drive afterwards")
    b.set_defaults(func=_bundle)

    w = sub.add_parser("send", help="send DICOM files to a PACS by DICOMweb STOW-RS (skips what it holds)")
    w.add_argument("files", type=Path, nargs="+")
    w.add_argument("--url", required=True, help="DICOMweb root, e.g. https://pacs/dicom-web")
    w.add_argument("--user", default="", help="HTTP basic user (password from --secret-file)")
    w.add_argument("--secret-file", type=Path, help="file holding the password, or the bearer token without --user")
    w.add_argument("--ca-bundle", default="", help="PEM file to verify the PACS's certificate")
    w.set_defaults(func=_send)


def _sample(args: argparse.Namespace) -> int:
    from device.reports import serialize
    from device.reports.sample import sample_report
    atomic_write_text(args.out, serialize.dumps(sample_report(args.kind, args.lang)))
    print(args.out)
    return 0


def _render(args: argparse.Namespace) -> int:
    from device.reports import serialize
    from device.reports.dicom.exam import build_report_objects, write_objects
    from device.reports.fhir import bundle_json
    from device.reports.html import render_html
    from device.reports.pdf import render_pdf
    from device.reports.tabular import measurements_csv

    if not any((args.pdf, args.html, args.dicom, args.fhir, args.csv)):
        raise InputError("choose at least one output: --pdf, --html, --dicom, --fhir or --csv")
    doc = serialize.load(args.report)
    pdf = render_pdf(doc) if (args.pdf or args.dicom or args.fhir) else None
    if args.pdf:
        atomic_write_bytes(args.pdf, pdf or b"", 0o644)
        print(args.pdf)
    if args.html:
        atomic_write_text(args.html, render_html(doc), 0o644)
        print(args.html)
    if args.dicom:
        for p in write_objects(build_report_objects(doc, pdf), args.dicom):
            print(p)
    if args.fhir:
        atomic_write_text(args.fhir, bundle_json(doc, pdf), 0o644)
        print(args.fhir)
    if args.csv:
        atomic_write_text(args.csv, measurements_csv(doc), 0o644)
        print(args.csv)
    return 0


def _drives(args: argparse.Namespace) -> int:
    from device.sync.usb import find_usb_drives
    drives = find_usb_drives()
    if not drives:
        print("no USB drive mounted; insert one and wait for it to mount")
        return 1
    for d in drives:
        print(f"{d.device}\t{d.label}\t{d.mountpoint}\t{d.free_bytes / 1e6:.0f} MB free"
              f"{'  (read-only)' if d.read_only else ''}")
    return 0


def _passphrase(args: argparse.Namespace) -> str:
    if args.passphrase_file:
        try:
            return args.passphrase_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise InputError(f"cannot read passphrase file {args.passphrase_file}: {exc.strerror}") from None
    pw = os.environ.get("CARDIOCART_EXPORT_PASSPHRASE", "")
    if not pw:
        raise UserError("no export passphrase: pass --passphrase-file or set CARDIOCART_EXPORT_PASSPHRASE")
    return pw


def _bundle(args: argparse.Namespace) -> int:
    from device.reports import serialize
    from device.reports.dicom.exam import build_report_objects
    from device.reports.pdf import render_pdf
    from device.sync.bundle import write_bundle
    from device.sync.export import exam_bundle_files, export_to_drive
    from device.sync.usb import eject, find_usb_drives

    pw = _passphrase(args)
    files = []
    for path in args.reports:
        doc = serialize.load(path)
        pdf = render_pdf(doc)
        files += exam_bundle_files(doc, pdf=pdf, objects=build_report_objects(doc, pdf))

    def progress(phase: str, done: int, total: int) -> None:
        print(f"\r{phase} {100 * done // max(total, 1):3d}%", end="", file=sys.stderr, flush=True)

    drive = None
    if args.drive:
        drive = next((d for d in find_usb_drives() if args.drive in (d.device, d.label)), None)
        if drive is None:
            raise UserError(f"USB drive {args.drive} is not mounted; see 'python -m device export drives'")
        res = export_to_drive(drive, files, pw, args.name, progress)
    else:
        args.to.mkdir(parents=True, exist_ok=True)
        st = os.statvfs(args.to)
        res = write_bundle(files, args.to, args.name, pw, free_bytes=st.f_bavail * st.f_frsize, progress=progress)
    print(file=sys.stderr)
    print(f"{res.path}\t{res.n_files} files\t{res.size_bytes} bytes\tverified")
    if drive is not None and args.eject:
        print(f"ejected ({eject(drive)})")
    return 0


def _send(args: argparse.Namespace) -> int:
    import pydicom
    from pydicom.errors import InvalidDicomError

    from device.sync.dicomweb import DicomWebClient, DicomWebConfig

    secret = ""
    if args.secret_file:
        try:
            secret = args.secret_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise InputError(f"cannot read secret file {args.secret_file}: {exc.strerror}") from None
    client = DicomWebClient(DicomWebConfig(args.url, username=args.user, password=secret if args.user else "",
                                           bearer_token="" if args.user else secret,
                                           verify=args.ca_bundle or True))
    sent = held = 0
    for path in args.files:
        try:
            data = path.read_bytes()
            ds = pydicom.dcmread(path, stop_before_pixels=True)
            study, sop = str(ds.StudyInstanceUID), str(ds.SOPInstanceUID)
        except (OSError, InvalidDicomError, AttributeError) as exc:
            raise InputError(f"{path} is not a readable DICOM file with study and SOP UIDs ({exc})") from None
        if client.holds(study, sop):
            held += 1
            continue
        client.send(data, study, sop)
        sent += 1
    print(f"sent {sent}, already on the PACS {held}")
    return 0
