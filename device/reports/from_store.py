"""The bridge between the store and the report model: assemble an exam's ReportDoc from its rows, keep report
versions in the ``reports`` table, sign (and queue the signed report's DICOM objects for the PACS in the same
transaction), correct, and gather what an export needs.

Per exam kind, the measurement sections (labels, reference ranges, interpretations) come from a builder named in
:data:`SECTION_BUILDERS` and imported lazily::

    def echo_sections(conn: sqlite3.Connection, blobs: BlobStore, exam: device.store.clinical.Exam
                      ) -> tuple[Sequence[Section], Sequence[KeyImage]]

A builder reads the exam's current measurements itself and returns the sections (each ReportMeasurement naming
its model and whether a person confirmed it) and, optionally, key images (bullseyes, annotated frames); when it
returns no key images, they come from the exam's captures. When the builder's module or function does not exist
(yet), a generic "Measurements" section lists the current measurements. Findings with a score are added as a
"Findings" section in every case.

Report content in the store is ``serialize.to_dict(doc)`` with each key image's PNG kept as a blob
(``png_sha256``) instead of inline base64. Functions that write expect to run inside the caller's ``Tx`` unless
they say otherwise.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import importlib
import io
import json
import logging
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from device.errors import InputError, UserError
from device.reports import serialize
from device.reports.dicom.common import DicomObject
from device.reports.model import Exam, KeyImage, Patient, ReportDoc, ReportMeasurement, Section, \
    SignedReportError, correct, sign
from device.reports.tabular import SignalExport, read_signal_csv
from device.store import clinical, outbox, reports
from device.store.blobs import BlobStore, put_blob
from device.store.db import Tx
from device.sync.state import ExamSyncState, exam_sync_state

log = logging.getLogger(__name__)

SECTION_BUILDERS: dict[str, str] = {
    "echo": "device.lv.report_sections:echo_sections",
    "ecg": "device.ecg.report_sections:ecg_sections",
    "perfusion": "device.perfusion.report_sections:perfusion_sections",
}
SectionBuilder = Callable[[sqlite3.Connection, BlobStore, clinical.Exam],
                          tuple[Sequence[Section], Sequence[KeyImage]]]

# findings that hold editable geometry (contours, calipers), not a clinical statement
INTERNAL_FINDING_KINDS = frozenset({"lv_geometry"})

GENERIC_TITLE = {"en": "Measurements", "zh-CN": "测量结果"}
FINDINGS_TITLE = {"en": "Findings", "zh-CN": "发现"}
_SOURCE_NOTE = {"edited": {"en": "value edited by a person", "zh-CN": "数值经人工修改"},
                "manual": {"en": "entered by a person", "zh-CN": "人工录入"}}
_DESCRIPTION = {"echo": "Transthoracic echocardiogram", "ecg": "12-lead ECG",
                "perfusion": "SPECT myocardial perfusion"}
MAX_KEY_IMAGES = 8
IMAGE_MEDIA = ("image/png", "image/jpeg")
CLIP_MEDIA = ("application/x-cardiocart-clip+npz", "video/x-npz")
SIGNAL_NPZ_MEDIA = ("application/x-cardiocart-signal+npz", "application/x-npz")


# ---------------------------------------------------------------- assembling a draft from the store

def section_builder(kind: str) -> SectionBuilder | None:
    """The registered builder for ``kind``, or None when its module or function does not exist (yet)."""
    spec = SECTION_BUILDERS.get(kind)
    if not spec:
        return None
    mod_name, _, fn_name = spec.partition(":")
    try:
        mod = importlib.import_module(mod_name)
    except ModuleNotFoundError as exc:
        if exc.name and mod_name.startswith(exc.name):
            return None
        log.error("report section builder %s cannot be imported (%s); using the generic section", spec, exc)
        return None
    except ImportError as exc:
        log.error("report section builder %s cannot be imported (%s); using the generic section", spec, exc)
        return None
    fn = getattr(mod, fn_name, None)
    return fn if callable(fn) else None


def _row_measurement(m: clinical.MeasurementRow, language: str) -> ReportMeasurement:
    note = _SOURCE_NOTE.get(m.source, {}).get(language, "")
    return ReportMeasurement(name=m.name, value=float(m.value), unit=m.unit, label=m.name, interpretation=note,
                             model_name=m.model_name, model_version=m.model_version,
                             confirmed=m.source in ("confirmed", "edited", "manual"))


def current_measurements(conn: sqlite3.Connection, exam_id: int) -> list[clinical.MeasurementRow]:
    """The exam's current measurements in the order the originals were made (a reviewed value keeps its place)."""
    parent = {r[0]: r[1] for r in conn.execute("SELECT id, supersedes FROM measurements WHERE exam_id = ?",
                                                (exam_id,))}

    def root(i: int) -> int:
        for _ in range(len(parent)):
            if parent.get(i) is None:
                break
            i = parent[i]
        return i
    return sorted(clinical.current_measurements(conn, exam_id), key=lambda m: root(m.id))


