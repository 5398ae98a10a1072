"""Recipe: patent 002's direct index regression ``lv_dla`` (+ leave-one-patient-out twins ``lv_dla_lopo_<patient>``).

    python -m models.training.lv_patent002 [--steps 450] [--budget-s 1500] [--manifests-only]

Data: the Sunnybrook cine SAX MR images with expert contours (the same patients and images as ``lv_seg``).
Targets: the 11 LVQuan indices (device.lv.indices) of the expert masks; images with an endocardial contour only
(no epicardial one) train the cavity area alone (the other targets are masked), an open ring masks its RWT.
Inputs: the equalised image (patent 002) cut by ``device.lv.variants.canonical_matrix`` (120 mm, anterior up,
septum left) at 64 x 64 (1.9 mm/px); augmentation = centre jitter (4 mm), turn (+-15 deg), scale (0.85-1.18, targets scaled
with it: the indices are measured on the warped mask at twice the resolution), gamma and noise.
Folds (patent 002): K-means (K = 5) on [32-bin grey histogram + 11 indices] of the training images, each cluster
dealt evenly over the folds (models/training/lv_seg_data.kmeans_folds); member f trains on the other 4 folds.
Prediction = mean of the 5 members (manifest variant ``ens_int8``); ``f0_int8`` is member 0 alone.
For each patient P, ``lv_dla_lopo_P`` is the same recipe without P (scores P only, device/eval/lv_patent.py);
``lv_dla`` trains on all 3 patients. Wall-time: ``--budget-s`` for the whole run; each member stops at
``--steps`` or at its share of the budget. One thread, run under ``nice``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import time
from pathlib import Path

import numpy as np

SIZE = 64
SPAN_MM = 120.0
N_FOLDS = 5
N_AUG = 48
BASE = 8
VERSION = "1.0.0"
CACHE = Path(__file__).resolve().parents[2] / "var" / "cache" / "lv_patent002"


def _torch():
    import torch
    torch.set_num_threads(1)
    return torch


def targets_of(label2x: np.ndarray, has_myo: bool, spacing2x: float) -> np.ndarray:
    """11 indices (NaN where unknown) of a canonical 2x label crop measured at the nominal 2x spacing."""
    from device.errors import InputError
    from device.lv.indices import sax_indices
    y = np.full(11, np.nan)
    y[0] = float((label2x == 1).sum()) * spacing2x ** 2
    if has_myo:
        try:
            si = sax_indices(np.where(label2x == 255, 0, label2x), spacing2x)
            y[1:] = [si.myo_area_mm2, *si.dims_mm, *si.rwt_mm]
        except InputError:
            pass
    return y


def make_bank(slices, seed: int = 0) -> dict:
    """N_AUG canonical crops per slice (uint8 80 x 80) with their targets; cached on disk."""
    from device.lv.indices import SaxOrientation
    from device.lv.preprocess import equalise
    from device.lv.variants import canonical_crop, canonical_matrix
    key = "_".join(sorted(f"{s.patient}-{s.dicom.stem}" for s in slices))
    path = CACHE / f"bank_{hashlib.sha1(key.encode()).hexdigest()[:12]}_{SIZE}_{N_AUG}_{seed}.npz"
    if path.exists():
        z = np.load(path)
        return {k: z[k] for k in z.files}
    rng = np.random.default_rng(seed)
    xs, ys, idx = [], [], []
    for i, s in enumerate(slices):
        eq = equalise(s.image)
        orient = SaxOrientation.from_dicom(s.orientation)
        r, c = np.nonzero(s.label == 1)
        for a in range(N_AUG):
            first = a == 0
            jit = np.zeros(2) if first else rng.normal(0, 4.0, 2) / np.array(s.spacing_rc[::-1])
            centre = (float(c.mean() + jit[0]), float(r.mean() + jit[1]))
            rot = 0.0 if first else float(rng.uniform(-15, 15))
            scale = 1.0 if first else float(np.exp(rng.uniform(np.log(0.85), np.log(1.18))))
            m = canonical_matrix(centre, s.spacing_rc, orient, SIZE, SPAN_MM, rot, scale)
            m2 = canonical_matrix(centre, s.spacing_rc, orient, 2 * SIZE, SPAN_MM, rot, scale)
            xs.append(canonical_crop(eq, m, SIZE))
            lab2 = canonical_crop(s.label, m2, 2 * SIZE, nearest=True)
            ys.append(targets_of(lab2, s.has_myo, SPAN_MM / (2 * SIZE)))
            idx.append(i)
    bank = {"x": np.stack(xs), "y": np.stack(ys), "slice": np.asarray(idx)}
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **bank)
    return bank


def train_member(bank: dict, rows: np.ndarray, steps: int, budget_s: float, seed: int, name: str):
    torch = _torch()
    from models.training.lv_patent_net import DLAReg
    y = bank["y"][rows]
    mean, std = np.nanmean(y, 0), np.nanstd(y, 0) + 1e-6
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = DLAReg(BASE, 11, mean, std)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps, pct_start=0.15)
    mt, st = torch.as_tensor(mean, dtype=torch.float32), torch.as_tensor(std, dtype=torch.float32)
    t0, run = time.time(), 0.0
    model.train()
    done = 0
    for step in range(steps):
        if time.time() - t0 > budget_s:
            print(f"[{name}] wall-time budget reached at step {step}", flush=True)
            break
        b = rows[rng.integers(len(rows), size=24)]
        x = bank["x"][b].astype(np.float32) / 255.0
        g = rng.uniform(0.7, 1.4, (len(b), 1, 1))
        x = np.clip(x ** g + rng.normal(0, 1, x.shape) * rng.uniform(0, 0.03, (len(b), 1, 1)), 0, 1)
        xt = torch.from_numpy(((x - 0.5) / 0.5).astype(np.float32))[:, None]
        yt = torch.from_numpy(bank["y"][b].astype(np.float32))
        known = torch.isfinite(yt)
        target = torch.where(known, (yt - mt) / st, torch.zeros_like(yt))
        err = torch.nn.functional.smooth_l1_loss(model.standardised(xt), target, reduction="none", beta=0.5)
        loss = (err * known).sum() / known.sum().clamp_min(1)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        done = step + 1
        run = 0.95 * run + 0.05 * loss.item() if step else loss.item()
        if done % 100 == 0:
            print(f"[{name}] step {done}/{steps} loss {run:.4f} ({time.time() - t0:.0f} s)", flush=True)
    model.eval()
    return model, done


def float_tail(int8_path: Path, mean: np.ndarray, std: np.ndarray) -> None:
    """Keep the de-standardisation (x * std + mean) in float in a QDQ int8 graph.

    A per-tensor uint8 activation scale over outputs from ~5 mm to ~4000 mm2 (and int8 std/mean initialisers)
    rounds the wall thicknesses to nothing; the convolutions and dense layers stay int8."""
    import onnx
    from onnx import numpy_helper
    m = onnx.load(str(int8_path))
    g = m.graph
    prod = {o: n for n in g.node for o in n.output}
    mul = next(n for n in g.node if n.op_type == "Mul" and any("std" in i for i in n.input))
    add = next(n for n in g.node if n.op_type == "Add" and any("mean" in i for i in n.input))

    def before_qdq(t: str) -> str:   # the float tensor a DequantizeLinear(QuantizeLinear(x)) chain started from
        n = prod.get(t)
        if n is not None and n.op_type == "DequantizeLinear" and prod.get(n.input[0]) is not None \
                and prod[n.input[0]].op_type == "QuantizeLinear":
            return prod[n.input[0]].input[0]
        return t

    x = before_qdq(mul.input[0] if "std" not in mul.input[0] else mul.input[1])
    g.initializer.extend([numpy_helper.from_array(np.asarray(std, np.float32), "std_float"),
                          numpy_helper.from_array(np.asarray(mean, np.float32), "mean_float")])
    mul.ClearField("input")
    mul.input.extend([x, "std_float"])
    add.ClearField("input")
    add.input.extend([mul.output[0], "mean_float"])
    old_out = add.output[0]
    for n in g.node:                    # the output's own Q/DQ pair: its DequantizeLinear made "indices"
        if n is not add and "indices" in n.output:
            n.output[list(n.output).index("indices")] = old_out + "_unused"
    add.ClearField("output")
    add.output.extend(["indices"])
    keep: list = []
    needed = {o.name for o in g.output}
    for n in reversed(list(g.node)):    # drop nodes whose outputs nobody reads any more
        if n is add or n is mul or any(o in needed for o in n.output):
            keep.append(n)
            needed.update(n.input)
    g.ClearField("node")
    g.node.extend(reversed(keep))
    used = {i for n in g.node for i in n.input}
    inits = [t for t in g.initializer if t.name in used]
    g.ClearField("initializer")
    g.initializer.extend(inits)
    onnx.checker.check_model(m)
    onnx.save(m, str(int8_path))


def export(model, out_dir: Path, stem: str, calib_u8: np.ndarray, keep_fp32: bool = False) -> None:
    torch = _torch()
    from models.training.lv_seg_net import quantize_int8
    out_dir.mkdir(parents=True, exist_ok=True)
    fp32 = out_dir / f"{stem}.fp32.onnx"
    torch.onnx.export(model, torch.zeros(1, 1, SIZE, SIZE), str(fp32), input_names=["image"],
                      output_names=["indices"], dynamic_axes={"image": {0: "batch"}, "indices": {0: "batch"}},
                      opset_version=17, dynamo=False)
    quantize_int8(fp32, out_dir / f"{stem}.int8.onnx", calib_u8)
    float_tail(out_dir / f"{stem}.int8.onnx", model.mean.numpy(), model.std.numpy())
    if not keep_fp32:
        fp32.unlink()


def member_stats(name: str, slices, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(mean, std) of each member's training targets, recomputed from the cached bank and the same folds."""
    from models.training.lv_seg_data import kmeans_folds
    bank = make_bank(slices, seed=seed)
    row_fold = np.asarray(kmeans_folds(slices, N_FOLDS, seed=seed))[bank["slice"]]
    out = []
    for f in range(N_FOLDS):
        y = bank["y"][row_fold != f]
        out.append((np.nanmean(y, 0), np.nanstd(y, 0) + 1e-6))
    return out


