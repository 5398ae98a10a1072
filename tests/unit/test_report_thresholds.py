"""Clinical thresholds of the report are data: the perfusion summed-score bands come from
device/reporting/perfusion_reference.toml through ReportSettings, and a changed table changes the wording."""

from __future__ import annotations

import pytest

from device.errors import ConfigError
from device.reporting.settings import PERFUSION_REFERENCE, ReportSettings, load_perfusion_reference


def test_bundled_sss_bands():
    ref = ReportSettings.bundled().perfusion
    assert [ref.sss_category(x) for x in (0, 3, 4, 8, 9, 13, 14, 30)] == \
        ["normal", "normal", "mild", "mild", "moderate", "moderate", "severe", "severe"]
    assert (ref.sss_normal_max, ref.sds_normal_max, ref.sds_ischaemia_from) == (3.0, 1.0, 2.0)


def test_a_changed_table_changes_the_reading(tmp_path):
    text = PERFUSION_REFERENCE.read_text().replace("mild_from = 4.0", "mild_from = 5.0")
    (tmp_path / "t.toml").write_text(text)
    assert load_perfusion_reference(tmp_path / "t.toml").sss_category(4) == "normal"
    (tmp_path / "bad.toml").write_text("[sss]\nnormal_max = 3\n")
    with pytest.raises(ConfigError, match="restore it from git"):
        load_perfusion_reference(tmp_path / "bad.toml")
