"""Teach the cart its site's views: labelled loops -> backbone features -> a new view head -> a model directory,
promoted to the cart's active model only when it beats the current one on held-back patients.

Two sources of labelled loops: a folder / CSV given to ``python -m device echo learn`` (:func:`scan_data`), and the
store's confirmed clips (:func:`store_items`, the admin page's background job :func:`handle_job`). The learning
itself is pure (:mod:`device.echo.site_learning`); the active-model pointer is :mod:`device.echo.site_models`.
Every check of the input runs before any model file is written: bad input changes no model.
"""

from __future__ import annotations

import copy
import csv
import json
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from device.echo import site_learning, site_models
from device.errors import InputError, UserError

FRAMES_PER_LOOP = 8
LEARN_KIND = "echo.learn_views"     # the job kind of the admin page's "learn from confirmed clips"
MEDIA_EXT = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".dcm", ".dicom", ".mp4", ".avi", ".mov",
             ".mkv", ".npz", ""}
Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class Item:
    """One labelled loop or image: where its frames come from, its view, its patient and a loop id."""
    source: str          # a file path, or "capture:<id>" for a stored clip
    view: str
    patient: str
    clip: str


def _no_progress(fraction: float, message: str = "") -> None:
    return None


# ------------------------------------------------------------------------------------------------ reading the data

def _dicom_patient(path: Path) -> str | None:
    try:
        import pydicom

        ds = pydicom.dcmread(str(path), stop_before_pixels=True, specific_tags=["PatientID"])
        pid = str(getattr(ds, "PatientID", "") or "").strip()
        return pid or None
    except Exception:  # noqa: BLE001 - not DICOM or no PatientID: the caller falls back to the file
        return None


def _patient_of(path: Path, view_dir: Path | None) -> str:
    """CSV column first (caller), then the DICOM PatientID, then a patient sub-folder, then the file itself."""
    pid = _dicom_patient(path) if path.suffix.lower() in (".dcm", ".dicom", "") else None
    if pid:
        return pid
    if view_dir is not None and path.parent != view_dir:
        return path.parent.relative_to(view_dir).parts[0]
    return str(path)


def scan_data(data: Path, known: tuple[str, ...]) -> list[Item]:
    """Items of a folder with one sub-folder per view (optionally view/patient/file), or of a CSV file,view[,patient]."""
    data = Path(data)
    if data.is_file():
        return _scan_csv(data, known)
    if not data.is_dir():
        raise InputError(f"{data} does not exist; give a folder with one sub-folder per view or a CSV file,view,patient")
    csv_files = [data / n for n in ("labels.csv", "site.csv") if (data / n).is_file()]
    if csv_files:
        return _scan_csv(csv_files[0], known)
    subdirs = sorted(p for p in data.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not subdirs:
        raise InputError(f"{data} has no sub-folders; put each view's loops in a sub-folder named after the view "
                         f"({', '.join(known)})")
    unknown = [p.name for p in subdirs if p.name not in known]
    if unknown:
        raise InputError(f"unknown view folder(s) {', '.join(unknown)} in {data}; name the folders after the "
                         f"model's views: {', '.join(known)}")
    items = []
    for vd in subdirs:
        for f in sorted(vd.rglob("*")):
            if f.is_file() and not any(part.startswith(".") for part in f.relative_to(vd).parts):
                items.append(Item(str(f), vd.name, _patient_of(f, vd), str(f)))
    if not items:
        raise InputError(f"the view folders in {data} are empty; add images, DICOM cines or videos")
    return items


def _scan_csv(path: Path, known: tuple[str, ...]) -> list[Item]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"{path.name} cannot be read as CSV ({exc}); write it as UTF-8 with a header "
                         "file,view,patient") from exc
    cols = {c.strip().lower() for c in (rows[0].keys() if rows else [])}
    fcol = "file" if "file" in cols else "path" if "path" in cols else None
    if not rows or fcol is None or "view" not in cols:
        raise InputError(f"{path.name} needs a header row with columns file,view,patient and one row per loop")
    items, unknown = [], set()
    for i, raw in enumerate(rows, start=2):
        r = {str(k).strip().lower(): (v or "").strip() for k, v in raw.items() if k is not None}
        view = r.get("view", "")
        if view not in known:
            unknown.add(view or "(empty)")
            continue
        f = Path(r.get(fcol, ""))
        f = f if f.is_absolute() else path.parent / f
        if not r.get(fcol):
            raise InputError(f"{path.name} line {i} has no file; give the image/cine/video path of every row")
        items.append(Item(str(f), view, r.get("patient") or _patient_of(f, None), str(f)))
    if unknown:
        raise InputError(f"unknown view label(s) {', '.join(sorted(unknown))} in {path.name}; use the model's "
                         f"labels: {', '.join(known)}")
    return items


