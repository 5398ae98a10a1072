"""The figures/report plumbing of the hardening suite."""

from tests.stress.figures import Figures
from tests.stress.report import render


def test_rows_replace_by_first_column_and_render(tmp_path):
    f = Figures(tmp_path)
    f.row("fuzzing", parser="ECG photo", cases=10, crashes_found=0)
    f.row("fuzzing", parser="ECG photo", cases=20, crashes_found=1)
    f.row("fuzzing", parser="DICOM", cases=5, crashes_found=0)
    f.note("fuzzing", "one note")
    f.note("fuzzing", "one note")
    text = render(tmp_path)
    assert "| ECG photo | 20 | 1 |" in text and "| ECG photo | 10 |" not in text
    assert "| DICOM | 5 | 0 |" in text
    assert text.count("- one note") == 1
    assert "## Soak under load" in text and "(no figures recorded)" in text
