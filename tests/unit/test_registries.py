"""Every entry of every registry loads: capture sources, model runners, CLI commands, report section builders, job
kinds and recovery hooks, sync targets, report exporters. A misspelt module path, a renamed function or a broken import fails here
(not as a log line at run time); an optional backend that cannot load here must say so through its probe."""

from __future__ import annotations

import importlib
import inspect

import pytest

from device.errors import ConfigError


def test_capture_sources_import_and_report_availability():
    from device.drivers.registry import SOURCES, available_sources, make_source
    for name, spec in SOURCES.items():
        module, cls = spec.split(":")
        factory = getattr(importlib.import_module(module), cls)        # imports even where the backend is absent
        assert callable(factory), name
    avail = available_sources()
    assert set(avail) == set(SOURCES) and avail["sim"] == "ok"
    with pytest.raises(ConfigError, match="valid: dicom, opencv, picamera2, sim, video"):
        make_source("webcam")


def test_model_runners():
    from device.inference.runners import RUNNERS
    assert set(RUNNERS) == {".onnx", ".tflite"}
    for suffix, factory in RUNNERS.items():
        assert inspect.isclass(factory) and callable(getattr(factory, "run", None)), suffix


def test_cli_commands_register():
    import argparse

    from device.cli import COMMANDS
    for name, module in COMMANDS.items():
        mod = importlib.import_module(module)
        assert callable(getattr(mod, "register", None)), f"{module} has no register() for '{name}'"
    from device.__main__ import build_parser
    parser = build_parser([])
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert set(COMMANDS) <= set(sub.choices)
    broken = [a.dest for a in sub._choices_actions if (a.help or "").startswith("(unavailable")]
    assert broken == []                        # the stand-in parser of a module that failed to import


def test_report_section_builders_cover_every_exam_kind_and_run(tmp_path):
    from device.reporting.sections import SECTION_BUILDERS
    from device.reporting.settings import ReportSettings
    from device.store import Store, clinical
    from device.store.db import Tx
    assert set(SECTION_BUILDERS) == set(clinical.EXAM_KINDS)
    store = Store.open(tmp_path)
    with Tx(store.conn):
        p = clinical.upsert_patient(store.conn, "REG00001", "Registry", "M")
    for kind, builder in SECTION_BUILDERS.items():
        with Tx(store.conn):
            exam = clinical.create_exam(store.conn, p, kind, None)
        sections, images = builder(store.conn, store.blobs, exam, ReportSettings.bundled(), "en")
        assert list(sections) == [] and list(images) == [], kind       # an empty exam: nothing invented
    store.close()


def test_job_kinds_and_recovery_hooks():
    from device.jobs.registry import HANDLERS, RECOVERY
    assert HANDLERS and all(isinstance(k, str) and k for k in HANDLERS)
    for kind, handler in HANDLERS.items():
        params = list(inspect.signature(handler).parameters)
        assert len(params) >= 2, f"job handler {kind} must take (payload, progress)"
    for hook in RECOVERY:
        assert len(inspect.signature(hook).parameters) >= 1, hook


def test_sync_targets():
    from types import SimpleNamespace

    from device.sync.targets import TARGETS, target_from_settings
    assert TARGETS == ("none", "dicomweb", "cstore")
    assert target_from_settings(SimpleNamespace(target="none")) is None
    for mod in ("device.sync.dicomweb", "device.sync.cstore"):
        importlib.import_module(mod)
    with pytest.raises(ConfigError, match="none, dicomweb, cstore"):
        target_from_settings(SimpleNamespace(target="ftp"))


def test_report_exporters_each_produce_their_file(tmp_path):
    """Every export format the report offers (device/usecases/export.py FORMATS) yields a file of its media type for
    a drafted echo report; an unknown format yields nothing."""
    import json
    import zipfile
    from io import BytesIO

    import numpy as np

    from device.domain.codecs import CLIP_MEDIA, encode_clip
    from device.reporting import from_store
    from device.reporting.settings import ReportSettings
    from device.store import Store, clinical
    from device.store.db import Tx
    from device.usecases.export import FORMATS, exam_file
    store = Store.open(tmp_path)
    with Tx(store.conn):
        p = clinical.upsert_patient(store.conn, "EXP00001", "Export Test", "F")
        exam = clinical.create_exam(store.conn, p, "echo", None)
        clip = clinical.add_capture(store.conn, store.blobs, exam.id, "clip",
                                    encode_clip(np.zeros((4, 8, 8), np.uint8), 20.0), CLIP_MEDIA, label="A4C",
                                    quality=0.9)
        for name, v in (("a4c_edv_ml", 120.0), ("a4c_esv_ml", 50.0)):
            clinical.add_measurement(store.conn, exam.id, clip.id, name, v, "mL", "lv_seg", "1.1.0", (2, 9))
        from_store.ensure_draft(store.conn, store.blobs, exam.id, "en", None, ReportSettings.bundled())
    assert set(FORMATS) == {"dicom.zip", "fhir.json", "measurements.csv", "measurements.json"}
    for fmt, media in FORMATS.items():
        data, got_media, name, version = exam_file(store.conn, store.blobs, exam.id, fmt, None)
        assert data and got_media == media and name.endswith(fmt) and version == 1, fmt
        if fmt.endswith(".json"):
            assert json.loads(data)
        if fmt == "dicom.zip":
            assert zipfile.ZipFile(BytesIO(data)).namelist()
        if fmt == "measurements.csv":
            rows = [ln for ln in data.decode("utf-8").splitlines() if ln and not ln.startswith("#")]
            assert len(rows) >= 3 and any("120" in r for r in rows[1:]), rows     # header + EDV, ESV (+ SV, EF)
    assert exam_file(store.conn, store.blobs, exam.id, "report.docx", None) is None
    store.close()