def store_items(conn) -> list[Item]:
    """The store's clips whose view a sonographer confirmed or corrected (patient = the exam's patient ID)."""
    from device.store.clip_labels import confirmed_clips

    return [Item(f"capture:{c.capture_id}", c.view, c.patient_id, f"capture:{c.capture_id}")
            for c in confirmed_clips(conn)]


def _even(frames: list[np.ndarray] | np.ndarray, n: int) -> list[np.ndarray]:
    if len(frames) <= n:
        return list(frames)
    idx = np.linspace(0, len(frames) - 1, n).round().astype(int)
    return [frames[i] for i in idx]


def item_frames(item: Item, max_frames: int, blobs=None, conn=None) -> list[np.ndarray]:
    """Up to `max_frames` evenly spaced frames of a loop, read with the cart's own readers."""
    if item.source.startswith("capture:"):
        from device.services.live_sink import decode_clip

        cap_id = int(item.source.split(":", 1)[1])
        row = conn.execute("SELECT blob_sha256 FROM captures WHERE id = ?", (cap_id,)).fetchone()
        try:
            clip, _fps = decode_clip(blobs.get(row["blob_sha256"]))
        except (OSError, ValueError, KeyError, TypeError, UserError) as exc:
            raise InputError(f"stored clip {cap_id} cannot be read ({exc}); correct or remove its label") from exc
        return _even(list(clip), max_frames)
    from device.drivers.files import read_any_frames

    path = Path(item.source)
    try:
        frames = read_any_frames(path, max_frames)
    except UserError as exc:
        raise InputError(f"{path} cannot be used ({exc}); remove it from the data or replace it") from exc
    except (OSError, ValueError, RuntimeError) as exc:
        raise InputError(f"{path} is not a readable image, DICOM cine or video ({exc}); remove it") from exc
    if not frames:
        raise InputError(f"{path} has no frames; remove it from the data")
    return frames


def iter_features(items: list[Item], clf, max_frames: int, progress: Progress, blobs=None, conn=None
                  ) -> Iterator[tuple[Item, np.ndarray]]:
    """(item, (n, D) features) per loop; the fan is found on the loop's first frame that shows one."""
    from device.echo.screen import find_sector

    for i, it in enumerate(items):
        frames = item_frames(it, max_frames, blobs, conn)
        sector = None
        for fr in frames[:3]:
            sector = find_sector(fr)
            if sector is not None:
                break
        yield it, np.stack([clf.features(fr, sector) for fr in frames])
        progress(0.05 + 0.8 * (i + 1) / len(items), f"features of {i + 1}/{len(items)} loops")


# ------------------------------------------------------------------------------------------------ learning

def current_classifier(model_dir: Path):
    """The view classifier of a model directory, refusing a model without a view head (v1: nothing to re-fit)."""
    from device.echo.classify import ViewClassifier
    from device.inference import model_provider

    model_dir = Path(model_dir)
    clf = ViewClassifier.from_loaded(model_provider().get(model_dir.name, model_dir=model_dir))
    if clf.head is None:
        raise UserError(f"the view model in {model_dir} ({clf.tag}) has no view head on backbone features (a v1 "
                        "model); site learning needs view model v2: update the cart's models")
    return clf


