"""Recipe: patent 001's network ``lv_p001`` (+ leave-one-patient-out twins ``lv_p001_lopo_<patient>``).

    python -m models.training.lv_patent001 [--steps 200] [--budget-s 1500] [--only NAMES]

Network (models/training/lv_patent_net.Patent001): dense U-Net with dilated expansion blocks (rates 1, 3, 5; 4 down
and 4 up stages, final dense block) -> convolution stage (5 layers on image + probabilities) -> two bidirectional
LSTMs over the cine frames: one regresses the 11 indices per frame (6 wall thicknesses, 3 dimensions, cavity and
myocardium area: L = M + N + 2), one classifies the phase per frame (systole / diastole).
Data: every contoured Sunnybrook slice position is one cine (its 20 phases; the same patients and images as lv_seg):
the two contoured phases give masks (segmentation loss; ES has an endocardial contour only: "not cavity" outside)
and the 11 indices of the expert masks (regression loss, masked where unknown); the expert ED (larger contoured
cavity) and ES give the phase of every frame, (ED, ES] systole (classification loss). Inputs: equalised frames, one
canonical crop per cine (device.lv.variants.canonical_matrix, 120 mm at 64 x 64, anterior up), augmented per cine
(centre 4 mm, turn +-15 deg, scale 0.85-1.18 with the targets scaled, gamma, noise); each step trains on a cyclic
window of 12 of the 20 frames that holds both contoured phases, 2 cines per step.
Wall time: ``--budget-s`` for the run, split over the groups; one thread; caches under var/cache/lv_patent001/.
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
N_AUG = 10
WINDOW = 12
VERSION = "1.0.0"
CACHE = Path(__file__).resolve().parents[2] / "var" / "cache" / "lv_patent001"


def _torch():
    import torch
    torch.set_num_threads(1)
    return torch


def phase_labels(n: int, ed: int, es: int) -> np.ndarray:
    """1 = systole for frames in (ED, ES] (cyclic), else 0 = diastole (the phase module's rule)."""
    return np.array([1 if 0 < (i - ed) % n <= (es - ed) % n else 0 for i in range(n)], np.int64)


def make_bank(items: list[dict], seed: int) -> dict:
    from device.lv.indices import SaxOrientation
    from device.lv.preprocess import equalise
    from device.lv.variants import canonical_crop, canonical_matrix
    from models.training.lv_patent002 import targets_of
    key = "_".join(f"{it['patient']}{it['loc']}" for it in items)
    path = CACHE / f"bank_{hashlib.sha1(key.encode()).hexdigest()[:12]}_{SIZE}_{N_AUG}_{seed}.npz"
    if path.exists():
        z = np.load(path)
        return {k: z[k] for k in z.files}
    rng = np.random.default_rng(seed)
    T = 20
    X, Y, M, P = [], [], [], []
    for it in items:
        eq = np.stack([equalise(f) for f in it["frames"]])
        s_ed = it["labelled"][it["ed"]]
        orient = SaxOrientation.from_dicom(s_ed.orientation)
        r, c = np.nonzero(s_ed.label == 1)
        n = len(eq)
        for a in range(N_AUG):
            first = a == 0
            jit = np.zeros(2) if first else rng.normal(0, 4.0, 2) / np.array(s_ed.spacing_rc[::-1])
            centre = (float(c.mean() + jit[0]), float(r.mean() + jit[1]))
            rot = 0.0 if first else float(rng.uniform(-15, 15))
            scale = 1.0 if first else float(np.exp(rng.uniform(np.log(0.85), np.log(1.18))))
            m = canonical_matrix(centre, s_ed.spacing_rc, orient, SIZE, SPAN_MM, rot, scale)
            m2 = canonical_matrix(centre, s_ed.spacing_rc, orient, 2 * SIZE, SPAN_MM, rot, scale)
            idx = [(i * n) // T for i in range(T)] if n != T else list(range(T))
            x = np.stack([canonical_crop(eq[i], m, SIZE) for i in idx])
            y = np.full((T, 11), np.nan)
            masks = np.full((T, SIZE, SIZE), 254, np.uint8)      # 254 = frame without a mask
            for k, i in enumerate(idx):
                if i in it["labelled"]:
                    s = it["labelled"][i]
                    masks[k] = canonical_crop(s.label, m, SIZE, nearest=True)
                    y[k] = targets_of(canonical_crop(s.label, m2, 2 * SIZE, nearest=True), s.has_myo,
                                      SPAN_MM / (2 * SIZE))
            X.append(x)
            Y.append(y)
            M.append(masks)
            P.append(phase_labels(T, idx.index(it["ed"]) if it["ed"] in idx else 0,
                                  idx.index(it["es"]) if it["es"] in idx else 0))
    bank = {"x": np.stack(X), "y": np.stack(Y), "m": np.stack(M), "p": np.stack(P),
            "item": np.repeat(np.arange(len(items)), N_AUG)}
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **bank)
    return bank


def seg_loss(logits, target):
    """Per-pixel CE on known pixels (0/1/2), -log(1 - p_cavity) where only "not cavity" is known (255), none on
    frames without a mask (254); plus soft Dice of cavity and myocardium."""
    import torch
    import torch.nn.functional as F
    logp = F.log_softmax(logits, 1)
    has = target != 254
    known = target <= 2
    t = torch.where(known, target, torch.zeros_like(target)).long()
    ce = F.nll_loss(logp, t, reduction="none")
    unk = -torch.log((1 - logp[:, 1].exp()).clamp_min(1e-6))
    pix = torch.where(known, ce, unk)[has].mean()
    probs = logp.exp()
    dice = 0.0
    for c in (1, 2):
        tc = ((t == c) & known).float()
        pc = probs[:, c] * known.float()
        ok = tc.sum((1, 2)) > 0
        if ok.any():
            dice = dice + (1 - (2 * (pc * tc).sum((1, 2))[ok] + 1) / (pc.sum((1, 2))[ok] + tc.sum((1, 2))[ok] + 1)).mean()
    return pix + 0.5 * dice


def _window(masks: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    """Frame numbers of a random cyclic window of ``length`` frames holding both contoured phases (training only:
    fewer frames per step; the LSTMs see whole cines at run time)."""
    n = len(masks)
    lab = [i for i in range(n) if (masks[i] != 254).any()]
    starts = [s for s in range(n) if all((i - s) % n < length for i in lab)]
    s = int(starts[rng.integers(len(starts))]) if starts else 0
    return (s + np.arange(min(length, n))) % n


def train_model(bank: dict, steps: int, budget_s: float, seed: int, name: str):
    torch = _torch()
    import torch.nn.functional as F
    from models.training.lv_patent_net import Patent001
    y = bank["y"].reshape(-1, 11)
    mean, std = np.nanmean(y, 0), np.nanstd(y, 0) + 1e-6
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = Patent001(8, 32, mean, std)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps, pct_start=0.15)
    mt, st = torch.as_tensor(mean, dtype=torch.float32), torch.as_tensor(std, dtype=torch.float32)
    t0, run, done = time.time(), 0.0, 0
    model.train()
    for step in range(steps):
        if time.time() - t0 > budget_s:
            print(f"[{name}] wall-time budget reached at step {step}", flush=True)
            break
        b = rng.integers(len(bank["x"]), size=2)
        win = np.stack([_window(bank["m"][k], WINDOW, rng) for k in b])         # (2, WINDOW) frame numbers
        x = np.stack([bank["x"][k][w] for k, w in zip(b, win)]).astype(np.float32) / 255.0
        x = np.clip(x ** rng.uniform(0.7, 1.4, (2, 1, 1, 1)) + rng.normal(0, 0.02, x.shape), 0, 1)
        xt = torch.from_numpy(((x - 0.5) / 0.5).astype(np.float32))[:, :, None]
        seg_logits, reg, cls = model.parts(xt)
        mt_ = torch.from_numpy(np.stack([bank["m"][k][w] for k, w in zip(b, win)]).astype(np.int64))
        mt_ = mt_.reshape(-1, SIZE, SIZE)
        has = (mt_ != 254).flatten(1).any(1).nonzero().squeeze(1)
        loss = seg_loss(seg_logits.reshape(-1, 3, SIZE, SIZE)[has], mt_[has])
        yt = torch.from_numpy(np.stack([bank["y"][k][w] for k, w in zip(b, win)]).astype(np.float32))
        known = torch.isfinite(yt)
        target = torch.where(known, (yt - mt) / st, torch.zeros_like(yt))
        err = F.smooth_l1_loss(reg, target, reduction="none", beta=0.5)
        loss = loss + (err * known).sum() / known.sum().clamp_min(1)
        loss = loss + 0.5 * F.cross_entropy(cls.reshape(-1, 2), torch.from_numpy(np.stack([bank["p"][k][w] for k, w in zip(b, win)])).reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        done = step + 1
        run = 0.95 * run + 0.05 * loss.item() if step else loss.item()
        if done % 25 == 0:
            print(f"[{name}] step {done}/{steps} loss {run:.4f} ({time.time() - t0:.0f} s)", flush=True)
    model.eval()
    return model, done


def export(model, out_dir: Path, stem: str, calib: np.ndarray) -> list[str]:
    """fp32 ONNX, then int8 (QDQ convolutions; the LSTMs stay float). Returns the variant keys written."""
    torch = _torch()
    out_dir.mkdir(parents=True, exist_ok=True)
    fp32 = out_dir / f"{stem}.fp32.onnx"
    torch.onnx.export(model, torch.zeros(1, 20, 1, SIZE, SIZE), str(fp32), input_names=["cine"],
                      output_names=["probs", "indices", "phase"],
                      dynamic_axes={"cine": {1: "frames"}, "probs": {1: "frames"}, "indices": {1: "frames"},
                                    "phase": {1: "frames"}}, opset_version=17, dynamo=False)
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter([{"cine": ((c.astype(np.float32) / 255 - 0.5) / 0.5)[None, :, None]} for c in calib])

        def get_next(self):
            return next(self.items, None)

    try:
        quantize_static(str(fp32), str(out_dir / f"{stem}.int8.onnx"), Reader(), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True,
                        op_types_to_quantize=["Conv"])
        return ["int8", "fp32"]
    except Exception as exc:   # noqa: BLE001 - an int8 failure is reported, the fp32 model still ships
        print(f"[{stem}] int8 quantisation failed: {exc!r}", flush=True)
        return ["fp32"]


def write_manifest_for(name: str, patients: list[str], info: dict, accuracy: list[dict], intended: str) -> None:
    from device.inference.manifest import write_manifest
    from device.lv.variants import INDEX_NAMES
    from device.paths import MODELS_DIR
    d = MODELS_DIR / name
    files = {k: {"path": f"{name}.{k}.onnx"} for k in ("int8", "fp32") if (d / f"{name}.{k}.onnx").exists()}
    write_manifest(d, {
        "name": name, "version": VERSION, "task": "segmentation+regression+phase",
        "recipe": "models/training/lv_patent001.py",
        "inputs": [{"name": "cine", "shape": [1, "frames", 1, SIZE, SIZE], "dtype": "float32",
                    "normalisation": "equalised grey (patent 002), canonical crop (device.lv.variants."
                                     "canonical_matrix), (x/255-0.5)/0.5"}],
        "outputs": [{"name": "probs", "shape": [1, "frames", 3, SIZE, SIZE], "dtype": "float32"},
                    {"name": "indices", "shape": [1, "frames", 11], "dtype": "float32"},
                    {"name": "phase", "shape": [1, "frames", 2], "dtype": "float32"}],
        "labels": ["background", "lv_cavity", "lv_myocardium"] + list(INDEX_NAMES) + ["diastole", "systole"],
        "created": dt.date.today().isoformat(), "intended_use": intended, "files": files,
        "default": "int8" if "int8" in files else "fp32",
        "params": {"input_size": SIZE, "span_mm": SPAN_MM, "augmentations_per_cine": N_AUG,
                   "training_steps": info.get("steps"), "int8_note": "convolutions int8 (QDQ); LSTMs float",
                   "architecture": "dense U-Net (4 down: dense + dilated 1/3/5 + max-pool; 4 up with skips; final "
                                   "dense) -> 5-layer conv stage -> 2 bidirectional LSTMs (11 indices; phase)"},
        "training_data": f"Sunnybrook cine SAX MR of {', '.join(patients)}: {info.get('n_cines', '?')} contoured "
                         "slice positions (20 phases each; masks on the ED and ES phases)",
        "accuracy": accuracy})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--budget-s", type=float, default=1500.0)
    ap.add_argument("--only", default=None, help="comma-separated groups (e.g. lv_p001_lopo_SCD0000101,lv_p001)")
    ap.add_argument("--manifests-only", action="store_true")
    args = ap.parse_args(argv)
    from device.paths import MODELS_DIR, shared_data_dir
    data = shared_data_dir()
    root = data / "cardiac-mri-sunnybrook" if data and (data / "cardiac-mri-sunnybrook").is_dir() else None
    if root is None:
        print("lv_patent001: no Sunnybrook data (../shared/data); nothing to train, the committed models stay")
        return 0
    from device.eval.lv_patent001 import cine_items
    from device.lv.sunnybrook import patients
    pats = sorted(patients(root))
    groups = [(f"lv_p001_lopo_{p}", [q for q in pats if q != p]) for p in pats] + [("lv_p001", pats)]
    if args.only:
        groups = [g for g in groups if g[0] in args.only.split(",")]
    info_path = CACHE / "info.json"
    infos = json.loads(info_path.read_text()) if info_path.exists() else {}
    if not args.manifests_only:
        for gi, (name, tp) in enumerate(groups):
            items = [it for p in tp for it in cine_items(root, p)]
            bank = make_bank(items, seed=1 + gi)
            model, done = train_model(bank, args.steps, args.budget_s / len(groups), 7 + gi, name)
            rng = np.random.default_rng(gi)
            written = export(model, MODELS_DIR / name, name, bank["x"][rng.choice(len(bank["x"]), 8, replace=False)])
            if "lopo" in name and "int8" in written:      # evaluation twins keep only the int8 they are scored with
                (MODELS_DIR / name / f"{name}.fp32.onnx").unlink()
            infos[name] = {"steps": done, "n_cines": len(items)}
            CACHE.mkdir(parents=True, exist_ok=True)
            info_path.write_text(json.dumps(infos, indent=1))
    for name, tp in groups:
        if not any((MODELS_DIR / name / f"{name}.{k}.onnx").exists() for k in ("int8", "fp32")):
            continue
        intended = (f"evaluation only: scores Sunnybrook patient {name.rsplit('_', 1)[1]}, which it never saw"
                    if "lopo" in name else "patent 001's network on a short-axis MR cine: masks, 11 indices and "
                    "phase per frame; a variant beside the U-Net; not for diagnostic use without review")
        acc: list[dict] = []
        if name == "lv_p001":
            from device.eval.lv_patent001 import lopo_accuracy
            acc = lopo_accuracy(root.parent)
        write_manifest_for(name, tp, infos.get(name, {}), acc, intended)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
