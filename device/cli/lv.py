"""``python -m device lv sax SERIES --out DIR``: short-axis LV segmentation and LVQuan indices.

Writes DIR/<image-stem>.png (label masks the size of the image: 0 background, 1 cavity, 2 myocardium; a
multi-frame file gives <stem>_<frame>.png) and DIR/indices.csv with the columns in ``COLUMNS``
and, for a stack of slices, DIR/volumes.csv: EDV, ESV, SV, EF by summation of discs (device.lv.sax_volumes)
(the work is the SAX use case, device.usecases.sax).
"""

from __future__ import annotations

import argparse
import sys

from device.usecases.sax import COLUMNS, mask_name  # noqa: F401 - the table's columns, documented here


def register(subparsers) -> None:
    p = subparsers.add_parser("lv", help="LV measurements (short-axis segmentation and indices)")
    sub = p.add_subparsers(dest="lv_command", metavar="SUBCOMMAND")
    s = sub.add_parser("sax", help="segment a DICOM short-axis series and write masks + indices.csv")
    s.add_argument("series", help="a folder of DICOM files, a multi-frame DICOM file, or one DICOM image")
    s.add_argument("--out", required=True, help="output folder (created if missing)")
    s.add_argument("--variant", default=None, help="model variant (default: the manifest's sax_variant)")
    s.add_argument("--degree", type=int, default=None, help="phase polynomial degree (default 11)")
    s.set_defaults(func=run_sax)
    v = sub.add_parser("indices", help="the 11 short-axis indices + ED/ES per frame by a chosen method (issue 16)")
    v.add_argument("series", help="a folder of DICOM files, a multi-frame DICOM file, or one DICOM image")
    v.add_argument("--out", required=True, help="CSV file to write")
    v.add_argument("--method", default=None, choices=["segment", "regress", "p001"],
                   help="segment = U-Net then measure (default); regress = patent 002 lv_dla; p001 = patent 001 "
                        "lv_p001")
    v.add_argument("--degree", type=int, default=11, help="phase polynomial degree (segment/regress)")
    v.set_defaults(func=run_indices)
    p.set_defaults(func=lambda _a: (p.print_help(), 2)[1])


def run_sax(args: argparse.Namespace) -> int:
    from device.usecases.sax import measure_series

    res = measure_series(args.series, args.out, variant=args.variant, degree=args.degree)
    for line in res.failures:
        print(line, file=sys.stderr)
    from device.cli.lang import model_line, site_language
    from device.i18n import message, t
    lang = site_language(args)
    print(t(lang, "cli.sax_summary", n=res.n_images, measured=res.n_measured, ed=", ".join(res.ed) or "-",
            es=", ".join(res.es) or "-"))
    v = res.volumes
    print(t(lang, "cli.sax_volumes", slices=v.n_slices, spacing=f"{v.spacing_mm:.1f}", edv=f"{v.edv_ml:.0f}",
            esv=f"{v.esv_ml:.0f}", sv=f"{v.sv_ml:.0f}", ef=f"{v.ef_pct:.0f}") if v is not None
          else t(lang, "cli.sax_no_volumes", reason=message(lang, res.volumes_reason)))
    print(model_line(lang, res.model_tag))
    print(t(lang, "cli.wrote", path=res.indices_csv))
    return 0 if res.n_measured > 0 else 2


def run_indices(args: argparse.Namespace) -> int:
    import csv
    from pathlib import Path

    from device.cli.lang import model_line, site_language
    from device.i18n import t
    from device.inference import model_provider
    from device.lv.dicom_io import read_frames
    from device.lv.segment import load_lv_model
    from device.lv.variants_series import DEFAULT_METHOD, MODEL_OF, measure_frames

    method = args.method or DEFAULT_METHOD
    seg = load_lv_model("sax")
    other = model_provider().get(MODEL_OF[method]) if MODEL_OF[method] else None
    rows = measure_frames(read_frames(args.series), method, seg, other, args.degree)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    lang = site_language(args)
    print(model_line(lang, rows[0]["model"]))
    print(t(lang, "cli.wrote", path=out))
    return 0