def collect(items: list[Item], clf, max_frames: int, progress: Progress, blobs=None, conn=None
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """features (N, D), views, patients, clip ids (N,) of every frame; checks labels and patients first."""
    if not items:
        raise InputError("no labelled loops were found; label clips (exam page) or give a folder / CSV of loops")
    # cheap checks before the slow part: unknown labels, one view, too few patients
    site_learning.check_data(np.array([i.view for i in items]), np.array([i.patient for i in items]), clf.labels)
    feats, views, patients, clips = [], [], [], []
    for it, f in iter_features(items, clf, max_frames, progress, blobs, conn):
        feats.append(f)
        views += [it.view] * len(f)
        patients += [it.patient] * len(f)
        clips += [it.clip] * len(f)
    return np.concatenate(feats), np.array(views), np.array(patients), np.array(clips)


def _head_key(manifest) -> str:
    from device.echo.classify import HEAD_KEY

    return str(manifest.params.get("view_head", HEAD_KEY))


def write_model_dir(base_dir: Path, out: Path, result: site_learning.LearnResult, seconds: float,
                    source: str) -> dict[str, Any]:
    """out/ = the base model's backbone files (copied, hashes verified) + the new head + manifest; atomically."""
    from device.inference.manifest import load_manifest, sha256_file, verify_file, write_manifest

    base_dir, out = Path(base_dir), Path(out)
    man = load_manifest(base_dir.name, base_dir.parent)
    key = _head_key(man)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(f"{out} already exists and is not empty; choose a new --out directory")
    tmp = out.with_name(f".{out.name}.part")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    raw = copy.deepcopy(man.raw)
    for vkey, var in man.variants.items():
        if vkey == key:
            continue
        for m in var.members:
            verify_file(m, man.name)
            dst = tmp / m.path.relative_to(base_dir)
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(m.path, dst)
    head_name = "view_head.npz"
    result.head.save(tmp / head_name)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    raw["files"][key] = {"path": head_name, "sha256": ""}
    raw.setdefault("params", {})["view_head"] = key
    raw["version"] = f"{man.version}+site.{stamp}"
    raw["training_data"] = (f"{man.training_data} Head re-fitted on the site's labelled loops ({source}): "
                            f"{result.data['frames']} frames of {result.data['clips']} loops, "
                            f"{result.data['patients']} patients, views {result.data['views']}.")
    old, new = result.old.as_dict(), result.new.as_dict()
    held = (f"site held-back patients ({result.data['patients_test']} patients, {new['n_frames']} frames), "
            "never used for fitting or calibration")
    raw["accuracy"] = [{"metric": "view_accuracy_site_heldback", "value": new["accuracy"], "on": held,
                        "model": "this model"},
                       {"metric": "view_accuracy_site_heldback", "value": old["accuracy"], "on": held,
                        "model": f"{man.name} {man.version} (before site learning)"},
                       *list(raw.get("accuracy", []))]
    raw["site_learning"] = {
        "base_model": f"{man.name} {man.version}", "trained_at": stamp, "seconds": round(seconds, 1),
        "data": result.data, "old": old, "new": new, "promote": result.promote, "reason": result.reason,
        "split": {"test": list(result.split.test), "calibration": list(result.split.calib),
                  "fit_patients": len(result.split.fit)},
        "method": "backbone frozen; view head re-fitted (device.echo.view_head.fit_head, calibrate) with replay of "
                  "the views the site did not label",
    }
    write_manifest(tmp, raw)
    raw = json.loads((tmp / "manifest.json").read_text(encoding="utf-8"))
    raw["site_learning"]["files_sha256"] = {p.relative_to(tmp).as_posix(): sha256_file(p)
                                            for p in sorted(tmp.rglob("*")) if p.is_file() and p.name != "manifest.json"}
    write_manifest(tmp, raw)
    if out.exists():
        out.rmdir()
    tmp.rename(out)
    return raw


def learn(items: list[Item], *, data_dir: Path, shipped_models_dir: Path, out: Path, promote: bool = True,
          max_frames: int = FRAMES_PER_LOOP, progress: Progress = _no_progress, blobs=None, conn=None,
          base_dir: Path | None = None, source: str = "") -> dict[str, Any]:
    """The whole run; returns a summary (old/new held-back accuracy, promoted or not, the model directory)."""
    t0 = time.perf_counter()
    base = Path(base_dir) if base_dir else site_models.active_model_dir(data_dir, shipped_models_dir)
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(f"{out} already exists and is not empty; choose a new --out directory")
    progress(0.01, "loading the current view model")
    clf = current_classifier(base)
    feats, views, patients, clips = collect(items, clf, max_frames, progress, blobs, conn)
    progress(0.87, f"fitting the view head on {len(views)} frames")
    res = site_learning.learn(feats, views, patients, clips, clf.head)
    seconds = time.perf_counter() - t0
    progress(0.95, "writing the model directory")
    raw = write_model_dir(base, out, res, seconds, source or "site data")
    model_id = site_models.promote(data_dir, out) if (promote and res.promote) else None
    progress(1.0, "promoted" if model_id else "done")
    return {"model_dir": str(out), "model": f"{raw['name']} {raw['version']}", "base_model": str(base),
            "old_accuracy": res.old.accuracy, "new_accuracy": res.new.accuracy, "better": res.promote,
            "promoted": model_id is not None, "model_id": model_id, "reason": res.reason, "seconds": round(seconds, 1),
            "data": res.data, "old": res.old.as_dict(), "new": res.new.as_dict()}


def handle_job(payload: dict, progress) -> dict:
    """Job 'echo_learn' (device/jobs registry): learn from the store's confirmed clips; the admin promotes.

    The model goes to <data_dir>/site_models/candidates/job-<id>; a rerun of the same job (worker killed) starts
    that directory afresh, so the job takes effect once.
    """
    store, settings = progress.store, progress.settings
    out = Path(settings.data_dir) / site_models.ROOT / "candidates" / f"job-{progress.job_id}"
    if out.exists():
        shutil.rmtree(out)
    items = store_items(store.conn)
    return learn(items, data_dir=settings.data_dir, shipped_models_dir=settings.models_dir, out=out, promote=False,
                 max_frames=int(payload.get("frames_per_loop", FRAMES_PER_LOOP)), progress=progress,
                 blobs=store.blobs, conn=store.conn, source="confirmed clips in the cart's store")


# ------------------------------------------------------------------------------------------------ admin page helpers

def latest_job(conn):
    """The newest site-learning job (or None)."""
    from device.jobs import get_job

    r = conn.execute("SELECT id FROM jobs WHERE kind = ? ORDER BY id DESC LIMIT 1", (LEARN_KIND,)).fetchone()
    return get_job(conn, int(r[0])) if r else None


def start_job(conn) -> int:
    """Queue a learn-from-confirmed-clips job (one at a time: a queued or running one is returned instead)."""
    from device.jobs import enqueue

    return enqueue(conn, LEARN_KIND, {"frames_per_loop": FRAMES_PER_LOOP}, dedupe_key=LEARN_KIND)


def store_readiness(conn) -> dict[str, Any]:
    """What the confirmed clips hold (clips, patients, per-view counts) and, when they cannot teach yet, why."""
    from device.echo.site_learning import check_data
    from device.store.clip_labels import LABEL_CHOICES

    items = store_items(conn)
    views: dict[str, int] = {}
    for it in items:
        views[it.view] = views.get(it.view, 0) + 1
    problem = None
    try:
        check_data(np.array([i.view for i in items], dtype=str), np.array([i.patient for i in items], dtype=str),
                   LABEL_CHOICES)
    except InputError as exc:
        problem = str(exc)
    return {"clips": len(items), "patients": len({i.patient for i in items}), "views": dict(sorted(views.items())),
            "problem": problem}


def model_status(data_dir: Path, shipped_models_dir: Path) -> dict[str, Any]:
    """The active view model: name and version, shipped or site-trained, its measured site accuracy, rollback."""
    from device.inference.manifest import load_manifest

    a = site_models.read_pointer(data_dir)
    d = site_models.active_model_dir(data_dir, shipped_models_dir)
    m = load_manifest(d.name, d.parent)
    sl = m.raw.get("site_learning", {})
    return {"model": f"{m.name} {m.version}", "model_dir": str(d), "site_trained": a.active is not None,
            "learnable": _head_key(m) in m.variants, "can_rollback": a.can_rollback, "previous": a.previous or ("shipped" if a.can_rollback else None),
            "site_accuracy_new": sl.get("new", {}).get("accuracy"),
            "site_accuracy_old": sl.get("old", {}).get("accuracy"), "site_data": sl.get("data")}


def rollback(data_dir: Path) -> site_models.Active:
    """Swap the active and the previous view model (the admin page's rollback button)."""
    return site_models.rollback(data_dir)


def promote_job_result(conn, data_dir: Path, shipped_models_dir: Path, job_id: int) -> str:
    """Promote the model a finished learn job wrote, only when it beat the model that was active then."""
    from device.jobs import get_job

    job = get_job(conn, job_id)
    if job.kind != LEARN_KIND or job.state != "done" or not job.result:
        raise UserError("that site-learning run has not finished; wait for it, then promote")
    if not job.result.get("better"):
        raise UserError("the new model was not better on the held-back patients; it cannot be promoted")
    if str(site_models.active_model_dir(data_dir, shipped_models_dir)) != job.result.get("base_model"):
        raise UserError("the active model changed since this run; learn again so the comparison is with it")
    return site_models.promote(data_dir, Path(job.result["model_dir"]))
