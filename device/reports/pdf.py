"""Render a ReportDoc as PDF with fpdf2 and a CJK font (WenQuanYi Zen Hei), in English or Simplified Chinese.

The output is deterministic: the same report version gives the same bytes (the creation date is the signing time,
or the exam time for a draft), so an Encapsulated PDF re-exported later is the same object.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import os
from pathlib import Path

from fpdf import FPDF
from fpdf.fonts import FontFace

from device.errors import UserError
from device.reports.html import report_title
from device.reports.i18n import labels
from device.reports.model import ReportDoc, Section

FONT_CANDIDATES = (
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),            # Debian fonts-wqy-zenhei
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),   # Debian fonts-noto-cjk
)
_FAMILY = "cjk"
logging.getLogger("fontTools.subset").setLevel(logging.ERROR)  # "BDF NOT subset" chatter from the .ttc


class FontMissingError(UserError):
    """No CJK-capable font is installed."""


def find_cjk_font() -> Path:
    """The font file to use: ``$CARDIOCART_CJK_FONT`` if set, else the first Debian CJK font present."""
    env = os.environ.get("CARDIOCART_CJK_FONT")
    candidates = [Path(env)] if env else list(FONT_CANDIDATES)
    for c in candidates:
        if c.is_file():
            return c
    raise FontMissingError(
        f"no CJK font found (looked for {', '.join(str(c) for c in candidates)}); install the Debian package "
        "fonts-wqy-zenhei (sudo apt-get install fonts-wqy-zenhei) or set CARDIOCART_CJK_FONT to a .ttf/.ttc file")


class _ReportPDF(FPDF):
    def __init__(self, doc: ReportDoc, font: Path):
        super().__init__(orientation="P", unit="mm", format="A4")
        self.doc = doc
        self.L = labels(doc.language)
        self.add_font(_FAMILY, fname=str(font))
        self.set_auto_page_break(auto=True, margin=22)
        self.set_margins(15, 15, 15)

    def footer(self) -> None:
        self.set_y(-18)
        self.set_font(_FAMILY, size=8)
        self.set_text_color(160, 0, 0)
        self.cell(0, 4, self.doc.disclaimer, align="C", new_x="LMARGIN", new_y="NEXT")
        self.set_text_color(80, 80, 80)
        p = self.doc.patient
        self.cell(0, 4, f"{p.name} · {p.patient_id} · {self.doc.exam.accession} · "
                        f"{self.L['version']} {self.doc.version} · {self.page_no()}/{{nb}}", align="C")
        self.set_text_color(0, 0, 0)


def render_pdf(doc: ReportDoc, font: Path | None = None) -> bytes:
    """The report as PDF bytes (A4). Raises FontMissingError (a UserError) naming the font package if absent."""
    pdf = _ReportPDF(doc, font or find_cjk_font())
    L = pdf.L
    stamp = doc.signature.signed_at if doc.signature else doc.exam.exam_datetime
    pdf.set_creation_date(stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC))
    pdf.set_title(report_title(doc))
    pdf.set_author(doc.signature.signer if doc.signature else "CardioCart")
    pdf.set_creator("CardioCart")
    pdf.set_lang(doc.language)
    pdf.alias_nb_pages()
    pdf.add_page()
    w = pdf.epw

    pdf.set_font(_FAMILY, size=16)
    pdf.cell(w, 9, report_title(doc), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(_FAMILY, size=10)
    if doc.signature:
        pdf.cell(w, 6, f"{L['signed_by']}: {doc.signature.signer} {L['signed_at']} "
                       f"{doc.signature.signed_at.strftime('%Y-%m-%d %H:%M %Z')} · {L['version']} {doc.version}",
                 new_x="LMARGIN", new_y="NEXT")
    else:
        pdf.set_text_color(160, 0, 0)
        pdf.cell(w, 6, f"{L['unsigned']} · {L['version']} {doc.version}", new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(0, 0, 0)
    if doc.amends_version:
        pdf.multi_cell(w, 5, f"{L['amends']} {doc.amends_version} · {L['reason']}: {doc.amendment_reason}",
                       new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)

    head = FontFace(emphasis=None, fill_color=(230, 230, 230))
    with pdf.table(col_widths=(22, 38, 22, 38), headings_style=head, first_row_as_headings=False,
                   line_height=6, text_align="LEFT") as t:
        for row in _header_rows(doc, L):
            t.row(row)
    _conclusion(pdf, doc, L)
    for s in doc.body_sections:
        _section(pdf, s, L, head)
    pdf.set_font(_FAMILY, size=10)
    if doc.key_images:
        pdf.ln(3)
        _need(pdf, 70)  # keep the heading with the first row of images
        pdf.set_font(_FAMILY, size=12)
        pdf.cell(w, 7, L["key_images"], new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(_FAMILY, size=9)
        _images(pdf, doc)
    if doc.models_used:
        pdf.ln(1)
        pdf.set_font(_FAMILY, size=9)
        pdf.multi_cell(w, 5, f"{L['models_used']}: {', '.join(doc.models_used)}", new_x="LMARGIN", new_y="NEXT")
    if doc.appendix_sections:
        pdf.ln(3)
        _need(pdf, 30)
        pdf.set_font(_FAMILY, size=12)
        pdf.cell(w, 7, L["appendix"], new_x="LMARGIN", new_y="NEXT")
        for s in doc.appendix_sections:          # a section named like the heading above is not titled twice
            _section(pdf, s, L, head, titled=s.title.strip() != L["appendix"].strip())
    pdf.ln(2)
    pdf.set_font(_FAMILY, size=11)
    pdf.set_text_color(160, 0, 0)
    pdf.multi_cell(w, 6, doc.disclaimer, border=1, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)
    return bytes(pdf.output())


def _header_rows(doc: ReportDoc, L: dict[str, str]) -> list[tuple[str, str, str, str]]:
    """Patient and exam rows; height, weight, BSA (Mosteller) and the indication when recorded (an echo report
    always shows the body-size row, with a dash for what is missing, since indexed values depend on it)."""
    p, e = doc.patient, doc.exam
    rows = [(L["patient"], p.name, L["patient_id"], p.patient_id),
            (L["sex"], L[f"sex.{p.sex}"], L["birth_date"], p.birth_date.isoformat() if p.birth_date else ""),
            (L["accession"], e.accession, L["exam_date"], e.exam_datetime.strftime("%Y-%m-%d %H:%M"))]
    if doc.kind == "echo" or e.height_cm or e.weight_kg:
        rows.append((L["height"], f"{e.height_cm:.0f} cm" if e.height_cm else "—",
                     L["weight"], f"{e.weight_kg:.1f} kg" if e.weight_kg else "—"))
        bsa = e.bsa_m2
        rows.append((L["bsa"], f"{bsa:.2f} m²" if bsa else "—", L["indication"], e.indication or "—"))
    elif e.indication:
        rows.append((L["indication"], e.indication, "", ""))
    return rows


def _conclusion(pdf: _ReportPDF, doc: ReportDoc, L: dict[str, str]) -> None:
    """The physician's conclusion (the free text) and the key findings (values outside their reference range)
    first, before the measurement tables, as echo labs write a report."""
    w = pdf.epw
    if doc.free_text:
        pdf.ln(2)
        pdf.set_font(_FAMILY, size=12)
        pdf.cell(w, 7, L["conclusion"], new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(_FAMILY, size=10)
        pdf.multi_cell(w, 5, doc.free_text, new_x="LMARGIN", new_y="NEXT")
    if not any(s.measurements for s in doc.body_sections):
        return
    pdf.ln(2)
    pdf.set_font(_FAMILY, size=12)
    pdf.cell(w, 7, L["key_findings"], new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(_FAMILY, size=10)
    if not doc.key_findings:
        pdf.multi_cell(w, 5, L["no_key_findings"], new_x="LMARGIN", new_y="NEXT")
    for m in doc.key_findings:
        interp = f" ({m.interpretation})" if m.interpretation else ""
        pdf.multi_cell(w, 5, f"· {m.display_label}: {m.display_value} {m.unit} {L['flag.' + m.flag]}{interp}",
                       new_x="LMARGIN", new_y="NEXT")


def _section(pdf: _ReportPDF, s: Section, L: dict[str, str], head: FontFace, titled: bool = True) -> None:
    """One section: its title, then a table of its rows (values rounded by unit); a section without rows is a line
    of text (views captured, a clip not measured and why)."""
    w = pdf.epw
    pdf.ln(2)
    _need(pdf, 30 if s.measurements else 8)  # keep a section title with its header row and first rows
    pdf.set_font(_FAMILY, size=12 if s.measurements else 10)
    if titled:
        pdf.multi_cell(w, 6, s.title, new_x="LMARGIN", new_y="NEXT")
    if not s.measurements:
        return
    pdf.set_font(_FAMILY, size=9)
    with pdf.table(col_widths=(40, 16, 12, 18, 34, 26), headings_style=head, line_height=5,
                   text_align="LEFT") as t:
        t.row((L["measurement"], L["value"], L["unit"], L["reference"], L["interpretation"], L["model"]))
        for m in s.measurements:
            value = m.display_value + (f" {L['flag.' + m.flag]}" if m.flag else "")
            model = f"{m.model_text} ({L['confirmed'] if m.confirmed else L['unconfirmed']})" if m.model_name \
                else ""
            unit = "" if m.unit == "1" else m.unit          # a score or ratio: no unit, not a bare "1"
            t.row((m.display_label, value, unit, m.reference_text, m.interpretation, model))


def _need(pdf: FPDF, mm: float) -> None:
    """Start a new page unless ``mm`` millimetres are left on this one."""
    if pdf.get_y() + mm > pdf.page_break_trigger:
        pdf.add_page()


def _images(pdf: _ReportPDF, doc: ReportDoc) -> None:
    """Key images two per row, at most 85 x 80 mm each, each with its caption underneath."""
    from PIL import Image

    col_w, gap, max_h = 85.0, 10.0, 80.0
    x0 = pdf.l_margin
    sized = []
    for k in doc.key_images:
        with Image.open(io.BytesIO(k.png)) as im:
            ratio = im.height / im.width
        h = min(col_w * ratio, max_h)
        sized.append((k, h / ratio, h))
    for r in range(0, len(sized), 2):
        row = sized[r:r + 2]
        caption_h = max(len(pdf.multi_cell(col_w, 4, k.caption, dry_run=True, output="LINES")) for k, _, _ in row) * 4
        row_h = max(h for _, _, h in row) + 1 + caption_h + 3
        _need(pdf, row_h)
        y = pdf.get_y()
        for col, (k, w, h) in enumerate(row):
            x = x0 + col * (col_w + gap)
            pdf.image(io.BytesIO(k.png), x=x, y=y, w=w, h=h)
            pdf.set_xy(x, y + h + 1)
            pdf.multi_cell(col_w, 4, k.caption, align="L")
        pdf.set_xy(x0, y + row_h)
