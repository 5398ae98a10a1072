"""The simulated echo probe as a frame source (demo, tests, benchmarks); every frame carries its ground truth."""

from __future__ import annotations

import time
from collections.abc import Iterator

from device.drivers.base import OpenCloseContext, Pacer, SourceFrame
from device.sim.echo_probe import Segment, SimulatedProbe


LEAD_IN_S = 6.0


class SimProbeSource(OpenCloseContext):
    """Screens from `SimulatedProbe`. `realtime` paces at `fps` (else frames are stamped with simulated time, index /
    fps, and come as fast as they are drawn); `max_frames` ends the stream (None = endless)."""

    name = "sim"

    def __init__(self, sim_seed: int = 0, width: int = 640, height: int = 480, fps: float = 30.0,
                 realtime: bool = True, max_frames: int | None = None,
                 script: tuple[Segment, ...] | None = None, seed: int | None = None, **_ignored):
        self.seed = sim_seed if seed is None else seed
        # the simulated machine has a 640x480 screen like the SonoSite cine; a capture setting for an HD card
        # (e.g. 1280x720) would only make every frame slower to draw
        self.size = (int(width), int(height)) if int(width) <= 800 else (640, 480)
        self.fps = float(fps)
        self.realtime = realtime
        self.max_frames = max_frames
        self.script = script
        self.probe: SimulatedProbe | None = None
        self._stopped = False
        self.stride = 1   # the core sets it > 1 while idle (a capture card would lower its rate the same way)
        self._restart = False

    def restart(self) -> None:
        """Called when an echo exam opens (device.services.live_idle): a paced demo probe starts its script again
        (an unpaced replay keeps its simulated time)."""
        self._restart = self.realtime

    def open(self) -> None:
        self.probe = SimulatedProbe(self.script, self.size, self.fps, seed=self.seed)
        self._stopped = False

    def close(self) -> None:
        self._stopped = True

    def stop(self) -> None:
        self._stopped = True

    def __iter__(self) -> Iterator[SourceFrame]:
        if self.probe is None:
            self.open()
        assert self.probe is not None
        stride = self.stride
        pacer = Pacer(self.fps / stride if self.realtime else 0)
        t0 = time.monotonic_ns()
        while not self._stopped and (self.max_frames is None or self.probe.index < self.max_frames):
            if self.stride != stride:   # idle (nobody watches, no exam): draw every stride-th frame only
                stride = self.stride
                pacer = Pacer(self.fps / stride if self.realtime else 0)
            if self._restart:
                # an exam opened: the simulated sonographer starts the script again, LEAD_IN_S before its first
                # view (the end of the last one), so the live page opening a moment later sees the search for the
                # first view from its off-target start
                self._restart = False
                total_s = sum(sg.duration_s for sg in self.probe.script)
                self.probe.index = int(round(max(0.0, total_s - LEAD_IN_S) * self.fps))
            if stride > 1:
                self.probe.index += stride - 1
            rgb, truth = self.probe.next()
            # paced: the capture time; unpaced: the simulated time, so that replays are reproducible
            t = pacer.wait() if self.realtime else t0 + int((self.probe.index - 1) * 1e9 / self.fps)
            yield SourceFrame(t, rgb, self.probe.index - 1, f"sim:seed{self.seed}", truth.mm_per_px,
                              truth.sector_bbox, self.fps, truth)
