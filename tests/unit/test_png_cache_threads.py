"""The small PNG caches of report pages are shared by the web UI's request threads (a race gave KeyError 500s)."""

import io
import sys
import threading
import time
from collections import OrderedDict
from types import SimpleNamespace

import numpy as np
from PIL import Image

from device.reporting import key_images as from_store
from device.store.blobs import BlobStore


class YieldingLRU(OrderedDict):
    """An LRU that lets other threads run between a membership test and the next access, as a busy server does."""

    def __contains__(self, key):
        found = super().__contains__(key)
        time.sleep(0.0005)
        return found


def test_capture_png_cache_survives_concurrent_requests(tmp_path, monkeypatch):
    monkeypatch.setattr(from_store, "_PNG_CACHE", YieldingLRU())
    blobs = BlobStore(tmp_path)
    caps = []
    for k in range(66):                                   # more images than the cache holds: constant eviction
        buf = io.BytesIO()
        Image.fromarray(np.full((4, 4), k, np.uint8)).save(buf, format="PNG")
        caps.append(SimpleNamespace(blob_sha256=blobs.put(buf.getvalue()), meta={}))
    media = sorted(from_store.IMAGE_MEDIA)[0]
    errors = []

    def work(seed):
        rng = np.random.default_rng(seed)
        try:
            for _ in range(300):
                cap = caps[int(rng.integers(len(caps)))]
                png = from_store._capture_png(blobs, cap, media)
                assert png.startswith(b"\x89PNG")
        except Exception as exc:   # noqa: BLE001 - any exception in a request thread is the failure
            errors.append(repr(exc))

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)                     # switch threads as often as possible
    try:
        threads = [threading.Thread(target=work, args=(s,)) for s in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(old)
    assert not errors, errors[:3]
    assert len(from_store._PNG_CACHE) <= 64
