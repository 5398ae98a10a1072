"""A video file (MP4, AVI, ...) replayed at its native frame rate through OpenCV."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2

from device.drivers.base import OpenCloseContext, Pacer, SourceFrame
from device.errors import InputError


class VideoFileSource(OpenCloseContext):
    """Replay a video file. `loop` repeats it; `realtime` paces frames at the file's own frame rate."""

    name = "video"

    def __init__(self, path: str | Path, loop: bool = False, realtime: bool = True, **_ignored):
        self.path = Path(path)
        self.loop = loop
        self.realtime = realtime
        self.cap: cv2.VideoCapture | None = None
        self.fps = 30.0

    def open(self) -> None:
        if not self.path.is_file():
            raise InputError(f"video file {self.path} does not exist; check the path in [capture] path")
        cap = cv2.VideoCapture(str(self.path))
        ok, _ = cap.read() if cap.isOpened() else (False, None)
        if not ok:
            cap.release()
            raise InputError(f"{self.path.name} is not a readable video; convert it to MP4 (H.264) or AVI")
        from device.limits import check_video

        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        try:
            check_video(max(n, 0), int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
                        self.path.name)
        except InputError:
            cap.release()
            raise
        cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
        fps = cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and 1 <= fps <= 240 else 30.0
        self.cap = cap

    def close(self) -> None:
        if self.cap is not None:
            self.cap.release()
            self.cap = None

    def __iter__(self) -> Iterator[SourceFrame]:
        if self.cap is None:
            self.open()
        assert self.cap is not None
        pacer = Pacer(self.fps if self.realtime else 0)
        i = 0
        while True:
            ok, bgr = self.cap.read()
            if not ok:
                if not self.loop or i == 0:
                    return
                self.cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                continue
            t = pacer.wait()
            yield SourceFrame(t, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), i, f"video:{self.path.name}", fps=self.fps)
            i += 1
