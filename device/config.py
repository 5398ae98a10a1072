"""Typed settings: embedded defaults, then a site TOML file, validated at start-up.

An unknown key or a wrong value stops start-up with one line naming the key and what is valid.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from device.errors import ConfigError
from device.paths import REPO_ROOT

DEFAULTS_FILE = Path(__file__).with_name("defaults.toml")
SITE_FILE = Path("/etc/cardiocart/cardiocart.toml")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Paths(_Section):
    data_dir: Path
    models_dir: Path


class Web(_Section):
    host: str
    port: int = Field(ge=1, le=65535)
    language: Literal["en", "zh-CN"]
    session_timeout_min: int = Field(ge=1, le=24 * 60)
    lockout_attempts: int = Field(ge=1, le=100)
    lockout_min: int = Field(ge=1, le=24 * 60)
    max_upload_mb: int = Field(ge=1, le=2048)
    tls_cert: str = ""          # site certificate (PEM, full chain): the UI then serves https only (issue 13)
    tls_key: str = ""           # its private key (PEM); both or neither


class Capture(_Section):
    source: Literal["sim", "opencv", "picamera2", "dicom", "video"]
    device: str
    width: int = Field(ge=16, le=8192)
    height: int = Field(ge=16, le=8192)
    fps: float = Field(gt=0, le=240)
    path: str
    sim_seed: int


class Inference(_Section):
    runner: Literal["onnxruntime", "litert"]
    variant: Literal["int8", "fp32"]
    threads: int = Field(ge=0, le=64)


class Echo(_Section):
    protocol: list[str]
    quality_threshold: float = Field(ge=0, le=1)
    hold_s: float = Field(ge=0, le=30)
    clip_s: float = Field(gt=0, le=30)
    measure_clips: bool
    doppler_ra_pressure_mmhg: float = Field(default=8.0, ge=0, le=30)  # RVSP = 4 v^2 + this (issue 14)


class Lv(_Section):
    phase_poly_degree: int = Field(ge=1, le=19)
    case_table: str


class EcgSerial(_Section):
    port: str
    baud: int = Field(ge=300, le=4_000_000)
    protocol: Literal["framed", "ascii"]
    fs_hz: float = Field(gt=0, le=20000)
    ascii_units_per_mv: float = Field(gt=0)


class Sync(_Section):
    target: Literal["none", "dicomweb", "cstore"]
    dicomweb_url: str
    auth: Literal["none", "basic", "bearer"]
    username: str
    secret_file: str
    ca_bundle: str
    verify_tls: bool
    cstore_host: str
    cstore_port: int = Field(ge=1, le=65535)
    cstore_ae_title: str = Field(max_length=16)
    calling_ae_title: str = Field(max_length=16)
    retry_initial_s: float = Field(gt=0)
    retry_max_s: float = Field(gt=0)


class Usb(_Section):
    mount_roots: list[str]
    passphrase_file: str


class Jobs(_Section):
    """Caps on each analysis job the worker runs (issue 13): it runs in a child process with at most
    ``memory_limit_mb`` of address space above the worker's and ``time_limit_s`` of wall time (per kind in
    ``time_limit_s_by_kind``); a job over either is failed with the reason and the worker goes on."""

    time_limit_s: float = Field(default=600.0, gt=0, le=86400)
    memory_limit_mb: int = Field(default=3072, ge=64, le=262144)
    time_limit_s_by_kind: dict[str, float] = Field(default_factory=dict)
    isolate: bool = True


class Settings(_Section):
    paths: Paths
    web: Web
    capture: Capture
    inference: Inference
    echo: Echo
    lv: Lv
    ecg_serial: EcgSerial
    sync: Sync
    usb: Usb
    jobs: Jobs = Jobs()
    source_files: tuple[str, ...] = ()

    @property
    def data_dir(self) -> Path:
        return _resolve(self.paths.data_dir)

    @property
    def models_dir(self) -> Path:
        return _resolve(self.paths.models_dir)

    @property
    def db_path(self) -> Path:
        return self.data_dir / "cardiocart.sqlite3"

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def run_dir(self) -> Path:
        return self.data_dir / "run"


def _resolve(p: Path) -> Path:
    return p if p.is_absolute() else (REPO_ROOT / p)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError as exc:
        raise ConfigError(f"config file {path} does not exist; create it or unset CARDIOCART_CONFIG") from exc
    except PermissionError as exc:
        raise ConfigError(f"config file {path} cannot be read (permission denied); fix its owner or mode") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} is not valid TOML ({exc}); fix that line") from exc


def _describe(err: dict[str, Any], model: type[BaseModel]) -> str:
    loc = [str(x) for x in err["loc"]]
    key = ".".join(loc)
    # walk to the section model to list valid keys or choices
    section: Any = model
    for part in loc[:-1]:
        field = section.model_fields.get(part) if hasattr(section, "model_fields") else None
        section = field.annotation if field else None
    if err["type"] == "extra_forbidden":
        valid = ", ".join(k for k in getattr(section, "model_fields", {}) if k != "source_files")
        return f"unknown key '{key}'; valid keys here: {valid}"
    if err["type"] == "missing":
        return f"missing key '{key}'"
    field = getattr(section, "model_fields", {}).get(loc[-1]) if section else None
    choices = get_args(field.annotation) if field is not None else ()
    if choices and all(isinstance(c, str) for c in choices):
        return f"key '{key}' = {err.get('input')!r} is not valid; choose one of: {', '.join(choices)}"
    return f"key '{key}' = {err.get('input')!r} is not valid: {err['msg']}"


def load_settings(path: str | Path | None = None) -> Settings:
    """Load defaults, then the site file (argument, $CARDIOCART_CONFIG, /etc/cardiocart/cardiocart.toml)."""
    data = _read_toml(DEFAULTS_FILE)
    sources = [str(DEFAULTS_FILE)]
    site: Path | None = Path(path) if path else None
    if site is None and os.environ.get("CARDIOCART_CONFIG"):
        site = Path(os.environ["CARDIOCART_CONFIG"])
    if site is None and SITE_FILE.is_file():
        site = SITE_FILE
    if site is not None:
        data = _merge(data, _read_toml(site))
        sources.append(str(site))
    data["source_files"] = tuple(sources)
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = sources[-1]
        raise ConfigError(f"config {where}: {_describe(first, Settings)}") from exc
