"""Issue 13 on the real Paper2Pulse photos: each of the 30 photos turned 180 degrees (even ones) or mirrored (odd
ones) is turned upright or refused, never read as it is; the 30 upright photos read as before (EVALUATION.md: mean
per-lead SNR 6.4 dB without alignment)."""

from __future__ import annotations

import csv
import os

import numpy as np
import pytest

from device.ecg.eval_metrics import lead_snr_db
from device.ecg.imageio import load_image
from device.ecg.reader import read_ecg_image
from device.ecg.wfdb import read_record
from device.errors import InputError

pytestmark = pytest.mark.shared_data

# the whole set takes ~170 s on 2 cores: `CARDIOCART_STRESS=1 pytest THIS_FILE` reads all 30, `make test` every 4th
# pair (8 photos: 0,1, 8,9, 16,17, 24,25; the even one turned 180 degrees, the odd one mirrored)
EVERY = 1 if os.environ.get("CARDIOCART_STRESS") else 4
# mean per-lead SNR floors: all 30 measured 6.44 dB upright / 6.27 dB turned back (2026-12-04); the 8-photo subset
# 5.73 / 5.23 dB (its photos are harder than the average)
UPRIGHT_MIN_DB, TURNED_MIN_DB = (6.3, 5.5) if EVERY == 1 else (5.6, 5.0)


def test_turned_real_photos_are_corrected_or_refused(shared_data):
    d = shared_data / "ecg-photos-paper2pulse"
    with open(d / "labels.csv", newline="") as fh:
        records = {r["image_filename"]: r["record"] for r in csv.DictReader(fh)}
    photos = sorted((d / "images").glob("*.jpg"))
    assert len(photos) == 30
    upright_snr, turned_snr, outcomes = [], [], {"corrected": 0, "refused": 0, "read as-is": 0}
    for i, p in enumerate(photos):
        if (i // 2) % EVERY:
            continue
        truth = read_record(d / "signals" / f"{records[p.name]}.hea").signals_mv
        img = load_image(p)
        r0 = read_ecg_image(img)
        assert not any(w.startswith("the page was") for w in r0.warnings), p.name
        upright_snr.append(np.nanmean(lead_snr_db(r0.signals_mv, truth)))
        how = "rotated 180 degrees" if i % 2 == 0 else "mirrored left-right"
        turned = img[::-1, ::-1] if i % 2 == 0 else img[:, ::-1]
        try:
            r = read_ecg_image(np.ascontiguousarray(turned))
        except InputError:
            outcomes["refused"] += 1
            continue
        if r.warnings and r.warnings[0].startswith(f"the page was {how}"):
            outcomes["corrected"] += 1
            turned_snr.append(np.nanmean(lead_snr_db(r.signals_mv, truth)))
        else:
            outcomes["read as-is"] += 1
    assert sum(outcomes.values()) == 30 // EVERY + (EVERY > 1)
    print(outcomes, f"upright SNR {np.mean(upright_snr):.2f} dB, corrected {np.mean(turned_snr):.2f} dB")
    assert outcomes["read as-is"] == 0, outcomes
    assert np.mean(upright_snr) >= UPRIGHT_MIN_DB
    assert not turned_snr or np.mean(turned_snr) >= TURNED_MIN_DB
