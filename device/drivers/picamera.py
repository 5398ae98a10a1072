"""A Raspberry Pi camera (or HDMI-to-CSI bridge) through picamera2, imported only when this source is opened."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from device.drivers.base import OpenCloseContext, SourceFrame
from device.errors import InputError


class Picamera2Source(OpenCloseContext):
    name = "picamera2"

    def __init__(self, width: int = 1280, height: int = 720, fps: float = 30.0, **_ignored):
        self.width, self.height, self.fps = int(width), int(height), float(fps)
        self.cam: Any = None

    @staticmethod
    def available() -> str:
        try:
            import picamera2  # noqa: F401
        except ImportError as exc:
            return f"unavailable: {exc}"
        return "ok"

    def open(self) -> None:
        try:
            from picamera2 import Picamera2
        except ImportError as exc:
            raise InputError(f"picamera2 cannot be imported ({exc}); on a Raspberry Pi install python3-picamera2, "
                             "elsewhere set [capture] source = \"opencv\"") from exc
        try:
            cam = Picamera2()
            cam.configure(cam.create_video_configuration(main={"size": (self.width, self.height),
                                                               "format": "RGB888"},
                                                         controls={"FrameRate": self.fps}))
            cam.start()
        except (RuntimeError, OSError, IndexError) as exc:
            raise InputError(f"the Pi camera cannot start ({exc}); check its ribbon cable") from exc
        self.cam = cam

    def close(self) -> None:
        if self.cam is not None:
            self.cam.stop()
            self.cam.close()
            self.cam = None

    def __iter__(self) -> Iterator[SourceFrame]:
        if self.cam is None:
            self.open()
        i = 0
        while self.cam is not None:
            arr = self.cam.capture_array("main")  # libcamera "RGB888" is B, G, R in memory
            yield SourceFrame(time.monotonic_ns(), arr[:, :, 2::-1].copy(), i, "picamera2", fps=self.fps)
            i += 1