def val_mae(model, bank: dict, rows: np.ndarray) -> list[float]:
    """MAE per index on the un-augmented crops (aug 0) of the given rows (the member's held-out fold)."""
    torch = _torch()
    first = rows[(rows % N_AUG) == 0]
    x = torch.from_numpy((bank["x"][first].astype(np.float32) / 255.0 - 0.5) / 0.5)[:, None]
    with torch.no_grad():
        p = model(x).numpy()
    return [float(np.nanmean(np.abs(p[:, k] - bank["y"][first, k]))) for k in range(11)]


def train_group(name: str, slices, seed: int, steps: int, budget_s: float) -> dict:
    from device.paths import MODELS_DIR
    from models.training.lv_seg_data import kmeans_folds
    bank = make_bank(slices, seed=seed)
    folds = np.asarray(kmeans_folds(slices, N_FOLDS, seed=seed))
    row_fold = folds[bank["slice"]]
    out = MODELS_DIR / name
    rng = np.random.default_rng(seed)
    calib = bank["x"][rng.choice(len(bank["x"]), 48, replace=False)]
    cv, steps_done = [], []
    for f in range(N_FOLDS):
        tr, va = np.nonzero(row_fold != f)[0], np.nonzero(row_fold == f)[0]
        model, done = train_member(bank, tr, steps, budget_s / N_FOLDS, seed * 10 + f, f"{name}/f{f}")
        cv.append(val_mae(model, bank, va))
        steps_done.append(done)
        export(model, out, f"{name}.f{f}", calib)
    (out / "folds.json").write_text(json.dumps(
        {"kmeans_descriptor": "32-bin grey histogram of the equalised slice within 60 mm of the LV + 11 indices",
         "folds": {f"{s.patient}/{s.dicom.name}": int(k) for s, k in zip(slices, folds)}}, indent=1))
    return {"cv_mae": np.nanmean(np.asarray(cv), 0).tolist(), "steps": steps_done, "n_images": len(slices)}


