"""Abstention in the live loop (issue 12): a frame the view model is unsure of, or names OTHER, or a picture without
a fan never counts toward a standard view: no tone, no clip, no guidance alarm; the live state says "uncertain" or
"not_echo". Certain frames still give the tone and the clip as before. The classifier is a fake that answers from
the simulator's truth and can be told to abstain; the loop, gate, clip buffer and sink adapter are the real ones."""

from __future__ import annotations

import numpy as np

from device.domain.live import LiveState, decode_live_state, encode_live_state
from device.drivers.base import SourceFrame
from device.drivers.sim_probe import SimProbeSource
from device.echo.gate import GateParams
from device.echo.prep import ViewOutput
from device.pipeline.live_echo import LiveEcho, connect_sink
from device.sim.echo_probe import Segment
from device.sim.echo_views import VIEWS
from tests.integration.test_echo_live import FakeSink, Oracle

SCRIPT = (Segment("A4C", approach_s=2.0, hold_s=5.0, leave_s=1.0),)
N_FRAMES = 8 * 30


class Unsure(Oracle):
    """The simulator's truth, but marked uncertain on the frames whose capture time `unsure(t_s)` picks (t_s: seconds
    since the first frame)."""

    def __init__(self, unsure):
        super().__init__()
        self.unsure = unsure
        self.t_ns: dict[int, int] = {}
        self.t0: int | None = None

    def watch(self, frames):
        for f in frames:
            self.t0 = f.t_mono_ns if self.t0 is None else self.t0
            self.t_ns[id(f.pixels)] = f.t_mono_ns
            self.truth[id(f.pixels)] = f.truth
            yield f

    def __call__(self, pixels, sector):
        out = super().__call__(pixels, sector)
        if not self.unsure((self.t_ns[id(pixels)] - self.t0) / 1e9):
            return out
        p = np.full(len(VIEWS), 1.0 / len(VIEWS))   # what a calibrated model says when it does not know
        return ViewOutput(out.view, float(p.max()), p, out.quality, out.guidance, 0.3, uncertain=True,
                          ood_score=9.0)


class NamesOther(Oracle):
    """A confident model that calls every frame OTHER (an M-mode screen, a camera picture in front of the card)."""

    def __call__(self, pixels, sector):
        p = np.full(len(VIEWS), 0.01)
        p[VIEWS.index("OTHER")] = 0.95
        return ViewOutput("OTHER", 0.95, p / p.sum(), 0.9, "hold", 0.9)


class Recording:
    """A LoopSink in front of the store adapter that also keeps the loop's events (tone, alarm) in order."""

    def __init__(self, inner):
        self.inner, self.events = inner, []

    def on_frame(self, frame, result):
        self.inner.on_frame(frame, result)

    def on_event(self, event):
        self.events.append(event)
        self.inner.on_event(event)

    def on_clip(self, clip):
        return self.inner.on_clip(clip)


def run(clf):
    """The loop over 8 s of the probe drifting into A4C and holding it; the store side is a FakeSink."""
    src = SimProbeSource(width=160, height=120, realtime=False, max_frames=N_FRAMES, script=SCRIPT, seed=2)
    loop = LiveEcho(src, clf, protocol=["A4C", "A2C"], clip_s=1.5, sync_sector=True,
                    params=GateParams(quality_threshold=0.6, hold_s=1.0, alarm_after_s=1.0))
    sink = FakeSink(keep=True)
    connect_sink(loop, sink)
    loop.sink = rec = Recording(loop.sink)
    for f in clf.watch(src):
        loop.process(f)
    return loop, sink, rec.events


def test_certain_frames_still_give_tone_and_clip():
    loop, sink, events = run(Unsure(lambda t: False))
    std = [e for e in events if e.kind == "standard_view"]
    assert len(std) == 1 and std[0].tone == "standard" and std[0].view == "A4C"
    assert any(e.kind == "alarm" and e.tone == "alarm" for e in events)   # the approach is guided with alarms
    assert [c.view for c in sink.clips] == ["A4C"] and loop.target == "A2C"
    assert not any(s.uncertain for _, s in sink.frames)


def test_uncertain_frames_give_no_tone_no_clip_and_say_uncertain():
    loop, sink, events = run(Unsure(lambda t: True))
    kinds = [e.kind for e in events]
    assert "standard_view" not in kinds and "clip_saved" not in kinds and sink.clips == []
    assert not [e for e in events if e.tone is not None], kinds       # no tone at all: no prompt, no guidance alarm
    states = [s for _, s in sink.frames]
    assert len(states) == N_FRAMES and all(s.status == "uncertain" and s.uncertain for s in states)
    assert all(s.view is None and s.hold_frac == 0.0 and s.hint is None for s in states)
    assert states[-1].ood_score == 9.0 and loop.target == "A4C"       # the protocol did not advance
    assert decode_live_state(encode_live_state(states[-1])).status == "uncertain"


def test_one_uncertain_frame_in_each_second_keeps_the_hold_from_completing():
    # the hold (1 s) needs consecutive certain frames: one uncertain frame (1/30 s) every 0.8 s restarts it
    loop, sink, events = run(Unsure(lambda t: round(t * 30) % 24 == 0))
    assert "standard_view" not in [e.kind for e in events] and sink.clips == []
    statuses = [s.status for _, s in sink.frames]
    assert "holding" in statuses and "uncertain" in statuses and "standard" not in statuses
    fracs = [s.hold_frac for _, s in sink.frames]
    assert max(fracs) < 1.0


