"""An upload to an exam of the wrong type is refused in one line that reads well in English and in zh-CN."""
import pytest

from device.i18n import message

CASES = [
    "exam E-1 is an exam of type echo; ECG printouts go to an ECG exam",
    "exam 7 is an exam of type ecg; LV echo measurements need an echo exam",
    "exam A1 is an exam of type ecg; a short-axis MRI series belongs to an echo (LV) exam",
    "exam A1 is an exam of type echo; perfusion studies belong to a perfusion exam",
]


@pytest.mark.parametrize("text", CASES)
def test_wrong_exam_type_message_is_translated(text: str) -> None:
    zh = message("zh-CN", text)
    assert zh != text and "检查" in zh and text.split()[1] in zh
    assert message("en", text) == text


def test_the_use_cases_write_the_template_wording() -> None:
    from pathlib import Path
    root = Path(__file__).resolve().parents[2]
    for f in ("device/usecases/ecg_reading.py", "device/usecases/sax_study.py", "device/usecases/perfusion_study.py",
              "device/services/echo_measure.py"):
        src = (root / f).read_text(encoding="utf-8")
        assert "is an exam of type {exam.kind}" in src and "is a {exam.kind} exam" not in src, f