def write_manifest_for(name: str, patients: list[str], info: dict, accuracy: list[dict], intended: str) -> None:
    from device.inference.manifest import write_manifest
    from device.lv.variants import INDEX_NAMES
    from device.paths import MODELS_DIR
    members = [{"path": f"{name}.f{f}.int8.onnx"} for f in range(N_FOLDS)]
    cv = info.get("cv_mae")
    acc = list(accuracy)
    if cv:
        acc += [{"metric": f"{INDEX_NAMES[k]} MAE (held-out K-means fold, mean of the 5 members)",
                 "value": round(v, 2), "on": f"the training patients' own images ({', '.join(patients)}): "
                 "cross-validation inside the training set, not a new-patient figure"} for k, v in enumerate(cv)]
    write_manifest(MODELS_DIR / name, {
        "name": name, "version": VERSION, "task": "regression", "recipe": "models/training/lv_patent002.py",
        "inputs": [{"name": "image", "shape": ["batch", 1, SIZE, SIZE], "dtype": "float32",
                    "normalisation": "grey, 0.5-99.5 percentile window, histogram equalisation (patent 002), "
                                     "canonical crop (device.lv.variants.canonical_matrix), (x/255-0.5)/0.5"}],
        "outputs": [{"name": "indices", "shape": ["batch", 11], "dtype": "float32"}],
        "labels": list(INDEX_NAMES), "created": dt.date.today().isoformat(), "intended_use": intended,
        "files": {"ens_int8": {"members": members, "combine": "mean"}, "f0_int8": {"path": members[0]["path"]}},
        "default": "ens_int8",
        "params": {"input_size": SIZE, "span_mm": SPAN_MM, "folds": N_FOLDS, "augmentations_per_image": N_AUG,
                   "training_steps": info.get("steps"), "architecture": "DLA-style: stem + HDA trees (levels 1, 2, 1) "
                   "+ IDA of pooled levels, base 8"},
        "training_data": f"Sunnybrook cine SAX MR with expert contours of {', '.join(patients)} "
                         f"({info.get('n_images', '?')} contoured images)",
        "accuracy": acc})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--budget-s", type=float, default=1500.0, help="wall-time budget for the whole run")
    ap.add_argument("--only", default=None, help="comma-separated groups to train (e.g. lv_dla_lopo_SCD0000101,lv_dla)")
    ap.add_argument("--manifests-only", action="store_true")
    ap.add_argument("--fix-tail", action="store_true",
                    help="re-float the de-standardisation of int8 files made before float_tail existed")
    args = ap.parse_args(argv)
    from device.paths import MODELS_DIR, shared_data_dir
    data = shared_data_dir()
    root = data / "cardiac-mri-sunnybrook" if data and (data / "cardiac-mri-sunnybrook").is_dir() else None
    if root is None:
        print("lv_patent002: no Sunnybrook data (../shared/data); nothing to train, the committed models stay")
        return 0
    from device.lv.sunnybrook import load_patient, patients
    pats = sorted(patients(root))
    groups = [(f"lv_dla_lopo_{p}", [q for q in pats if q != p]) for p in pats] + [("lv_dla", pats)]
    if args.only:
        groups = [g for g in groups if g[0] in args.only.split(",")]
    info_path = CACHE / "info.json"
    infos = json.loads(info_path.read_text()) if info_path.exists() else {}
    # seeds: 1 + the twin's position among the patients; the shipped model 1 (as the committed files were made)
    seed_of = {f"lv_dla_lopo_{p}": 1 + k for k, p in enumerate(pats)} | {"lv_dla": 1}
    if args.fix_tail:
        for name, tp in groups:
            slices = [s for p in tp for s in load_patient(root, p)]
            for f, (mean, std) in enumerate(member_stats(name, slices, seed_of[name])):
                float_tail(MODELS_DIR / name / f"{name}.f{f}.int8.onnx", mean, std)
    if not args.manifests_only and not args.fix_tail:
        for name, tp in groups:
            slices = [s for p in tp for s in load_patient(root, p)]
            infos[name] = train_group(name, slices, seed_of[name], args.steps, args.budget_s / len(groups))
            CACHE.mkdir(parents=True, exist_ok=True)
            info_path.write_text(json.dumps(infos, indent=1))
    for name, tp in groups:
        if not (MODELS_DIR / name / f"{name}.f0.int8.onnx").exists():
            continue
        intended = (f"evaluation only: scores Sunnybrook patient {name.rsplit('_', 1)[1]}, which it never saw"
                    if "lopo" in name else "the 11 LVQuan indices of a short-axis MR frame straight from the image "
                    "(patent 002), beside the U-Net's segment-then-measure; not for diagnostic use without review")
        acc: list[dict] = []
        if name == "lv_dla":
            from device.eval.lv_patent import lopo_accuracy
            acc = lopo_accuracy(root.parent)
        write_manifest_for(name, tp, infos.get(name, {}), acc, intended)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
