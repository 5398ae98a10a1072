"""Issue 13: the out-of-domain corpus (ood_corpus.py) through the upload routes of the web UI, as a sonographer
would send it: the ECG photo upload (``/exams/<id>/ecg/upload``), the perfusion study upload
(``/exams/<id>/perfusion/upload``), the SPECTF regional counts (``/exams/<id>/perfusion/regions``) and the short-axis
MRI upload (``/exams/<id>/sax/upload``), each read by the job the worker runs.

An input passes when it is refused (the ECG page answers 422 with the reason, the perfusion job ends in error, or the
upload itself is refused with 400) and the exam holds no measurement, finding or alert afterwards; or, for a turned or
mirrored ECG page, when it is read after being turned upright and the page says so. Anything else is a confident
result on an input the cart cannot read, and the test fails. ``make test`` sends 7 of them (SHORT; a turned page
through the upload is tests/integration/test_ecg_validity_ui.py); ``make stress`` sends all of them and records the
refusal rate per route for RELIABILITY.md.
"""

from __future__ import annotations

import io
import time

import pytest

from device.store import Store, clinical
from device.store.db import Tx
from tests.integration.conftest import app, login, make_user, run_jobs_in, settings  # noqa: F401 (fixtures)
from tests.stress.figures import Figures, figures_dir, stress_mode
from tests.stress.test_ood_corpus import _record


# what ``make test`` sends (the 16-bit PNG, noise, a cut page; a brain, a 2-D image, a photo; a still MR slice)
SHORT = {"16-bit greyscale PNG", "noise", "left half of the page", "brain volume", "2-D image",
         "ECG photo (wrong modality)", "brain-like slice"}


@pytest.fixture()
def corpus(ood_corpus):
    return ood_corpus


def _subset(cases: list) -> list:
    return cases if stress_mode() == "full" else [c for c in cases if c[0] in SHORT]


def _exam(settings, pid: str, kind: str) -> int:  # noqa: F811
    s = Store.open(settings.data_dir)
    try:
        with Tx(s.conn) as c:
            p = clinical.upsert_patient(c, pid, "Ood, Case", "F", "1960-01-02")
            return clinical.create_exam(c, p, kind, None).id
    finally:
        s.close()


def _stored(settings, eid: int) -> int:  # noqa: F811
    """Measurements, findings and alerts the exam holds."""
    s = Store.open(settings.data_dir)
    try:
        q = s.conn.execute
        return (q("SELECT COUNT(*) FROM measurements WHERE exam_id = ?", (eid,)).fetchone()[0]
                + q("SELECT COUNT(*) FROM findings WHERE exam_id = ?", (eid,)).fetchone()[0]
                + q("SELECT COUNT(*) FROM alerts WHERE exam_id = ?", (eid,)).fetchone()[0])
    finally:
        s.close()


def test_ecg_upload(corpus, login, settings):  # noqa: F811
    ui = login("sono", "sonographer")
    outcomes = {}
    for k, (name, p) in enumerate(_subset(corpus["ecg read"])):
        eid = _exam(settings, f"OODE{k:03d}", "ecg")
        r = ui.post(f"/exams/{eid}/ecg/upload", {"photo": (io.BytesIO(p.read_bytes()), p.name), "source": "upload"},
                    content_type="multipart/form-data")
        if r.status_code == 302 and "job=" in r.location:
            run_jobs_in(settings)
            r = ui.get(r.location)
        body = r.data.decode("utf-8", "replace")
        assert "Traceback" not in body and r.status_code < 500, (name, r.status_code)
        stored = _stored(settings, eid)
        want = name.split()[1] if name.startswith("photo ") else None
        if r.status_code in (400, 413, 415, 422) and stored == 0:
            outcomes[name] = "refused"
        elif r.status_code == 200 and want and f"the page was {want}" in body and stored:
            outcomes[name] = "turned upright"
        else:
            outcomes[name] = f"CONFIDENT (HTTP {r.status_code}, {stored} rows stored)"
    _record(Figures(figures_dir()), "ECG photo upload (web)", outcomes)
    assert not [k for k, v in outcomes.items() if v.startswith("CONFIDENT")], outcomes


