"""The trained echo_view model: it names simulator views it never saw, and in the live loop the simulated probe's
drift into a view ends in a "standard view" tone and a saved loop."""

from __future__ import annotations

import numpy as np
import pytest

from device.paths import MODELS_DIR

pytestmark = pytest.mark.skipif(not (MODELS_DIR / "echo_view" / "manifest.json").is_file(),
                                reason="models/echo_view not trained (run make models)")


@pytest.fixture(scope="module")
def clf():
    from device.echo.classify import ViewClassifier
    from device.inference import load_model

    return ViewClassifier.from_loaded(load_model("echo_view"))


def test_manifest_names_views_guidance_and_accuracy(clf):
    from device.inference import load_manifest

    m = load_manifest("echo_view")
    assert len(m.labels) == 13 and "OTHER" in m.labels and len(m.params["guidance_labels"]) == 11
    assert {"int8", "fp32", "tflite"} <= set(m.variants)
    assert any("held-out" in a["on"] for a in m.accuracy)


def test_names_unseen_simulator_views(clf):
    from device.echo.screen import find_sector
    from device.sim.echo_probe import random_sample
    from device.sim.echo_views import VIEWS

    rng = np.random.default_rng(2024)  # a seed the recipe never used
    hits = 0
    for k in range(26):
        img, t = random_sample(rng, view=VIEWS[k % 13], size=(480, 360), pose_spread=0.3)
        hits += clf(img, find_sector(img)).view == t.view
    assert hits >= 18


@pytest.mark.slow
def test_live_loop_reaches_standard_view(clf):
    from device.drivers.sim_probe import SimProbeSource
    from device.pipeline.live_echo import LiveEcho
    from device.sim.echo_probe import Segment

    # PLAX: the v2 model (frozen ImageNet features) confuses the apical views among themselves even on the
    # simulator (A4C recall ~0.5, mostly called A5C; EVALUATION.md), so an apical script would test that weakness,
    # not the loop; the weakness is measured and reported there.
    src = SimProbeSource(width=640, height=480, realtime=False, max_frames=270,   # the whole 9 s script
                         script=(Segment("PLAX", approach_s=3.0, hold_s=5.0, leave_s=1.0),), seed=11)
    events, clips = [], []
    loop = LiveEcho(src, clf, protocol=["PLAX"], clip_s=2.0, on_event=events.append, on_clip=clips.append,
                    sync_sector=True)
    for f in src:
        loop.process(f)
    kinds = [e.kind for e in events]
    assert "standard_view" in kinds
    assert clips and clips[0].view == "PLAX"
