"""The one i18n mechanism (device/i18n): the glossary and every web UI catalogue hold the same keys in English and
zh-CN, the zh-CN texts are Chinese, {fields} agree, and the report/UI/section builders read from it."""

from __future__ import annotations

import json
import re
import string
from pathlib import Path

import pytest

from device import i18n
from device.reports.i18n import labels

ROOT = Path(__file__).resolve().parents[2]
PAIRS = [(ROOT / "device/i18n/glossary.en.json", ROOT / "device/i18n/glossary.zh-CN.json")]
PAIRS += [(p, p.with_name(p.name.replace(".en.json", ".zh-CN.json")))
          for p in sorted((ROOT / "webui/i18n").glob("*.en.json"))]
PAIRS += [(ROOT / "webui/i18n/en.json", ROOT / "webui/i18n/zh-CN.json")]
CJK = re.compile(r"[\u4e00-\u9fff]")


def _fields(text: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(text) if f}


@pytest.mark.parametrize("en_path,zh_path", PAIRS, ids=[p[0].name for p in PAIRS])
def test_same_keys_in_both_languages(en_path, zh_path):
    en = json.loads(en_path.read_text(encoding="utf-8"))
    zh = json.loads(zh_path.read_text(encoding="utf-8"))
    assert sorted(set(en) - set(zh)) == [], f"in {en_path.name}, missing from {zh_path.name}"
    assert sorted(set(zh) - set(en)) == [], f"in {zh_path.name}, missing from {en_path.name}"
    for k in en:
        assert _fields(en[k]) == _fields(zh[k]), f"{k}: placeholders differ"


def test_key_parity_check_fails_on_a_missing_key(tmp_path):
    (tmp_path / "a.en.json").write_text('{"x": "X", "y": "Y"}', encoding="utf-8")
    (tmp_path / "a.zh-CN.json").write_text('{"x": "甲"}', encoding="utf-8")
    with pytest.raises(AssertionError):
        test_same_keys_in_both_languages(tmp_path / "a.en.json", tmp_path / "a.zh-CN.json")


def test_glossary_zh_is_chinese_for_clinical_terms():
    zh = i18n.glossary("zh-CN")
    for prefix in ("measure.", "interp.", "segment.", "finding.", "echo.structure.", "ecg.section.", "report."):
        keys = [k for k in zh if k.startswith(prefix) and k not in ("report.flag.H", "report.flag.L")]
        assert keys, prefix
        untranslated = [k for k in keys if not CJK.search(zh[k])]
        assert untranslated == [], untranslated


def test_lookups():
    assert i18n.t("zh-CN", "interp.mildly abnormal") == "轻度异常"
    assert i18n.t("en", "report.views_captured", views="A4C") == "Views captured: A4C"
    assert i18n.term("zh-CN", "measure.unknown_name_mm", "unknown_name_mm") == "unknown_name_mm"
    assert i18n.normalise("zh_CN") == "zh-CN" and i18n.normalise("fr") == "en"
    assert labels("zh-CN")["patient"] == "患者" and labels("en")["patient"] == "Patient"


def test_web_ui_catalogue_is_merged_over_the_glossary():
    from webui.i18n import translate
    assert translate("zh-CN", "measure.ef_pct") == "左心室射血分数"
    assert translate("zh-CN", "segment.17") == "心尖"


def test_report_builders_read_the_glossary():
    from device.reporting import ecg_sections, perfusion_sections, sections
    assert sections.GENERIC_TITLE["zh-CN"] == i18n.t("zh-CN", "report.section.measurements")
    assert ecg_sections.SECTION_TITLES["intervals"]["zh-CN"] == "间期"
    assert perfusion_sections.SEGMENT_NAMES_ZH[0] == i18n.t("zh-CN", "segment.1")


def test_finding_phrases_are_translated_with_their_numbers():
    assert i18n.finding_text("zh-CN", "sinus rhythm") == "窦性心律"
    assert i18n.finding_text("zh-CN", "long QTc 480 ms (Bazett)") == "QTc 延长 480 ms (Bazett)"
    assert i18n.finding_text("zh-CN", "bradycardia 45/min") == "心动过缓 45/min"
    assert i18n.finding_text("en", "wide QRS 130 ms") == "wide QRS 130 ms"
    assert i18n.finding_text("zh-CN", "an unknown phrase") == "an unknown phrase"


def test_disclaimer_constants_are_the_glossary_text():
    from device import DISCLAIMER_EN, DISCLAIMER_ZH
    assert i18n.t("en", "disclaimer") == DISCLAIMER_EN and i18n.t("zh-CN", "disclaimer") == DISCLAIMER_ZH


def test_user_messages_in_chinese():
    from device.errors import InputError
    from device.values import check
    with pytest.raises(InputError) as exc:
        check("qt_ms", 10)
    assert i18n.message("zh-CN", str(exc.value)) == "QT 间期应为 150-800 ms；10 ms 超出此范围（请检查是否输错）"
    assert i18n.message("en", str(exc.value)) == str(exc.value)
    assert i18n.message("zh-CN", "no exam with id 7") == "没有编号为 7 的检查"
    assert i18n.message("zh-CN", "birth date must be YYYY-MM-DD") == "出生日期格式须为 YYYY-MM-DD"
    assert i18n.message("zh-CN", "an unknown message") == "an unknown message"