def test_perfusion_upload(corpus, login, settings):  # noqa: F811
    ui = login("sono", "sonographer")
    outcomes = {}
    for k, (name, p) in enumerate(_subset(corpus["perfusion polar"])):
        eid = _exam(settings, f"OODP{k:03d}", "perfusion")
        r = ui.post(f"/exams/{eid}/perfusion/upload", {"stress": (io.BytesIO(p.read_bytes()), p.name)},
                    content_type="multipart/form-data")
        state, message = ("refused", "") if r.status_code == 400 else ("", "")
        if r.status_code == 302 and "job=" in r.location:
            run_jobs_in(settings)
            job = r.location.split("job=")[1]
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                j = ui.get(f"/exams/{eid}/perfusion/jobs/{job}").get_json()
                if j["state"] in ("done", "error"):
                    state, message = j["state"], j.get("message") or ""
                    break
                time.sleep(0.2)
        assert "Traceback" not in message and "/tmp" not in message, (name, message)
        stored = _stored(settings, eid)
        outcomes[name] = "refused" if state in ("refused", "error") and stored == 0 \
            else f"CONFIDENT (HTTP {r.status_code}, job {state or '?'}, {stored} rows stored)"
    _record(Figures(figures_dir()), "perfusion study upload (web)", outcomes)
    assert not [k for k, v in outcomes.items() if v.startswith("CONFIDENT")], outcomes


def test_sax_upload(corpus, login, settings):  # noqa: F811
    from device.paths import MODELS_DIR

    if not (MODELS_DIR / "lv_seg" / "manifest.json").exists():
        pytest.skip("the lv_seg model is not built (make models)")
    ui = login("sono", "sonographer")
    outcomes = {}
    for k, (name, p) in enumerate(_subset(corpus["lv sax"])):
        eid = _exam(settings, f"OODS{k:03d}", "echo")
        r = ui.post(f"/exams/{eid}/sax/upload", {"series": [(io.BytesIO(p.read_bytes()), p.name)]},
                    content_type="multipart/form-data")
        if r.status_code == 302 and "job=" in r.location:
            run_jobs_in(settings)
            r = ui.get(r.location)
        assert r.status_code < 500 and b"Traceback" not in r.data, (name, r.status_code)
        stored = _stored(settings, eid)
        outcomes[name] = "refused" if stored == 0 else f"CONFIDENT (HTTP {r.status_code}, {stored} rows stored)"
    _record(Figures(figures_dir()), "short-axis MRI upload (web)", outcomes)
    assert not [k for k, v in outcomes.items() if v.startswith("CONFIDENT")], outcomes


def test_spectf_counts_upload(corpus, login, settings):  # noqa: F811
    ui = login("sono", "sonographer")
    outcomes = {}
    for k, (name, p) in enumerate(corpus["perfusion regions"]):     # 5 small CSV files: all of them, always
        eid = _exam(settings, f"OODR{k:03d}", "perfusion")
        r = ui.post(f"/exams/{eid}/perfusion/regions", {"counts": (io.BytesIO(p.read_bytes()), p.name)},
                    content_type="multipart/form-data")
        if r.status_code == 302 and "job=" in r.location:
            run_jobs_in(settings)
            r = ui.get(r.location)
        assert r.status_code < 500 and b"Traceback" not in r.data, (name, r.status_code)
        stored = _stored(settings, eid)
        outcomes[name] = "refused" if stored == 0 else f"CONFIDENT (HTTP {r.status_code}, {stored} rows stored)"
    # positive control: a plausible row is stored and classified, so the zeros above are refusals
    eid = _exam(settings, "OODR999", "perfusion")
    row = ",".join(str(v) for v in [72, 68, 75, 70, 66, 71, 74, 69, 73, 67, 70] * 4)
    r = ui.post(f"/exams/{eid}/perfusion/regions", {"counts": (io.BytesIO(row.encode() + b"\n"), "ok.csv")},
                content_type="multipart/form-data")
    run_jobs_in(settings)
    assert _stored(settings, eid) > 0
    _record(Figures(figures_dir()), "SPECTF counts upload (web)", outcomes)
    assert not [k for k, v in outcomes.items() if v.startswith("CONFIDENT")], outcomes
