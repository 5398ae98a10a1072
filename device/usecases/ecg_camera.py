"""The cart's cameras for photographing a printout (Pi camera, USB cameras other than the echo capture device) and
the live serial ECG for the page. Capture only: the photo is read by the ``ecg.read`` job."""

from __future__ import annotations

import logging
from typing import Any

import cv2
import numpy as np

from device.errors import InputError, UserError

log = logging.getLogger(__name__)


def camera_candidates(cfg) -> list[tuple[str, dict[str, Any]]]:
    """Cameras the cart may photograph a printout with: the Pi camera when picamera2 is installed, then USB
    cameras (/dev/video*) other than the echo capture device of ``[capture]`` (``cfg``)."""
    import glob

    from device.drivers.picamera import Picamera2Source

    out: list[tuple[str, dict[str, Any]]] = []
    if Picamera2Source.available() == "ok":
        out.append(("picamera2", {"width": 2028, "height": 1520, "fps": 10.0}))
    busy = cfg.device if cfg.source == "opencv" else None
    for dev in sorted(glob.glob("/dev/video*")):
        if dev != busy:
            out.append(("opencv", {"device": dev, "width": 1920, "height": 1080, "fps": 15.0, "give_up_s": 2.0}))
    return out


def grab_photo(candidates: list[tuple[str, dict[str, Any]]], warmup: int = 5) -> tuple[np.ndarray, str]:
    """(RGB frame, which camera) from the first candidate that delivers frames (after ``warmup`` frames for the
    exposure to settle). Raises InputError naming what was tried when none does."""
    from device.drivers.registry import make_source

    tried = []
    for name, opts in candidates:
        label = f"{name} {opts.get('device', '')}".strip()
        src = None
        try:
            src = make_source(name, **opts)
            src.open()
            if getattr(src, "status", "ok") not in ("ok",):
                tried.append(f"{label}: does not open")
                continue
            frame = None
            for i, fr in enumerate(src):
                frame = fr.pixels
                if i + 1 >= warmup:
                    break
            if frame is not None:
                return np.ascontiguousarray(frame), label
            tried.append(f"{label}: no frame")
        except (UserError, OSError, RuntimeError, cv2.error) as exc:
            tried.append(f"{label}: {exc}")
        finally:
            if src is not None:
                try:
                    src.close()
                except Exception as exc:  # noqa: BLE001 - closing a dead camera may fail in many ways
                    log.debug("closing camera %s: %s", label, exc)
    what = "; ".join(tried) if tried else "no Pi camera (picamera2 not installed) and no USB camera at /dev/video*"
    raise InputError(f"no camera on the cart delivered a picture ({what}); connect the camera, or use "
                     "'Take photo' on a phone or upload a scan", step="camera")


def live_payload(run_dir, port: str, max_points_per_s: int = 125) -> dict[str, Any]:
    import time

    from device.services.serial_ecg_service import read_live

    got = read_live(run_dir)
    if got is None:
        return {"configured": bool(port), "running": False, "port": port}
    x, fs, leads, st = got
    k = max(1, round(fs / max_points_per_s))
    xs = np.round(x[::k].astype(np.float64), 3)
    fresh = time.time() - float(st.get("wall_time", 0)) < 3.0
    return {"configured": bool(port), "running": fresh, "port": st.get("port", port), "status": st.get("status"),
            "fs_hz": fs / k, "leads": list(leads), "seconds": x.shape[0] / fs if fs else 0,
            "signals": [[None if not np.isfinite(v) else float(v) for v in xs[:, j]] for j in range(xs.shape[1])],
            "hr_bpm": st.get("hr_bpm"), "measurements": st.get("measurements"), "stats": st.get("stats"),
            "model": st.get("model"), "error": st.get("error", "")}


def serial_recording(run_dir):
    """(signals, fs_hz, leads, state) of the serial ECG's last seconds, or None when the reader is not running."""
    from device.services.serial_ecg_service import read_live
    return read_live(run_dir)
