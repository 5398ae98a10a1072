"""Case-table bounds written as 2.8001 ("<= 2.8", exclusive high) read as the round number in the report."""
from device.lv.interpret import reference_text


def test_inclusive_bounds_read_round() -> None:
    assert reference_text(None, 2.8001, "m/s") == "<= 2.8 m/s"
    assert reference_text(2.8001, None, "m/s") == "> 2.8 m/s"
    assert reference_text(160, 240.0001, "ms") == "160-240 ms"


def test_plain_bounds_unchanged() -> None:
    assert reference_text(None, 52.0, "%") == "< 52 %"
    assert reference_text(52.0, None, "%") == ">= 52 %"
    assert reference_text(2.2, 3.9, "cm") == "2.2-3.9 cm"
    assert reference_text(None, None, "mm") == ""
