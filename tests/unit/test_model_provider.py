"""One ModelProvider serves every model from the settings: [paths] models_dir and [inference] variant/runner/threads
choose what loads, loaded models are cached by the full key, an explicit model directory (a site-trained model) loads
the same way, and an altered file is refused. ``python -m device models`` lists and verifies them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from device.config import load_settings
from device.errors import ModelError
from device.inference import ModelProvider, configure_models, model_provider
from device.paths import MODELS_DIR, REPO_ROOT

SMALL = "perfusion_spectf"          # three 2-3 kB variants: fp32, int8 and tflite


@pytest.fixture()
def models_dir(tmp_path):
    d = tmp_path / "site_models"
    shutil.copytree(MODELS_DIR / SMALL, d / SMALL)
    return d


def _settings(tmp_path, models_dir, **inference):
    inf = "".join(f'{k} = {json.dumps(v)}\n' for k, v in inference.items())
    cfg = tmp_path / "site.toml"
    cfg.write_text(f'[paths]\ndata_dir = "{tmp_path / "var"}"\nmodels_dir = "{models_dir}"\n[inference]\n{inf}')
    return load_settings(cfg)


def test_settings_choose_directory_variant_runner_and_threads(tmp_path, models_dir):
    p = ModelProvider.from_settings(_settings(tmp_path, models_dir, variant="fp32", threads=1))
    m = p.get(SMALL)
    assert m.variant == "fp32" and m.manifest.directory == models_dir / SMALL
    assert p.key(SMALL).threads == 1
    assert p.get(SMALL) is m                                     # same full key: the cached object
    assert p.get(SMALL, threads=2) is not m                      # another thread count: another runner
    assert p.get(SMALL, "int8").variant == "int8"                # the caller's variant wins
    lite = ModelProvider.from_settings(_settings(tmp_path, models_dir, runner="litert"))
    assert lite.key(SMALL).variant == "tflite"
    plain = ModelProvider.from_settings(_settings(tmp_path, models_dir, variant="int8"))
    assert plain.key(SMALL).variant == "int8"


def test_explicit_model_directory_and_altered_file(tmp_path, models_dir):
    site = tmp_path / "active" / "my_model"
    shutil.copytree(models_dir / SMALL, site)
    p = ModelProvider(MODELS_DIR)
    m = p.get("ignored-name", model_dir=site)
    assert m.manifest.directory == site
    (site / f"{SMALL}.fp32.onnx").write_bytes(b"not the trained model")
    with pytest.raises(ModelError, match="altered"):
        p.get("x", "fp32", model_dir=site)


def test_configured_provider_reaches_the_analysis_packages(tmp_path):
    from device.lv.segment import load_lv_model
    d = tmp_path / "models"
    shutil.copytree(MODELS_DIR / "lv_seg", d / "lv_seg")
    try:
        configure_models(_settings(tmp_path, d, variant="fp32"))
        m = load_lv_model("echo")
        assert m.manifest.directory == d / "lv_seg" and m.variant == "fp32"
        assert model_provider().models_dir == d
    finally:
        configure_models(load_settings(REPO_ROOT / "device" / "defaults.toml"))


def test_models_command_lists_and_verifies(tmp_path, models_dir):
    cfg = tmp_path / "site.toml"
    cfg.write_text(f'[paths]\ndata_dir = "{tmp_path / "var"}"\nmodels_dir = "{models_dir}"\n')
    run = [sys.executable, "-m", "device", "--config", str(cfg), "models"]
    ok = subprocess.run(run + ["--json"], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    assert ok.returncode == 0, ok.stderr
    (row,) = json.loads(ok.stdout)
    assert row["name"] == SMALL and row["version"] and {v["key"] for v in row["variants"]} == {"fp32", "int8", "tflite"}
    assert all(f["status"] == "OK" for v in row["variants"] for f in v["files"])
    assert row["accuracy"] and all("on" in a for a in row["accuracy"])
    (models_dir / SMALL / f"{SMALL}.tflite").write_bytes(b"changed")
    bad = subprocess.run(run, capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    assert bad.returncode == 1
    assert "tflite     litert       1 file(s) sha256 ALTERED" in bad.stdout and "Traceback" not in bad.stderr


def test_status_use_case_reports_core_and_process_latency(tmp_path, models_dir):
    from device.usecases.status import model_metrics
    m = ModelProvider(models_dir).get(SMALL)
    m.run({m.manifest.inputs[0].name: __import__("numpy").zeros((1, 44), "float32")})
    out = model_metrics(tmp_path)
    assert out["core"]["models"] == [] and "not running" in out["core"]["note"]
    assert any(r["model"] == SMALL and r["count"] >= 1 for r in out["webui"]["models"])
    (tmp_path / "metrics.json").write_text('{"models": [{"model": "echo_view", "p50_ms": 4.2}], "fps": 30.0}')
    assert model_metrics(tmp_path)["core"]["fps"] == 30.0
