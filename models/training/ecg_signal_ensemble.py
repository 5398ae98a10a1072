"""Seed ensemble of the ``ecg_signal`` recipe: members, one-graph export, and the fold-9 decision (EVALUATION.md).

Members are trained by the recipe's own ``train()`` (same data, folds and augmentation; only the seed differs) and
cached as torch state dicts in ``var/cache/ecg_signal/member_seed{N}.pt`` so a rerun is cheap. The shipped 1.1.1
weights can be a member too: ``member_from_onnx`` rebuilds them from the fp32 ONNX (the exporter folded BatchNorm
into the convolutions, so the rebuilt net is Conv+bias/ReLU).

The ensemble is one graph: per label ``logit(mean_i sigmoid(z_i))``, so the cart's contract (``logits`` (1, 7),
Platt parameters, thresholds) is unchanged.

    nice -n 5 python -m models.training.ecg_signal_ensemble member --seed 2 --minutes 12
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from device.paths import shared_data_dir
from models.training import ecg_signal as rec
from models.training.ecg_signal_data import CACHE, load, splits


def member_path(seed: int) -> Path:
    return CACHE / f"member_seed{seed}.pt"


def make_folded_net(width: int = 32):
    """The recipe's network with BatchNorm folded into the convolutions (what the fp32 ONNX holds)."""
    from torch import nn

    from device.ecg.signal_model import LABELS, N_LEADS

    w = width
    spec = [(2 * N_LEADS, w, 7, 2), (w, w, 7, 2), (w, 2 * w, 5, 2), (2 * w, 2 * w, 5, 1), (2 * w, 3 * w, 3, 2),
            (3 * w, 3 * w, 3, 1), (3 * w, 4 * w, 3, 1)]
    layers: list = []
    for cin, cout, k, s in spec:
        layers += [nn.Conv2d(cin, cout, (1, k), stride=(1, s), padding=(0, k // 2), bias=True), nn.ReLU()]

    class FoldedNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(*layers)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.head = nn.Linear(4 * w, len(LABELS))

        def forward(self, x):
            return self.head(self.pool(self.features(x)).flatten(1))

    return FoldedNet()


def member_from_onnx(path: Path):
    """A torch module with the weights of a recipe-exported fp32 ONNX file (Conv weights/biases, then Gemm)."""
    import onnx
    import torch
    from onnx import numpy_helper

    m = onnx.load(str(path))
    init = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    convs = [n for n in m.graph.node if n.op_type == "Conv"]
    gemm = [n for n in m.graph.node if n.op_type == "Gemm"]
    if len(convs) != 7 or len(gemm) != 1:
        raise ValueError(f"{path}: expected 7 Conv + 1 Gemm, found {len(convs)} + {len(gemm)}")
    net = make_folded_net()
    mods = [mod for mod in net.features if isinstance(mod, torch.nn.Conv2d)]
    with torch.no_grad():
        for mod, node in zip(mods, convs):
            mod.weight.copy_(torch.from_numpy(init[node.input[1]].copy()))
            assert mod.bias is not None  # built with bias=True
            mod.bias.copy_(torch.from_numpy(init[node.input[2]].copy()))
        g = gemm[0]
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in g.attribute}
        wt = init[g.input[1]]
        net.head.weight.copy_(torch.from_numpy((wt if attrs.get("transB", 0) else wt.T).copy()))
        net.head.bias.copy_(torch.from_numpy(init[g.input[2]].copy()))
    return net.eval()


def load_member(seed: int):
    import torch

    blob = torch.load(member_path(seed), weights_only=True)
    net = make_folded_net() if blob["folded"] else rec.make_net()
    net.load_state_dict(blob["state"])
    return net.eval()


def make_ensemble(members: list):
    """One module: per label logit(mean of the members' sigmoid) (the 1/n cancels in log p - log q)."""
    import torch
    from torch import nn

    class Ensemble(nn.Module):
        def __init__(self):
            super().__init__()
            self.members = nn.ModuleList(members)

        def forward(self, x):
            # logit(p) = log(p) - log(1 - p) with 1 - p = mean sigmoid(-z): no clamp, no log(0) for large logits
            zs = [mem(x) for mem in self.members]
            p, q = torch.sigmoid(zs[0]), torch.sigmoid(zs[0] * -1.0)
            for z in zs[1:]:
                p, q = p + torch.sigmoid(z), q + torch.sigmoid(z * -1.0)
            return torch.log(p) - torch.log(q)

    return Ensemble().eval()


QUANT_OPS = ["Conv", "Gemm", "GlobalAveragePool", "Relu"]  # the members int8 as 1.1.1; the mean of sigmoids in float


def train_member(d, sp, vv, seed: int, minutes: float, epochs: int | None, threads: int) -> dict:
    """Train one member with the recipe's ``train()`` and cache it; returns its training log."""
    import torch

    val = d.take(sp["val"])
    net, info = rec.train(d, sp["train"], vv, val.y, minutes, seed=seed, epochs=epochs, threads=threads)
    info.update({"seed": seed, "threads": threads, "epochs_planned": epochs, "minutes_cap": minutes})
    CACHE.mkdir(parents=True, exist_ok=True)
    torch.save({"folded": False, "state": net.state_dict(), "info": info}, member_path(seed))
    return info


def members(d, sp, vv, seeds: list[int], args) -> tuple:
    """The ensemble of the cached members (missing ones are trained first) and its training log."""
    import torch

    nets, logs = [], []
    for seed in seeds:
        if not member_path(seed).exists():
            train_member(d, sp, vv, seed, args.minutes, args.epochs or None, args.threads)
        nets.append(load_member(seed))
        info = torch.load(member_path(seed), weights_only=True)["info"]
        logs.append({k: v for k, v in info.items() if k != "history"})
    summary = "; ".join(f"seed {s}: " + (f"{g['epochs']} epochs in {g['seconds']} s" if "epochs" in g else
                                         f"weights of {Path(g.get('from_onnx', '?')).name} (ecg_signal 1.1.1, seed 1)")
                        for s, g in zip(seeds, logs))
    summary = f"Ensemble of {len(seeds)} members (mean of sigmoids): {summary}."
    net = make_ensemble(nets) if len(nets) > 1 else nets[0]
    return net, {"members": logs, "seeds": seeds, "summary": summary}


def latency_ms(path: Path, inp: np.ndarray, runs: int = 300) -> dict[str, float]:
    """p50 / p99 of one batch-1 inference (onnxruntime CPU, 1 thread, after 20 warm-up runs)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    for _ in range(20):
        sess.run(None, {"signal": inp})
    t = []
    for _ in range(runs):
        t0 = time.perf_counter()
        sess.run(None, {"signal": inp})
        t.append((time.perf_counter() - t0) * 1e3)
    return {"p50": round(float(np.percentile(t, 50)), 4), "p99": round(float(np.percentile(t, 99)), 4)}


def main_member(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("cmd", choices=["member", "from-onnx"])
    ap.add_argument("--seed", type=int, default=2)
    ap.add_argument("--minutes", type=float, default=12.0)
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--onnx", default=None, help="from-onnx: the fp32 ONNX file to cache as member --seed")
    args = ap.parse_args(argv)
    if args.cmd == "from-onnx":
        import torch

        CACHE.mkdir(parents=True, exist_ok=True)
        net = member_from_onnx(Path(args.onnx))
        torch.save({"folded": True, "state": net.state_dict(), "info": {"from_onnx": str(args.onnx)}},
                   member_path(args.seed))
        print(f"[ecg_signal_ensemble] cached {args.onnx} as {member_path(args.seed)}")
        return 0
    if shared_data_dir() is None:
        print("[ecg_signal_ensemble] ../shared/data is missing: nothing to train on")
        return 0
    t0 = time.time()
    d = load(shared_data_dir() / "ecg-records-ptbxl")  # type: ignore[operator]
    sp = splits(d)
    info = train_member(d, sp, rec.fixed_views(d.take(sp["val"]).x, 9), args.seed, args.minutes, args.epochs,
                        args.threads)
    print(f"[ecg_signal_ensemble] member seed {args.seed}: {json.dumps({k: v for k, v in info.items() if k != 'history'})}"
          f" ({time.time() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main_member())