def generic_sections(conn: sqlite3.Connection, exam: clinical.Exam, language: str) -> tuple[Section, ...]:
    """One section with every current measurement (no reference ranges: those come from the kind's builder)."""
    rows = current_measurements(conn, exam.id)
    if not rows:
        return ()
    return (Section(GENERIC_TITLE.get(language, GENERIC_TITLE["en"]),
                    tuple(_row_measurement(m, language) for m in rows)),)


def current_findings(conn: sqlite3.Connection, exam_id: int) -> list[dict[str, Any]]:
    """The exam's findings less those a later finding supersedes (``detail["supersedes"]``: an id or a list)."""
    found = clinical.list_findings(conn, exam_id)
    gone: set[int] = set()
    for f in found:
        sup = f["detail"].get("supersedes") if isinstance(f["detail"], dict) else None
        if isinstance(sup, int):
            gone.add(sup)
        elif isinstance(sup, list):
            gone.update(int(x) for x in sup if isinstance(x, int))
    return [f for f in found if f["id"] not in gone]


def findings_section(conn: sqlite3.Connection, exam_id: int, language: str) -> tuple[Section, ...]:
    """Findings that carry a score (view quality, screening probability...) as rows: value = score (unit 1)."""
    rows = []
    for f in current_findings(conn, exam_id):
        if f["score"] is None:
            continue
        rows.append(ReportMeasurement(name=f"finding_{f['kind']}_{f['id']}", value=float(f["score"]), unit="1",
                                      label=f"{f['kind']}: {f['label']}", interpretation=str(f["label"]),
                                      model_name=f["model_name"], model_version=f["model_version"],
                                      confirmed=f["confirmed_by"] is not None))
    return (Section(FINDINGS_TITLE.get(language, FINDINGS_TITLE["en"]), tuple(rows)),) if rows else ()


def unscored_findings_text(conn: sqlite3.Connection, exam_id: int) -> str:
    """Findings without a score, one line each with the model that made them (pre-fills the free text)."""
    return "\n".join(f"{f['kind']}: {f['label']} ({f['model_name']} {f['model_version']})".strip()
                     for f in current_findings(conn, exam_id)
                     if f["score"] is None and f["kind"] not in INTERNAL_FINDING_KINDS)


def _media_type(conn: sqlite3.Connection, sha: str) -> str:
    r = conn.execute("SELECT media_type FROM blobs WHERE sha256 = ?", (sha,)).fetchone()
    return str(r[0]) if r else ""


_PNG_CACHE: OrderedDict[str, bytes] = OrderedDict()
_PNG_LOCK = threading.Lock()


