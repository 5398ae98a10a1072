"""Bad input for the backbone: each gives one clear line and exit status 2, and nothing stored is lost."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from device.paths import REPO_ROOT


def run_device(*args, env=None, timeout=60, stdin=None):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "device", *args], capture_output=True, text=True, timeout=timeout,
                          cwd=REPO_ROOT, env=e, input=stdin)


def _cfg(tmp_path, body=""):
    p = tmp_path / "site.toml"
    p.write_text(f'[paths]\ndata_dir = "{tmp_path / "var"}"\n' + body)
    return p


def _one_error_line(res) -> str:
    lines = [l for l in res.stderr.splitlines() if l.strip()]
    assert res.returncode == 2, (res.returncode, res.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    assert "Traceback" not in res.stderr
    return lines[0]


@pytest.mark.parametrize("body, needle", [
    ("[web]\nprot = 1\n", "unknown key 'web.prot'; valid keys here: host, port"),
    ('[capture]\nsource = "webcam"\n', "choose one of: sim, opencv, picamera2, dicom, video"),
    ("[web\n", "is not valid TOML"),
    ('[web]\nport = "eighty"\n', "key 'web.port'"),
])
def test_corrupt_config_stops_with_one_line(tmp_path, body, needle):
    res = run_device("--config", str(_cfg(tmp_path, body)), "migrate")
    assert needle in _one_error_line(res)


def test_config_from_environment_variable(tmp_path):
    res = run_device("migrate", env={"CARDIOCART_CONFIG": str(_cfg(tmp_path, "[web]\nbogus = 1\n"))})
    assert "web.bogus" in _one_error_line(res)


def test_unwritable_data_dir(tmp_path):
    if os.geteuid() == 0:
        target = "/proc/cardiocart-cannot-exist"  # even root cannot create directories in /proc
    else:
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        target = str(ro / "var")
    cfg = tmp_path / "site.toml"
    cfg.write_text(f'[paths]\ndata_dir = "{target}"\n')
    line = _one_error_line(run_device("--config", str(cfg), "migrate"))
    assert "data directory" in line or "writable" in line


def test_second_webui_on_same_port_is_refused(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        res = run_device("--config", str(_cfg(tmp_path, f"[web]\nport = {port}\n")), "webui")
        line = _one_error_line(res)
        assert f"port {port}" in line and "already in use" in line


def test_second_core_instance_is_refused(tmp_path):
    from device.services.runtime import InstanceLock
    from device.config import load_settings
    cfg = _cfg(tmp_path)
    st = load_settings(cfg)
    with InstanceLock(st.run_dir, "core"):
        line = _one_error_line(run_device("--config", str(cfg), "core"))
    assert "another CardioCart core is already running" in line


def test_users_cli_adds_and_refuses_weak_pin(tmp_path):
    cfg = _cfg(tmp_path)
    res = run_device("--config", str(cfg), "users", "add", "admin", "--role", "admin", stdin="123456\n")
    assert "too easy" in _one_error_line(res)
    res = run_device("--config", str(cfg), "users", "add", "admin", "--role", "admin", stdin="572910\n")
    assert res.returncode == 0, res.stderr
    res = run_device("--config", str(cfg), "users", "list")
    assert "admin" in res.stdout and "active" in res.stdout


def test_altered_model_is_reported_and_doctor_says_which(tmp_path):
    import shutil
    models = tmp_path / "models"
    src = REPO_ROOT / "models"
    names = [p.parent.name for p in src.glob("*/manifest.json")]
    if not names:
        pytest.skip("no models shipped yet")
    shutil.copytree(src / names[0], models / names[0])
    victim = next(p for p in (models / names[0]).iterdir() if p.suffix in (".onnx", ".tflite"))
    victim.write_bytes(victim.read_bytes()[:-1] + b"\x00")
    cfg = _cfg(tmp_path, f'models_dir = "{models}"\n')
    res = run_device("--config", str(cfg), "doctor")
    assert res.returncode == 1
    assert f"{victim.name} has sha256" in res.stdout and "restore it from git" in res.stdout


def test_doctor_reports_the_box(tmp_path):
    import json
    cfg = _cfg(tmp_path)
    assert run_device("--config", str(cfg), "migrate").returncode == 0
    res = run_device("--config", str(cfg), "doctor", "--json")
    checks = {c["area"]: c for c in json.loads(res.stdout)}
    assert checks["onnxruntime"]["status"] == "ok" and "CPUExecutionProvider" in checks["onnxruntime"]["detail"]
    assert checks["database"]["status"] == "ok" and "integrity ok" in checks["database"]["detail"]
    assert "disk" in checks and "capture sources" in checks and "serial" in checks
    assert any(k.startswith("model ") and v["status"] == "ok" for k, v in checks.items())
