"""Provisioning dry-run and systemd units."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from device.paths import REPO_ROOT

SCRIPT = REPO_ROOT / "provisioning" / "provision.sh"


def test_dry_run_prints_every_step_and_changes_nothing(tmp_path):
    prefix = tmp_path / "opt"
    data = tmp_path / "data"
    out = subprocess.run(["bash", str(SCRIPT), "--dry-run", "--prefix", str(prefix), "--data", str(data)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    steps = re.findall(r"^==> (\d)/8", out.stdout, re.M)
    assert steps == [str(i) for i in range(1, 9)]
    for needle in ("useradd", "70-cardiocart.rules", "systemctl enable --now", "cardiocart-kiosk.service",
                   "device migrate", "python3 -m venv"):
        assert needle in out.stdout
    assert not prefix.exists() and not data.exists()


def test_unknown_option_is_refused():
    out = subprocess.run(["bash", str(SCRIPT), "--frobnicate"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and "unknown option '--frobnicate'" in out.stderr


def test_units_restart_on_failure_run_unprivileged_and_verify(tmp_path):
    subprocess.run(["bash", str(SCRIPT), "--render-units", str(tmp_path), "--prefix", str(REPO_ROOT),
                    "--data", str(tmp_path / "data"), "--user", "root"], check=True, timeout=30)
    units = sorted(p.name for p in tmp_path.glob("*.service"))
    assert units == ["cardiocart-core.service", "cardiocart-kiosk.service", "cardiocart-sync.service",
                     "cardiocart-webui.service", "cardiocart-worker.service"]
    for name in units:
        text = (tmp_path / name).read_text()
        assert not re.search(r"@[A-Z_]+@", text), f"unrendered placeholder in {name}"
        assert re.search(r"^Restart=(on-failure|always)$", text, re.M)
        assert re.search(r"^User=", text, re.M)
    # the shipped templates never run as root
    for tmpl in (REPO_ROOT / "systemd").glob("*.service"):
        assert re.search(r"^User=@(KIOSK_)?USER@$", tmpl.read_text(), re.M)
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze not installed")
    res = subprocess.run(["systemd-analyze", "verify", *[str(tmp_path / u) for u in units]],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
