"""Fine-tune the last EfficientNet-Lite0 blocks of the echo view backbone on the simulator (optional recipe step).

The frozen ImageNet features separate the four apical views poorly even on the simulator (2.1.0 recall A4C 0.55,
A5C 0.40, A3C 0.35, A2C 0.68). This step trains blocks[K:], the head conv and a temporary linear classifier on the
two descriptors the model exports (GAP 1280 + last block 2x2), so the features can learn chamber layout. To fit two
shared cores the activations entering block K are computed once (ONNX Runtime) and cached under
var/cache/echo_view_v2/ft/ (fp16); batch-norm statistics stay frozen (eval mode), only weights train (torch, one
thread, fixed wall-time budget, class-balanced batches of 64, block learning rate warmed up after the classifier).

Real-looking degradations (the real screens have finer texture, thinner fainter walls): every training crop is
cached twice, once as rendered and once degraded at random (Gaussian blur, gamma, grey erosion of bright walls,
down-up resampling, speckle-like noise), so the blocks see both and must name the view from the layout.

Training data: the simulator train split only (never a real frame). The best state is chosen by the temporary
classifier's accuracy on the simulator calibration split. After this step the recipe goes on as without it
(projection, numpy heads, leave-one-clip-out real heads, export), on features of the fine-tuned backbone.
Training-time only (imports torch).

Measured (2026-12-04 night, `--finetune-from-block 12 --finetune-minutes 25`, 965 steps on a box at load ~20):
simulator test accuracy rose (int8 0.747 -> 0.805, apical recall A3C 0.35 -> 0.73) but the real frames,
leave-one-clip-out, got worse (mean per-clip 67 % -> 24 %, frames 8 % -> 7 %); the step is therefore OFF in the
shipped recipe (EVALUATION.md, echo view, "Fine-tuning the last backbone blocks").
`--finetune-from-block 15` (12 min, exploratory) was worse still on the real frames (3 %, per-clip 13 %).
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np

DEGRADED_COPIES = 1


def degrade(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One randomly degraded copy of each (S, S) uint8 crop (blur, gamma, erosion, resampling, noise)."""
    from scipy import ndimage

    out = np.empty_like(x)
    s = x.shape[-1]
    for i, im in enumerate(x.astype(np.float32) / 255.0):
        if rng.random() < 0.6:
            im = ndimage.gaussian_filter(im, rng.uniform(0.5, 1.8))
        if rng.random() < 0.35:
            im = ndimage.grey_erosion(im, size=(2, 2) if rng.random() < 0.6 else (3, 3))
        if rng.random() < 0.4:
            f = rng.uniform(0.45, 0.8)
            small = ndimage.zoom(im, f, order=1)
            im = ndimage.zoom(small, s / small.shape[0], order=1)[:s, :s]
            if im.shape != (s, s):
                im = np.pad(im, ((0, s - im.shape[0]), (0, s - im.shape[1])))
        if rng.random() < 0.7:
            im = np.clip(im, 0, 1) ** rng.uniform(0.55, 1.6)
        if rng.random() < 0.5:
            im = im * rng.uniform(0.6, 1.3)
        if rng.random() < 0.4:
            im = im * rng.gamma(6.0, 1 / 6.0, im.shape) * (im > 0.02) + (im <= 0.02) * im
        out[i] = np.clip(im * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return out


def trunk(backbone, k: int):
    """A function x -> activations entering block k (stem + blocks[:k])."""
    n = backbone.net

    def f(x):
        x = n._swish(n._bn0(n._conv_stem(x)))
        for b in n._blocks[:k]:
            x = b(x)
        return x
    return f


def cached_trunk(name: str, x_u8: np.ndarray, backbone, k: int, cache: Path, batch: int = 64) -> np.ndarray:
    """fp16 activations entering block k for uint8 crops (ONNX Runtime, 2 threads), cached by content and k."""
    import torch

    from models.training.echo_view_v2_export import onnx_outputs

    h = hashlib.sha256(x_u8[:: max(1, len(x_u8) // 64)].tobytes()).hexdigest()[:12]
    p = cache / "ft" / f"trunk{k}_{name}_{len(x_u8)}_{h}.npy"
    if p.is_file():
        return np.load(p, mmap_mode="r")
    class Trunk(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.bb = backbone

        def forward(self, x):
            return trunk(self.bb, k)(x)

    g = cache / "ft" / f"trunk{k}.onnx"
    g.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(Trunk().eval().requires_grad_(False), (torch.zeros(1, 1, x_u8.shape[-1], x_u8.shape[-1]),), str(g),
                      input_names=["image"], output_names=["act"], opset_version=17, dynamo=False,
                      dynamic_axes={"image": {0: "n"}, "act": {0: "n"}})
    t0 = time.perf_counter()
    a = onnx_outputs(g, x_u8, batch=batch)["act"].astype(np.float16)
    np.save(p, a)
    print(f"[echo_view_ft] trunk {name}: {a.shape} in {time.perf_counter() - t0:.0f} s", flush=True)
    return a


class Tail:
    """blocks[k:] + head conv of the backbone (shared modules) and a temporary classifier on (GAP, 2x2)."""

    def __init__(self, backbone, k: int, n_classes: int):
        import torch
        from torch import nn

        self.net, self.k = backbone.net, k
        self.cls = nn.Linear(1280 + 4 * 320, n_classes)
        self.mods = nn.ModuleList([*self.net._blocks[k:], self.net._conv_head, self.net._bn1])
        self.torch = torch

    def forward(self, a):
        nn = self.torch.nn
        x = a
        for b in self.net._blocks[self.k:]:
            x = b(x)
        sp = self.torch.flatten(nn.functional.adaptive_avg_pool2d(x, 2), 1)
        h = self.net._swish(self.net._bn1(self.net._conv_head(x)))
        g = self.torch.flatten(nn.functional.adaptive_avg_pool2d(h, 1), 1)
        return self.cls(self.torch.cat([g, 0.5 * sp], dim=1))


def finetune(backbone, k: int, x_tr: np.ndarray, y_tr: np.ndarray, x_cal: np.ndarray, y_cal: np.ndarray,
             n_classes: int, cache: Path, minutes: float = 25.0, seed: int = 0, batch: int = 64) -> dict:
    """Fine-tune backbone.net blocks[k:] + head conv in place (fixed wall-time budget, class-balanced batches);
    the state with the best simulator-calibration accuracy is kept and cached. Returns a log dict."""
    import torch

    torch.manual_seed(seed)
    torch.set_num_threads(1)
    rng = np.random.default_rng(seed)
    key = hashlib.sha256(x_tr[:: max(1, len(x_tr) // 64)].tobytes() + f"{k}_{minutes}_{seed}_{DEGRADED_COPIES}"
                         .encode()).hexdigest()[:12]
    state_p = cache / "ft" / f"tail{k}_{key}.pt"
    tail = Tail(backbone, k, n_classes)
    if state_p.is_file():
        saved = torch.load(state_p, weights_only=False)
        tail.mods.load_state_dict(saved["mods"])
        print(f"[echo_view_ft] fine-tuned blocks loaded from {state_p.name}", flush=True)
        return saved["log"]
    degr = np.concatenate([degrade(x_tr[i:i + 500], np.random.default_rng(seed * 1000 + i))
                           for i in range(0, len(x_tr), 500)]) if DEGRADED_COPIES else x_tr[:0]
    a_tr = np.concatenate([cached_trunk("train", x_tr, backbone, k, cache),
                           cached_trunk(f"traindeg{seed}", degr, backbone, k, cache)])
    y_all = np.concatenate([y_tr, y_tr[: len(degr)]])
    a_cal = torch.from_numpy(np.asarray(cached_trunk("calib", x_cal, backbone, k, cache), np.float32))
    tail.mods.requires_grad_(True)
    by_class = [np.flatnonzero(y_all == c) for c in range(n_classes)]
    params = [{"params": tail.mods.parameters(), "lr": 2e-4}, {"params": tail.cls.parameters(), "lr": 2e-3}]
    opt = torch.optim.AdamW(params, weight_decay=1e-4)
    ce = torch.nn.CrossEntropyLoss(label_smoothing=0.05)
    tail.mods.eval()   # frozen batch-norm statistics (and no dropout)

    def cal_acc() -> float:
        with torch.no_grad():
            p = torch.cat([tail.forward(a_cal[i:i + 256]).argmax(1) for i in range(0, len(a_cal), 256)])
        return float((p.numpy() == y_cal).mean())

    best, best_state, hist = cal_acc(), None, []
    print(f"[echo_view_ft] k={k}, {len(y_all)} train rows; calib acc before (untrained classifier) {best:.4f}",
          flush=True)
    best = -1.0
    t0, step, budget = time.perf_counter(), 0, minutes * 60
    next_eval = 300
    while time.perf_counter() - t0 < budget:
        cls = rng.integers(0, n_classes, batch)
        idx = np.array([by_class[c][rng.integers(len(by_class[c]))] for c in cls])
        idx.sort()
        xb = torch.from_numpy(np.asarray(a_tr[idx], np.float32))
        yb = torch.from_numpy(y_all[idx])
        opt.param_groups[0]["lr"] = 2e-4 * min(1.0, max(0.0, (step - 150) / 300))   # classifier warm-up first
        loss = ce(tail.forward(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if step == next_eval or time.perf_counter() - t0 >= budget:
            acc = cal_acc()
            hist.append((step, round(time.perf_counter() - t0), round(loss.item(), 4), round(acc, 4)))
            print(f"[echo_view_ft] step {step} ({hist[-1][1]} s) loss {loss.item():.3f} sim calib acc {acc:.4f}",
                  flush=True)
            if acc > best:
                best = acc
                best_state = {n: v.detach().clone() for n, v in tail.mods.state_dict().items()}
            next_eval += 300
    assert best_state is not None   # the budget always ends with an evaluation
    tail.mods.load_state_dict(best_state)
    log = {"from_block": k, "steps": step, "minutes": minutes, "degraded_copies": DEGRADED_COPIES,
           "best_sim_calib_acc_temp_classifier": best, "history": hist}
    torch.save({"mods": tail.mods.state_dict(), "log": log}, state_p)
    return log
