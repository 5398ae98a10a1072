"""The CLI speaks the site language (issue 18 part 4): with ``[web] language = "zh-CN"`` the clinical lines of
``echo measure``, ``perfusion polar`` and the one-line errors carry no English clinical word (units, abbreviations,
file names and the model tag aside); with English settings the same commands print English names."""

from __future__ import annotations

import re

import pytest

from device.__main__ import main
from device.paths import MODELS_DIR
from tests.integration.test_lv_echo_measure import write_us
from tests.unit.test_report_language import ALLOWED

sim = pytest.importorskip("models.training.lv_seg_sim", reason="needs the echo simulator (device/sim)")


def _config(tmp_path, lang: str):
    p = tmp_path / f"{lang}.toml"
    p.write_text(f'[paths]\ndata_dir = "{tmp_path / "var"}"\n[web]\nlanguage = "{lang}"\n')
    return str(p)


def _english_words(text: str, also: set[str]) -> set[str]:
    """Latin words of ``text`` outside units/abbreviations, paths (kept as given) and model tags."""
    text = re.sub(r"\S*/\S*|\S+\.(npy|json|png|dcm|npz)\b", " ", text)         # paths and file names
    text = re.sub(r"(lv_seg|perfusion_\w+|onnxruntime|CPU|int8|fp32)\S*", " ", text)  # model tags
    return set(re.findall(r"[A-Za-z][A-Za-z']+", text)) - ALLOWED - also


@pytest.mark.skipif(not (MODELS_DIR / "lv_seg" / "manifest.json").exists(), reason="lv_seg is not built")
def test_echo_measure_speaks_the_site_language(tmp_path, capsys):
    frames, _, mmpp, _ = sim.sim_clip("A4C", 20, seed=3)
    path = tmp_path / "a4c.dcm"
    write_us(path, frames, mmpp)
    assert main(["--config", _config(tmp_path, "zh-CN"), "echo", "measure", str(path), "--view", "A4C",
                 "--sex", "male"]) == 0
    zh = capsys.readouterr().out
    assert "左心室射血分数" in zh and "未经医生审核" in zh
    assert _english_words(zh, set()) == set(), zh
    assert main(["--config", _config(tmp_path, "en"), "echo", "measure", str(path), "--view", "A4C",
                 "--sex", "male"]) == 0
    en = capsys.readouterr().out
    assert "LV ejection fraction" in en and "Not for diagnostic use" in en


def test_perfusion_and_errors_speak_the_site_language(tmp_path, capsys):
    zh_cfg = _config(tmp_path, "zh-CN")
    study = tmp_path / "study.npz"
    assert main(["perfusion", "simulate", str(study), "--defect", "LAD:0.55:0.7:1", "--seed", "3"]) == 0
    capsys.readouterr()
    assert main(["--config", zh_cfg, "perfusion", "polar", str(study), "--out", str(tmp_path / "out")]) == 0
    zh = capsys.readouterr().out
    assert "左前降支" in zh or "前降支" in zh, zh
    assert "有风险" in zh or "无风险" in zh
    assert _english_words(zh, set()) == set(), zh
    assert main(["--config", zh_cfg, "lv", "sax", str(tmp_path / "absent"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("错误：") and "不存在" in err and _english_words(err, {"DICOM"}) == set()
