"""Minimal WFDB reader/writer (formats 16, 212, 80 and the ``16+24`` .mat variant; writes format 16).

Enough for the PhysioNet / PTB-XL records in ``../shared/data`` and for exporting digitised ECGs. NaN samples are
stored as the WFDB missing value (-32768 for format 16).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from device.errors import InputError

_MISSING16 = -32768


@dataclass(frozen=True)
class WfdbRecord:
    """A record: ``signals_mv`` float64 (n_samples, n_leads) in physical units (NaN = missing)."""

    name: str
    fs_hz: float
    lead_names: tuple[str, ...]
    units: tuple[str, ...]
    signals_mv: np.ndarray
    comments: tuple[str, ...]


_SIG_RE = re.compile(
    r"^(?P<file>\S+)\s+(?P<fmt>\d+)(?:x\d+)?(?::\d+)?(?:\+(?P<off>\d+))?"
    r"(?:\s+(?P<gain>[-\d.e+]+)(?:\((?P<base>-?\d+)\))?(?:/(?P<unit>\S+))?"
    r"(?:\s+(?P<res>\d+)(?:\s+(?P<zero>-?\d+)(?:\s+(?P<init>-?\d+)(?:\s+(?P<cks>-?\d+)"
    r"(?:\s+(?P<bs>\d+)(?:\s+(?P<desc>.*))?)?)?)?)?)?)?\s*$")


def _decode_212(raw: np.ndarray, n_sig: int) -> np.ndarray:
    raw = raw[: (len(raw) // 3) * 3].reshape(-1, 3).astype(np.int32)
    a = raw[:, 0] | ((raw[:, 1] & 0x0F) << 8)
    b = raw[:, 2] | ((raw[:, 1] & 0xF0) << 4)
    a = np.where(a > 2047, a - 4096, a)
    b = np.where(b > 2047, b - 4096, b)
    flat = np.empty(a.size * 2, np.int32)
    flat[0::2], flat[1::2] = a, b
    n = flat.size // n_sig
    return flat[: n * n_sig].reshape(n, n_sig)


def read_record(hea_path: str | Path) -> WfdbRecord:
    """Read ``NAME.hea`` and its signal file(s). Raises InputError for an unsupported or broken record."""
    hea = Path(hea_path)
    try:
        lines = [ln.strip() for ln in hea.read_text(errors="replace").splitlines()]
    except OSError as exc:
        raise InputError(f"cannot read WFDB header {hea}: {exc}") from exc
    comments = tuple(ln.lstrip("#").strip() for ln in lines if ln.startswith("#"))
    body = [ln for ln in lines if ln and not ln.startswith("#")]
    if not body:
        raise InputError(f"{hea} is empty; give a WFDB header")
    rec = body[0].split()
    try:
        n_sig = int(rec[1])
        fs = float(rec[2].split("/")[0]) if len(rec) > 2 else 250.0
    except (IndexError, ValueError):
        raise InputError(f"the record line '{body[0][:60]}' of {hea} is not 'NAME N_SIGNALS FS ...'; give a WFDB "
                         "header") from None
    if not 1 <= n_sig <= 64 or not (math.isfinite(fs) and fs > 0):
        raise InputError(f"{hea}: {n_sig} signals at {fs} Hz is not a usable record (1-64 signals, a positive "
                         "sampling rate)")
    sigs = []
    for ln in body[1 : 1 + n_sig]:
        m = _SIG_RE.match(ln)
        if not m:
            raise InputError(f"cannot parse signal line '{ln}' in {hea}")
        sigs.append(m.groupdict())
    if len(sigs) != n_sig:
        raise InputError(f"{hea} announces {n_sig} signals but describes {len(sigs)}; give a complete WFDB header")
    fmt = sigs[0]["fmt"]
    if Path(sigs[0]["file"]).name != sigs[0]["file"] or sigs[0]["file"] in ("", ".", ".."):
        raise InputError(f"{hea} names the signal file '{sigs[0]['file'][:60]}'; a WFDB signal file must be a plain "
                         "file name beside the header")
    fname = hea.parent / sigs[0]["file"]
    off = int(sigs[0]["off"] or 0)
    try:
        data = fname.read_bytes()[off:]
    except OSError as exc:
        raise InputError(f"cannot read WFDB signal file {fname}: {exc}") from exc
    if fmt == "16":
        ints = np.frombuffer(data[: (len(data) // (2 * n_sig)) * 2 * n_sig], "<i2").reshape(-1, n_sig).astype(np.int32)
        missing = ints == _MISSING16
    elif fmt == "212":
        ints = _decode_212(np.frombuffer(data, np.uint8), n_sig)
        missing = ints == -2048
    elif fmt == "80":
        ints = np.frombuffer(data, np.uint8).astype(np.int32) - 128
        ints = ints[: (ints.size // n_sig) * n_sig].reshape(-1, n_sig)
        missing = ints == -128
    else:
        raise InputError(f"WFDB format {fmt} in {hea} is not supported (16, 212, 80 are)")
    phys = np.empty(ints.shape, np.float64)
    names, units = [], []
    for j, s in enumerate(sigs):
        try:
            gain = float(s["gain"] or 200.0) or 200.0
        except ValueError:
            raise InputError(f"{hea}: the gain '{s['gain']}' of signal {j + 1} is not a number") from None
        base = int(s["base"]) if s["base"] is not None else int(s["zero"] or 0)
        phys[:, j] = (ints[:, j] - base) / gain
        names.append((s["desc"] or f"sig{j}").strip())
        units.append(s["unit"] or "mV")
    phys[missing] = np.nan
    return WfdbRecord(rec[0], fs, tuple(names), tuple(units), phys, comments)


def record_name(name: str) -> str:
    """A WFDB record name: the header's first token and the signal file's stem, so no spaces, newlines, path
    separators or other characters a header cannot hold (each run becomes "_"); "record" when nothing is left."""
    out = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(name)).strip("._-")[:64]
    return out or "record"


def write_record(directory: str | Path, name: str, signals_mv: np.ndarray, fs_hz: float,
                 lead_names: list[str] | tuple[str, ...], comments: list[str] | None = None,
                 gain_per_mv: float = 1000.0) -> Path:
    """Write ``signals_mv`` (n_samples, n_leads) float as WFDB format 16 (``NAME.hea`` + ``NAME.dat``).

    NaN becomes the WFDB missing value. ``name`` is made a valid record name (record_name: a name with spaces or
    newlines could not be read back), lead names and comments lose their line breaks. Returns the
    header path (its stem is the name actually written).
    """
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    name = record_name(name)
    lead_names = [" ".join(str(n).split()) or f"sig{j}" for j, n in enumerate(lead_names)]
    comments = [" ".join(str(c).split()) for c in (comments or [])]
    x = np.asarray(signals_mv, np.float64)
    ints = np.where(np.isfinite(x), np.clip(np.round(x * gain_per_mv), -32767, 32767), _MISSING16).astype("<i2")
    (d / f"{name}.dat").write_bytes(ints.tobytes())
    lines = [f"{name} {x.shape[1]} {fs_hz:g} {x.shape[0]}"]
    for j, lead in enumerate(lead_names):
        col = ints[:, j].astype(np.int64)
        cks = int(col.sum()) & 0xFFFF
        cks = cks - 65536 if cks > 32767 else cks
        lines.append(f"{name}.dat 16 {gain_per_mv:g}(0)/mV 16 0 {int(col[0])} {cks} 0 {lead}")
    lines += [f"# {c}" for c in (comments or [])]
    hea = d / f"{name}.hea"
    hea.write_text("\n".join(lines) + "\n")
    return hea
