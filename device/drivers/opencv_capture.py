"""A capture card or USB camera through OpenCV (V4L2, or a GStreamer pipeline), with reconnection after an unplug.

``device`` is a V4L2 path (``/dev/video0``), an index (``"0"``), or a GStreamer pipeline (any string with ``!``).
While the device is gone the iterator yields nothing and retries with back-off; `status` says what is happening, and
the live loop's watchdog turns the silence into a "no signal" event.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import cv2

from device.drivers.base import OpenCloseContext, SourceFrame, SourceLost

log = logging.getLogger(__name__)


def default_opener(device: str, width: int, height: int, fps: float) -> Any:
    """Open a cv2.VideoCapture for `device` with the requested size and rate (best effort)."""
    if "!" in device:
        cap = cv2.VideoCapture(device, cv2.CAP_GSTREAMER)
    elif device.isdigit():
        cap = cv2.VideoCapture(int(device), cv2.CAP_V4L2)
    elif device.startswith("/dev/video"):
        cap = cv2.VideoCapture(device, cv2.CAP_V4L2)
    else:
        cap = cv2.VideoCapture(device)
    if cap.isOpened() and "!" not in device:
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        cap.set(cv2.CAP_PROP_FPS, fps)
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
    return cap


class OpenCvCapture(OpenCloseContext):
    """Live frames from an OpenCV capture device; reopens it after read failures.

    give_up_s: raise SourceLost after this long without a frame (None = keep trying for ever).
    opener: factory (device, width, height, fps) -> cv2.VideoCapture-like object (tests inject a fake).
    """

    name = "opencv"

    def __init__(self, device: str = "/dev/video0", width: int = 1280, height: int = 720, fps: float = 30.0,
                 retry_s: float = 0.5, max_retry_s: float = 5.0, give_up_s: float | None = None,
                 opener: Callable[..., Any] | None = None, **_ignored):
        self.device = str(device)
        self.width, self.height, self.fps = int(width), int(height), float(fps)
        self.retry_s, self.max_retry_s, self.give_up_s = retry_s, max_retry_s, give_up_s
        self.opener = opener or default_opener
        self.cap: Any = None
        self.status = "closed"
        self.reconnects = 0
        self._stop = threading.Event()

    def open(self) -> None:
        self._stop.clear()
        self._try_open()

    def _try_open(self) -> bool:
        try:
            cap = self.opener(self.device, self.width, self.height, self.fps)
        except (cv2.error, OSError) as exc:
            log.warning("cannot open %s: %s", self.device, exc)
            cap = None
        if cap is not None and cap.isOpened():
            self.cap, self.status = cap, "ok"
            return True
        if cap is not None:
            cap.release()
        self.cap, self.status = None, "no_signal"
        return False

    def close(self) -> None:
        self._stop.set()
        if self.cap is not None:
            self.cap.release()
        self.cap, self.status = None, "closed"

    def stop(self) -> None:
        self._stop.set()

    def __iter__(self) -> Iterator[SourceFrame]:
        if self.status == "closed":
            self.open()
        i, fails, wait = 0, 0, self.retry_s
        last_ok = time.monotonic()
        while not self._stop.is_set():
            if self.cap is None:
                if self.give_up_s is not None and time.monotonic() - last_ok > self.give_up_s:
                    raise SourceLost(f"capture device {self.device} gave no frames for {self.give_up_s:.0f} s; "
                                     "check the cable and the [capture] device setting")
                self._stop.wait(wait)
                wait = min(wait * 2, self.max_retry_s)
                if self._try_open():
                    self.reconnects += 1
                    log.info("capture %s reconnected", self.device)
                continue
            ok, bgr = self.cap.read()
            if not ok or bgr is None:
                fails += 1
                if fails >= 3:  # unplugged or the stream died: drop it and reconnect
                    log.warning("capture %s lost; reconnecting", self.device)
                    self.cap.release()
                    self.cap, self.status, fails = None, "reconnecting", 0
                continue
            fails, wait, last_ok = 0, self.retry_s, time.monotonic()
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB) if bgr.ndim == 3 else cv2.cvtColor(bgr, cv2.COLOR_GRAY2RGB)
            yield SourceFrame(time.monotonic_ns(), rgb, i, f"opencv:{self.device}", fps=self.fps)
            i += 1