def test_uncertainty_after_the_tone_ends_the_loop_before_it():
    first = Unsure(lambda t: False)
    _, _, certain = run(first)
    t_tone_s = (next(e for e in certain if e.kind == "standard_view").t_mono_ns - first.t0) / 1e9
    t_unsure_s = t_tone_s + 0.3   # the model turns unsure 0.3 s after the tone
    src = SimProbeSource(width=160, height=120, realtime=False, max_frames=N_FRAMES, script=SCRIPT, seed=2)
    clf = Unsure(lambda t: t >= t_unsure_s)
    clips, events = [], []
    loop = LiveEcho(src, clf, protocol=["A4C", "A2C"], clip_s=1.5, sync_sector=True, on_clip=clips.append,
                    on_event=events.append, params=GateParams(quality_threshold=0.6, hold_s=1.0))
    for f in clf.watch(src):
        loop.process(f)
    assert [e.kind for e in events].count("standard_view") == 1
    assert len(clips) == 1 and clips[0].view == "A4C"
    first_unsure_ns = clf.t0 + int(t_unsure_s * 1e9)
    assert clips[0].t_mono_ns[-1] < first_unsure_ns      # no uncertain frame in the saved loop
    assert clips[0].duration_s >= 1.0


def test_other_and_no_fan_are_not_an_echo_view_without_tone():
    loop, sink, events = run(NamesOther())
    assert sink.clips == [] and "standard_view" not in [e.kind for e in events]
    assert not [e for e in events if e.tone is not None]
    states = [s for _, s in sink.frames]
    assert all(s.status == "not_echo" and s.view is None for s in states)
    said = [e for e in events if e.kind == "no_heart"]
    assert len(said) == 1 and said[0].text_en.startswith("Not an echo view") and said[0].text_zh


def test_a_picture_without_a_fan_is_not_an_echo_view_not_no_signal():
    # a moving camera-like picture with no ultrasound fan: the model is never asked, the page says not echo
    rng = np.random.default_rng(0)
    events = []
    loop = LiveEcho(iter(()), Oracle(), on_event=events.append)
    res = None
    for i in range(45):
        px = np.full((240, 320, 3), 120, np.uint8)
        px[:, :, 0] = rng.integers(100, 140, (240, 320), dtype=np.uint8)   # changes every frame: not frozen
        res = loop.process(SourceFrame(int(i * 1e9 / 30), px, i, "camera"))
        assert res.output is None
    assert res is not None and res.state.status == "not_echo"
    assert [e.kind for e in events] == ["no_heart"] and events[0].tone is None


def test_core_writes_and_web_ui_reads_the_state_through_one_codec(settings, login):
    import json
    import time

    from device.domain.live import LIVE_STATE_FILE
    from device.services.live_sink import StoreSink
    from device.store import Store

    store = Store.open(settings.data_dir)
    sink = StoreSink(store, settings.run_dir)
    sink.publish_state(LiveState("uncertain", uncertain=True, view_conf=0.31, target="A4C", latency_ms=4.2),
                       np.zeros((48, 64, 3), np.uint8))
    store.close()
    raw = json.loads((settings.run_dir / LIVE_STATE_FILE).read_text(encoding="utf-8"))
    assert raw["version"] == 1 and raw["status"] == "uncertain" and raw["frame_index"] == 1   # what tests/cart reads
    ui = login()
    s = ui.get("/api/live/state").get_json()
    assert s["core_alive"] and s["status"] == "uncertain" and s["uncertain"] and s["view"] is None
    assert s["target"] == "A4C" and s["latency_ms"] == 4.2 and abs(s["wall_time_s"] - time.time()) < 60
    strings = _page_strings(ui.get("/live").data.decode())
    assert strings["status_uncertain"] == "View uncertain" and strings["status_not_echo"] == "Not an echo view"
    ui.post("/lang/zh-CN", {"next": "/live"})
    strings = _page_strings(ui.get("/live").data.decode())
    assert strings["status_uncertain"] == "切面不确定" and strings["status_not_echo"] == "非心脏超声切面"
    # a state this version cannot read (another version, a torn write) reads as "core not running", not an error
    (settings.run_dir / LIVE_STATE_FILE).write_text(json.dumps({**raw, "version": 99}), encoding="utf-8")
    s = ui.get("/api/live/state").get_json()
    assert s["core_alive"] is False and s["status"] == "no_signal"
    (settings.run_dir / LIVE_STATE_FILE).write_bytes(b'{"version": 1, "stat')
    assert ui.get("/api/live/state").get_json()["core_alive"] is False


def _page_strings(html: str) -> dict:
    """The words the live page's script shows per status (its JSON block)."""
    import json
    import re
    return json.loads(re.search(r'<script type="application/json" id="live-strings">(.*?)</script>', html, re.S)[1])


def test_every_live_status_has_a_banner_in_english_and_chinese():
    """live.js maps each status of the codec to a banner string; each string exists in both languages."""
    import json
    import re
    from pathlib import Path

    from device.domain.live import STATUSES

    root = Path(__file__).resolve().parents[2] / "webui"
    js = (root / "static" / "live.js").read_text(encoding="utf-8")
    table = re.search(r"var STATUS = \{(.*?)\};", js, re.S)[1]
    mapped = dict(re.findall(r"(\w+): \['\w+', '(\w*)'\]", table))
    assert set(mapped) == set(STATUSES)
    for lang in ("en", "zh-CN"):
        words = json.loads((root / "i18n" / f"live.{lang}.json").read_text(encoding="utf-8"))
        for status, key in mapped.items():
            assert status == "no_model" or words.get(key), (lang, status)   # no_model shows the core's reason
