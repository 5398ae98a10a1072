"""HTML and PDF rendering: content present (read back with pdftotext when available), CJK, determinism."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess

import pytest

from device import DISCLAIMER_EN, DISCLAIMER_ZH
from device.reports.html import render_html
from device.reports.model import sign
from device.reports.pdf import FontMissingError, render_pdf
from device.reports.sample import sample_report

NOW = dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.UTC)


def _pdf_text(pdf: bytes, tmp_path) -> str:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) not installed")
    p = tmp_path / "r.pdf"
    p.write_bytes(pdf)
    return subprocess.run(["pdftotext", str(p), "-"], capture_output=True, text=True, check=True).stdout


def test_html_has_measurements_images_disclaimer_and_escapes():
    d = sample_report("echo")
    d = d.__class__(**{**d.__dict__, "free_text": "<script>alert(1)</script>"})
    html = render_html(d)
    assert 'data-name="ef_pct"' in html and ">58</td>" in html and "58.2" not in html and "52–72" in html
    assert html.count("data:image/png;base64,") == 2
    assert "lv_seg 1.0.0" in html and DISCLAIMER_EN in html
    assert "<script>alert" not in html and "&lt;script&gt;" in html
    assert "DRAFT" in html


def test_html_chinese_signed():
    d = sign(sample_report("ecg", "zh-CN"), "李医生", NOW)
    html = render_html(d)
    assert "心电图报告" in html and "李医生" in html and DISCLAIMER_ZH in html and "草稿" not in html


@pytest.mark.parametrize("kind", ["echo", "ecg", "perfusion"])
def test_pdf_english_content(kind, tmp_path):
    d = sign(sample_report(kind, "en"), "Dr. Jane Roe", NOW)
    pdf = render_pdf(d)
    assert pdf.startswith(b"%PDF-")
    text = _pdf_text(pdf, tmp_path)
    assert "Dr. Jane Roe" in text and "Doe, Jane" in text and DISCLAIMER_EN.rstrip(".") in text
    for m in d.measurements:
        assert m.display_label in text
    assert "Models used" in text


def test_pdf_chinese_text_is_real_text(tmp_path):
    d = sample_report("echo", "zh-CN")
    text = _pdf_text(render_pdf(d), tmp_path)
    assert "超声心动图报告" in text and "王小明" in text and "左心室" in text
    assert DISCLAIMER_ZH.rstrip("。") in text


def test_pdf_is_deterministic_per_version():
    d = sample_report("ecg")
    assert render_pdf(d) == render_pdf(d)


def test_missing_font_names_the_package(monkeypatch, tmp_path):
    monkeypatch.setenv("CARDIOCART_CJK_FONT", str(tmp_path / "absent.ttc"))
    with pytest.raises(FontMissingError, match="fonts-wqy-zenhei"):
        render_pdf(sample_report())


def test_long_report_spans_pages_with_disclaimer_on_each(tmp_path):
    import dataclasses

    import numpy as np

    from device.reports.model import KeyImage, ReportMeasurement, Section
    d = sample_report("echo", "zh-CN")
    secs = tuple(Section(f"节 {i}", tuple(ReportMeasurement(f"m{i}_{j}", j * 1.5, "mm", f"测量 {i}.{j}", 1, 10,
                                                             "解读文字" * 8, "model", "1.0") for j in range(8)))
                 for i in range(5))
    img = np.tile(np.arange(200, dtype=np.uint8), (300, 1))
    d = dataclasses.replace(d, sections=secs, key_images=tuple(KeyImage.from_array(img, f"图像 {k}", key=str(k))
                                                               for k in range(5)),
                            free_text="很长的意见。" * 300)
    text = _pdf_text(render_pdf(d), tmp_path)
    pages = text.split("\f")
    pages = [p for p in pages if p.strip()]
    assert len(pages) >= 4
    assert all(DISCLAIMER_ZH in p for p in pages)  # footer on every page
    assert "测量 4.7" in text and "图像 4" in text
