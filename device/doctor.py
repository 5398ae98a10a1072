"""What the box has: accelerator, execution providers, cameras, serial ports, models, disk, database."""

from __future__ import annotations

import glob
import importlib.util
import platform
import shutil
from dataclasses import dataclass
from pathlib import Path

from device.config import Settings
from device.errors import UserError


@dataclass(frozen=True)
class Check:
    area: str
    status: str  # ok | warn | fail | info
    detail: str


def _board() -> str:
    for p in ("/proc/device-tree/model", "/sys/firmware/devicetree/base/model"):
        try:
            return Path(p).read_text(errors="replace").strip("\x00\n ")
        except OSError:
            continue
    if Path("/etc/nv_tegra_release").is_file():
        return "NVIDIA Jetson (L4T)"
    return f"{platform.machine()} {platform.processor() or ''}".strip()


def accelerator_checks() -> list[Check]:
    out = [Check("board", "info", _board())]
    gpus = glob.glob("/dev/nvidia*") + glob.glob("/dev/nvhost-*")
    out.append(Check("accelerator", "info", f"NVIDIA devices: {', '.join(sorted(gpus)[:4])}" if gpus
                     else "no GPU/NPU device nodes found; models run on the CPU"))
    try:
        import onnxruntime as ort

        from device.inference.runners import choose_providers
        avail = ort.get_available_providers()
        out.append(Check("onnxruntime", "ok", f"{ort.__version__}; providers {avail}; "
                         f"active order {choose_providers(avail)}"))
    except ImportError as exc:
        out.append(Check("onnxruntime", "fail", f"cannot import ({exc}); run 'make setup'"))
    spec = importlib.util.find_spec("ai_edge_litert")
    out.append(Check("litert", "ok" if spec else "warn", "ai-edge-litert installed" if spec else
                     "ai-edge-litert missing: .tflite models cannot run"))
    return out


def device_checks() -> list[Check]:
    vids = sorted(glob.glob("/dev/video*"))
    out = [Check("cameras", "info", f"V4L2 devices: {', '.join(vids)}" if vids else "no /dev/video* capture devices")]
    try:
        from device.drivers.registry import available_sources
        srcs = available_sources()
        out.append(Check("capture sources", "info", "; ".join(f"{k}: {v}" for k, v in sorted(srcs.items()))))
    except ImportError as exc:
        out.append(Check("capture sources", "warn", f"driver registry cannot load ({exc})"))
    try:
        from serial.tools import list_ports
        ports = [p.device for p in list_ports.comports()]
        out.append(Check("serial", "info", f"serial ports: {', '.join(ports)}" if ports else "no serial ports found"))
    except ImportError:
        out.append(Check("serial", "warn", "pyserial missing"))
    tess = shutil.which("tesseract")
    out.append(Check("ocr", "ok" if tess else "warn", f"tesseract at {tess}" if tess else
                     "tesseract-ocr not installed: printed ECG lead labels and depth scales are not read"))
    return out


def model_checks(settings: Settings) -> list[Check]:
    from device.inference.manifest import list_models, load_manifest, verify_file
    out = []
    names = list_models(settings.models_dir)
    if not names:
        out.append(Check("models", "fail", f"no models in {settings.models_dir}; run 'make models' or restore from git"))
    for name in names:
        try:
            man = load_manifest(name, settings.models_dir)
            for key, var in man.variants.items():
                for m in var.members:
                    verify_file(m, name)
            acc = "; ".join(f"{a.get('metric')}={a.get('value')} on {a.get('on')}" for a in man.accuracy[:1])
            out.append(Check(f"model {name}", "ok", f"v{man.version}, variants {sorted(man.variants)}, hashes verified"
                             + (f"; {acc}" if acc else "")))
        except UserError as exc:
            out.append(Check(f"model {name}", "fail", str(exc)))
    return out


def storage_checks(settings: Settings) -> list[Check]:
    from device.store.db import connect, integrity_check
    out = []
    d = settings.data_dir
    probe = d if d.exists() else d.parent
    try:
        usage = shutil.disk_usage(probe)
        free_gb = usage.free / 1e9
        out.append(Check("disk", "ok" if free_gb > 2 else "warn", f"{free_gb:.1f} GB free of {usage.total / 1e9:.0f} GB at {probe}"))
    except OSError as exc:
        out.append(Check("disk", "fail", f"{probe}: {exc}"))
    if settings.db_path.is_file():
        try:
            conn = connect(settings.db_path, readonly=True)
            res = integrity_check(conn)
            n_users = conn.execute("SELECT count(*) FROM users").fetchone()[0]
            conn.close()
            out.append(Check("database", "ok" if res == "ok" else "fail", f"{settings.db_path}: integrity {res}; "
                             f"{n_users} users" + ("" if n_users else " — create an administrator")))
        except Exception as exc:  # a damaged database must be reported, not crash the doctor
            out.append(Check("database", "fail", f"{settings.db_path}: {exc}"))
    else:
        out.append(Check("database", "info", f"{settings.db_path} not created yet (run 'python -m device migrate')"))
    return out


def run_checks(settings: Settings) -> list[Check]:
    return (accelerator_checks() + device_checks() + model_checks(settings) + storage_checks(settings)
            + [Check("config", "info", " + ".join(settings.source_files))])