def _capture_png(blobs: BlobStore, cap: clinical.Capture, media: str) -> bytes | None:
    """PNG of a frame/photo capture, or of one frame of a clip (``meta['key_frame']`` or the middle one)."""
    from PIL import Image

    cache_key = f"{cap.blob_sha256}:{cap.meta.get('key_frame', '')}"
    with _PNG_LOCK:                      # web requests run in threads: read and trim the LRU under one lock
        if cache_key in _PNG_CACHE:
            _PNG_CACHE.move_to_end(cache_key)
            return _PNG_CACHE[cache_key]
    data = blobs.get(cap.blob_sha256)
    if media in IMAGE_MEDIA:
        with Image.open(io.BytesIO(data)) as im:
            arr = np.asarray(im.convert("L" if im.mode in ("L", "I;16", "1") else "RGB"))
    elif media in CLIP_MEDIA:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            frames = z["frames"]
        if frames.ndim not in (3, 4) or len(frames) == 0:
            return None
        idx = int(cap.meta.get("key_frame", len(frames) // 2))
        arr = np.asarray(frames[min(max(idx, 0), len(frames) - 1)], dtype=np.uint8)
    else:
        return None
    png = KeyImage.from_array(np.ascontiguousarray(arr)).png
    with _PNG_LOCK:
        _PNG_CACHE[cache_key] = png
        while len(_PNG_CACHE) > 64:
            _PNG_CACHE.popitem(last=False)
    return png


def key_images_from_captures(conn: sqlite3.Connection, blobs: BlobStore, exam_id: int) -> tuple[KeyImage, ...]:
    """Frames and photos, and the best clip of each view (highest quality), as key images; at most
    :data:`MAX_KEY_IMAGES`. A capture with ``meta['key_image'] = false`` is left out; an unreadable one is
    skipped (logged)."""
    best_clip: dict[str, clinical.Capture] = {}
    chosen: list[clinical.Capture] = []
    for cap in clinical.list_captures(conn, exam_id):
        if cap.meta.get("key_image") is False:
            continue
        if cap.kind in ("frame", "photo"):
            chosen.append(cap)
        elif cap.kind == "clip":
            prev = best_clip.get(cap.label)
            if prev is None or (cap.quality or 0) > (prev.quality or 0):
                best_clip[cap.label] = cap
    chosen = sorted(chosen + list(best_clip.values()), key=lambda c: c.id)
    out: list[KeyImage] = []
    for cap in chosen:
        if len(out) >= MAX_KEY_IMAGES:
            break
        try:
            png = _capture_png(blobs, cap, _media_type(conn, cap.blob_sha256))
        except (OSError, ValueError, KeyError, UserError) as exc:
            log.warning("capture %s cannot be used as a key image: %s", cap.id, exc)
            continue
        if png is None:
            continue
        caption = cap.label or cap.kind
        if cap.quality is not None:
            caption += f" (q {cap.quality:.2f})"
        out.append(KeyImage(png=png, caption=caption, kind=str(cap.meta.get("image_kind", "image")),
                            key=f"cap{cap.id}-{cap.blob_sha256[:12]}"))
    return tuple(out)


def _utc(ts: str) -> dt.datetime:
    return dt.datetime.fromisoformat(ts)


def doc_header(exam: clinical.Exam, language: str) -> tuple[Patient, Exam]:
    p = exam.patient
    birth = dt.date.fromisoformat(p.birth_date) if p.birth_date else None
    patient = Patient(patient_id=p.patient_id, name=p.name, sex="" if p.sex == "U" else p.sex, birth_date=birth)
    return patient, Exam(accession=exam.accession, study_uid=exam.study_uid,
                         exam_datetime=_utc(exam.created_at).astimezone(),
                         description=_DESCRIPTION.get(exam.kind, exam.kind))


def assemble(conn: sqlite3.Connection, blobs: BlobStore, exam_id: int, language: str = "en") -> ReportDoc:
    """A fresh unsigned version-1 ReportDoc of the exam from the store (nothing is written)."""
    exam = clinical.get_exam(conn, exam_id)
    patient, ex = doc_header(exam, language)
    builder = section_builder(exam.kind)
    sections: tuple[Section, ...] = ()
    images: tuple[KeyImage, ...] = ()
    if builder is not None:
        import inspect
        takes_language = "language" in inspect.signature(builder).parameters
        s, k = builder(conn, blobs, exam, language=language) if takes_language else builder(conn, blobs, exam)
        sections, images = tuple(s), tuple(k)
    else:
        sections = generic_sections(conn, exam, language)
    if not images:
        images = key_images_from_captures(conn, blobs, exam_id)
    sections += findings_section(conn, exam_id, language)
    return ReportDoc(patient=patient, exam=ex, kind=exam.kind, sections=sections, key_images=images,
                     free_text="", language=language)


# ---------------------------------------------------------------- report content <-> store rows

def doc_to_content(conn: sqlite3.Connection, blobs: BlobStore, doc: ReportDoc) -> dict[str, Any]:
    """``serialize.to_dict`` with each key image's PNG stored as a blob (``png_sha256``)."""
    d = serialize.to_dict(doc)
    for k, img in zip(d["key_images"], doc.key_images):
        k["png_sha256"] = put_blob(conn, blobs, img.png, "image/png")
        del k["png_base64"]
    return d


def doc_from_content(blobs: BlobStore, content: dict[str, Any]) -> ReportDoc:
    d = dict(content)
    d["key_images"] = [({**k, "png_base64": base64.b64encode(blobs.get(k["png_sha256"])).decode("ascii")}
                        if "png_sha256" in k else k) for k in content.get("key_images", [])]
    return serialize.from_dict(d)


def doc_of(blobs: BlobStore, version: reports.ReportVersion) -> ReportDoc:
    doc = doc_from_content(blobs, version.content)
    if doc.version != version.version:  # the row is the truth for the version number
        doc = dataclasses.replace(doc, version=version.version)
    return doc


def history(conn: sqlite3.Connection, blobs: BlobStore, exam_id: int) -> list[tuple[reports.ReportVersion,
                                                                                    ReportDoc]]:
    """Every stored version of the exam's report, oldest first."""
    return [(v, doc_of(blobs, v)) for v in reports.versions(conn, exam_id)]


def draft_source(conn: sqlite3.Connection, blobs: BlobStore, exam_id: int, language: str) -> ReportDoc | None:
    """What :func:`ensure_draft` would assemble now (None when the latest version is signed). This is the slow part
    of opening a report (clips decoded into key images): run it before the write transaction and pass it on as
    ``ensure_draft(..., fresh=...)``, so the database is locked only while the draft is stored."""
    cur = reports.latest(conn, exam_id)
    if cur is not None and cur.status == "signed":
        return None
    return assemble(conn, blobs, exam_id, language if cur is None else cur.content.get("language", language))


def ensure_draft(conn: sqlite3.Connection, blobs: BlobStore, exam_id: int, language: str,
                 author_id: int | None, fresh: ReportDoc | None = None) -> reports.ReportVersion:
    """The latest version, made current: none yet -> a draft v1 auto-filled from the store; a draft -> its
    sections and key images refreshed from the store (free text, title and amendment kept); signed -> as is.
    ``fresh``: the :func:`draft_source` made just before (assembled here when absent). Run inside a Tx."""
    cur = reports.latest(conn, exam_id)
    if cur is not None and cur.status == "signed":
        return cur
    lang = language if cur is None else cur.content.get("language", language)
    if fresh is None or fresh.language != lang:
        fresh = assemble(conn, blobs, exam_id, lang)
    if cur is None:
        doc = dataclasses.replace(fresh, free_text=unscored_findings_text(conn, exam_id))
        return reports.save_draft(conn, exam_id, doc_to_content(conn, blobs, doc), author_id)
    old = doc_of(blobs, cur)
    doc = dataclasses.replace(old, sections=fresh.sections, key_images=fresh.key_images, patient=fresh.patient,
                              exam=fresh.exam)
    if doc == old:
        return cur
    return reports.save_draft(conn, exam_id, doc_to_content(conn, blobs, doc), cur.author_id)


def _open_draft(conn: sqlite3.Connection, blobs: BlobStore, exam_id: int) -> tuple[reports.ReportVersion,
                                                                                    ReportDoc]:
    cur = reports.latest(conn, exam_id)
    if cur is None:
        raise UserError("this exam has no report yet; open the report page first")
    if cur.status == "signed":
        raise SignedReportError(f"report version {cur.version} is signed and cannot be changed; use Correct to "
                                "start a new version with a reason")
    return cur, doc_of(blobs, cur)


def save_text(conn: sqlite3.Connection, blobs: BlobStore, exam_id: int, free_text: str,
              author_id: int | None) -> tuple[reports.ReportVersion, ReportDoc, ReportDoc]:
    """Change the draft's free text (in place). Returns (row, old doc, new doc). Run inside a Tx."""
    if len(free_text) > 20000:
        raise InputError("the report text is longer than 20000 characters; shorten it")
    _, old = _open_draft(conn, blobs, exam_id)
    new = dataclasses.replace(old, free_text=free_text.replace("\r\n", "\n").strip())
    row = reports.save_draft(conn, exam_id, doc_to_content(conn, blobs, new), author_id)
    return row, old, new


def review_measurement(conn: sqlite3.Connection, exam_id: int, measurement_id: int, user_id: int,
                       value: float | None = None) -> int:
    """Confirm a current measurement (``value`` None) or replace its value (source ``edited``); the new row
    supersedes the old one. Refused once the report's latest version is signed. Run inside a Tx."""
    cur = reports.latest(conn, exam_id)
    if cur is not None and cur.status == "signed":
        raise SignedReportError(f"report version {cur.version} is signed; use Correct to start a new version "
                                "before changing measurements")
    m = next((r for r in current_measurements(conn, exam_id) if r.id == measurement_id), None)
    if m is None:
        raise UserError(f"measurement {measurement_id} is not a current measurement of this exam; reload the page")
    if value is not None and not np.isfinite(value):
        raise InputError("the new value must be a number")
    return clinical.add_measurement(conn, exam_id, m.capture_id, m.name, m.value if value is None else value,
                                    m.unit, m.model_name, m.model_version, m.frames,
                                    source="confirmed" if value is None or value == m.value else "edited",
                                    edited_by=user_id, supersedes=m.id)


# ---------------------------------------------------------------- signing, correcting, sync

def sign_and_queue(conn: sqlite3.Connection, blobs: BlobStore, exam_id: int, *, signer_id: int, signer_role: str,
                   signer_name: str, now: dt.datetime, target: str = "none", language: str = "en",
                   on_commit: Callable[[reports.ReportVersion, list[DicomObject]], None] | None = None
                   ) -> tuple[reports.ReportVersion, ReportDoc, list[DicomObject]]:
    """Sign the exam's draft. The signed content, the signature and (when ``target`` is not ``"none"``) the
    signed report's DICOM objects as blobs + outbox rows are written in ONE transaction, which this function
    opens (call it outside a Tx); ``language`` is used only when the exam has no report yet. ``on_commit(row, objects)`` runs inside that transaction (e.g. the audit row).
    The PDF and objects are rendered before the transaction; if the draft changed meanwhile, nothing is signed.
    """
    if signer_role != "physician":
        raise UserError("only a physician can sign a report; ask a physician to sign it")
    with Tx(conn):
        draft = ensure_draft(conn, blobs, exam_id, language, signer_id)
    if draft.status == "signed":
        raise SignedReportError(f"version {draft.version} is already signed; use Correct to start a new version")
    doc = sign(doc_of(blobs, draft), signer_name, now)
    objects: list[DicomObject] = []
    if target != "none":
        from device.reports.pdf import render_pdf
        objects = exam_objects(conn, blobs, exam_id, doc, render_pdf(doc))
    with Tx(conn):
        cur = reports.latest(conn, exam_id)
        if cur is None or cur.id != draft.id or cur.status != "draft" or cur.content != draft.content:
            raise UserError("the report changed while it was being signed; review it and sign again")
        reports.save_draft(conn, exam_id, doc_to_content(conn, blobs, doc), cur.author_id)
        row = reports.sign(conn, exam_id, signer_id, signer_role)
        enqueue_objects(conn, blobs, exam_id, objects, target)
        if on_commit:
            on_commit(row, objects)
    return row, doc, objects


def enqueue_objects(conn: sqlite3.Connection, blobs: BlobStore, exam_id: int, objects: Sequence[DicomObject],
                    target: str) -> int:
    """Write each object as a blob and queue it for ``target`` (an object already queued is not queued again).
    Returns how many were newly queued. Run inside a Tx."""
    n = 0
    for o in objects:
        sha = put_blob(conn, blobs, o.to_bytes(), "application/dicom")
        n += outbox.enqueue(conn, exam_id, target, o.kind, o.sop_instance_uid, sha)
    return n


def queue_signed(conn: sqlite3.Connection, blobs: BlobStore, exam_id: int, target: str) -> int:
    """Queue the latest signed version's objects (e.g. it was signed while sync was off). Opens its own Tx."""
    if target == "none":
        raise UserError("PACS sync is off ([sync] target = none); an administrator must configure a PACS first")
    signed = [v for v in reports.versions(conn, exam_id) if v.status == "signed"]
    if not signed:
        raise UserError("this exam has no signed report; only signed reports are sent to the PACS")
    doc = doc_of(blobs, signed[-1])
    from device.reports.pdf import render_pdf
    objects = exam_objects(conn, blobs, exam_id, doc, render_pdf(doc))
    with Tx(conn):
        return enqueue_objects(conn, blobs, exam_id, objects, target)


def start_correction(conn: sqlite3.Connection, blobs: BlobStore, exam_id: int, reason: str,
                     author_id: int | None) -> reports.ReportVersion:
    """A new draft version amending the signed latest one, with ``reason``. Run inside a Tx."""
    cur = reports.latest(conn, exam_id)
    if cur is None or cur.status != "signed":
        raise InputError("only a signed report can be corrected; edit the draft instead")
    new = correct(doc_of(blobs, cur), reason)
    return reports.save_draft(conn, exam_id, doc_to_content(conn, blobs, new), author_id)


def sync_summary(conn: sqlite3.Connection, exam_id: int) -> ExamSyncState:
    """The exam's PACS sync state from its outbox rows (see device.sync.state)."""
    rows = conn.execute("SELECT state, next_attempt_at, last_error FROM outbox WHERE exam_id = ? ORDER BY id",
                        (exam_id,)).fetchall()
    return exam_sync_state((r["state"], r["next_attempt_at"] if r["state"] == "failed" else None, r["last_error"])
                           for r in rows)


# ---------------------------------------------------------------- exports

def export_version(conn: sqlite3.Connection, blobs: BlobStore, exam_id: int,
                   version: int | None = None) -> tuple[reports.ReportVersion, ReportDoc]:
    """The version to export: ``version`` if given, else the latest signed one, else the latest draft."""
    vs = reports.versions(conn, exam_id)
    if not vs:
        raise UserError("this exam has no report yet; open its report page first")
    if version is not None:
        pick = next((v for v in vs if v.version == version), None)
        if pick is None:
            raise UserError(f"this exam has no report version {version}")
    else:
        signed = [v for v in vs if v.status == "signed"]
        pick = signed[-1] if signed else vs[-1]
    return pick, doc_of(blobs, pick)


def signals_of(conn: sqlite3.Connection, blobs: BlobStore, exam_id: int
               ) -> tuple[dict[str, SignalExport], list[str]]:
    """Digitised signals (captures of kind ``signal``) as ``{name: SignalExport}``, plus one message per capture
    that could not be read. Accepted blobs: CSV or JSON in ``cardiocart.signal/1`` form, or an npz with
    ``signals_mv`` (n_samples, n_leads) float mV, ``fs_hz`` and optionally ``leads`` (names)."""
    out: dict[str, SignalExport] = {}
    problems: list[str] = []
    for cap in clinical.list_captures(conn, exam_id):
        if cap.kind != "signal":
            continue
        name = f"{cap.id}_{cap.label or 'signal'}"
        try:
            out[name] = _read_signal(blobs.get(cap.blob_sha256), _media_type(conn, cap.blob_sha256), cap.meta)
        except (UserError, OSError, ValueError, KeyError) as exc:
            problems.append(f"signal capture {cap.id} ({cap.label}) cannot be read: {exc}")
    return out, problems


def _read_signal(data: bytes, media: str, meta: dict[str, Any]) -> SignalExport:
    if media in SIGNAL_NPZ_MEDIA:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            x = np.asarray(z["signals_mv"], dtype=np.float64)
            fs = float(z["fs_hz"]) if "fs_hz" in z else float(meta["fs_hz"])
            leads = [str(s) for s in z["leads"]] if "leads" in z else list(meta.get("leads", []))
        if x.ndim != 2:
            raise InputError(f"signals_mv must be (n_samples, n_leads), got shape {x.shape}")
        if not leads:
            from device.ecg.types import LEADS
            leads = list(LEADS[:x.shape[1]]) if x.shape[1] <= len(LEADS) else [f"ch{i}" for i in range(x.shape[1])]
        return SignalExport(leads=tuple(leads), samples=x.T, sampling_rate_hz=fs, units="mV",
                            start=str(meta.get("start", "")))
    text = data.decode("utf-8")
    if media == "application/json" or text.lstrip().startswith("{"):
        d = json.loads(text)
        leads = tuple(d["leads"])
        return SignalExport(leads=leads, samples=np.array([d["leads"][k] for k in leads], dtype=np.float64),
                            sampling_rate_hz=float(d["sampling_rate_hz"]), units=str(d.get("units", "mV")),
                            start=str(d.get("start", "")))
    return read_signal_csv(text)


def exam_objects(conn: sqlite3.Connection, blobs: BlobStore, exam_id: int, doc: ReportDoc,
                 pdf: bytes | None) -> list[DicomObject]:
    """The report's DICOM objects (Encapsulated PDF, Secondary Captures, echo SR) plus, for an exam with a
    digitised 12-lead signal, the 12-lead ECG waveform object, all with the exam's identifiers."""
    from device.reports.dicom.exam import build_report_objects

    objs = build_report_objects(doc, pdf)
    signals, _ = signals_of(conn, blobs, exam_id)
    if signals:
        from device.ecg.export import dicom_waveform
        from device.ecg.types import LEADS
        from device.reports.dicom.adopt import adopt
        from device.reports.dicom.ids import identity_from_report
        for name, sig in signals.items():
            if tuple(sig.leads) != tuple(LEADS):
                continue
            ds = dicom_waveform(np.asarray(sig.samples).T, sig.sampling_rate_hz,
                                description="Digitised 12-lead ECG")
            # PS3.3 C.7.6.14: Acquisition Context is Type 2; C.10.9: the group time offset is 1C, absent when
            # Acquisition DateTime is present (dciodvfy flags both on device.ecg.export's dataset)
            if "AcquisitionContextSequence" not in ds:
                ds.AcquisitionContextSequence = []
            for grp in ds.WaveformSequence:
                if "MultiplexGroupTimeOffset" in grp and "AcquisitionDateTime" in ds:
                    del grp.MultiplexGroupTimeOffset
            objs.append(adopt(ds, identity_from_report(doc), kind="ecg", content_key=f"12lead-{name}",
                              content_datetime=doc.exam.exam_datetime))
    return objs


def in_language(doc: ReportDoc, language: str) -> ReportDoc:
    """The same report shown in ``language`` (labels, disclaimer and the generic section titles)."""
    if doc.language == language:
        return doc
    titles = {GENERIC_TITLE[doc.language]: GENERIC_TITLE[language],
              FINDINGS_TITLE[doc.language]: FINDINGS_TITLE[language]} if doc.language in GENERIC_TITLE else {}
    sections = tuple(dataclasses.replace(s, title=titles.get(s.title, s.title)) for s in doc.sections)
    return dataclasses.replace(doc, language=language, sections=sections)
