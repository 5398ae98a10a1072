"""The LV segmentation network (a small U-Net), its partial-label loss, training loop and ONNX/int8 export.

Training-time only (torch). Input (B, 1, S, S) float32 in [-1, 1] (equalised grey, (x/255 - 0.5)/0.5);
output "probs" (B, 5, S, S) softmax probabilities for background, LV cavity, LV myocardium, LA, aortic root.
Label 255 in a target means "not cavity, class unknown" (MR slices with an endocardial contour only): its loss is
-log(1 - p_cavity).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

N_CLASSES = 5
UNKNOWN = 255


def _block(i: int, o: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True),
                         nn.Conv2d(o, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True))


class UNet(nn.Module):
    """4-level U-Net, channels base x (1, 2, 4, 8, 8); base 12 -> 0.72 M parameters."""

    def __init__(self, base: int = 12, n_classes: int = N_CLASSES):
        super().__init__()
        ch = [base, 2 * base, 4 * base, 8 * base, 8 * base]
        self.enc = nn.ModuleList([_block(1, ch[0])] + [_block(ch[i], ch[i + 1]) for i in range(4)])
        self.up = nn.ModuleList([nn.ConvTranspose2d(ch[i + 1], ch[i], 2, stride=2) for i in range(4)])
        self.dec = nn.ModuleList([_block(2 * ch[i], ch[i]) for i in range(4)])
        self.head = nn.Conv2d(ch[0], n_classes, 1)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        feats = []
        for i, enc in enumerate(self.enc):
            x = enc(x if i == 0 else F.max_pool2d(x, 2))
            feats.append(x)
        x = feats[-1]
        for i in range(3, -1, -1):
            x = self.dec[i](torch.cat([self.up[i](x), feats[i]], 1))
        return self.head(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.logits(x), dim=1)


def partial_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy on known pixels, -log(1 - p_cavity) on UNKNOWN pixels, plus soft Dice of every LV class present
    (cavity, myocardium, LA, aortic root; recipe v1 had cavity and myocardium only, and never learned the aortic
    root)."""
    logp = F.log_softmax(logits, dim=1)
    known = target != UNKNOWN
    t = torch.where(known, target, torch.zeros_like(target)).long()
    ce = F.nll_loss(logp, t, reduction="none")
    p_cav = logp[:, 1].exp()
    unk = -torch.log((1 - p_cav).clamp_min(1e-6))
    pix = torch.where(known, ce, unk).mean()
    probs = logp.exp()
    dice = 0.0
    for c in (1, 2, 3, 4):   # cavity, myocardium, LA, aortic root: Dice keeps the small classes alive
        m = known.float()
        tc = (t == c).float() * m
        pc = probs[:, c] * m
        inter = (pc * tc).sum((1, 2))
        den = pc.sum((1, 2)) + tc.sum((1, 2))
        has = tc.sum((1, 2)) > 0
        if has.any():
            dice = dice + (1 - (2 * inter[has] + 1) / (den[has] + 1)).mean()
    return pix + 0.5 * dice


def train(model: UNet, batches, steps: int, lr: float = 2e-3, log_every: int = 50, name: str = "") -> UNet:
    """Adam with cosine decay over ``steps`` batches from the ``batches`` iterator of (x uint8, y uint8) arrays."""
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=1e-5)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    model.train()
    t0, run = time.time(), 0.0
    for step in range(steps):
        x, y = next(batches)
        xt = torch.from_numpy((x.astype(np.float32) / 255.0 - 0.5) / 0.5)[:, None]
        yt = torch.from_numpy(y.astype(np.int64))
        loss = partial_loss(model.logits(xt), yt)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        run = 0.95 * run + 0.05 * loss.item() if step else loss.item()
        if log_every and (step + 1) % log_every == 0:
            print(f"[{name}] step {step + 1}/{steps} loss {run:.4f} ({time.time() - t0:.0f} s)", flush=True)
    model.eval()
    return model


def export_onnx(model: UNet, path: Path, size: int) -> None:
    model.eval()
    dummy = torch.zeros(1, 1, size, size)
    torch.onnx.export(model, dummy, str(path), input_names=["image"], output_names=["probs"],
                      dynamic_axes={"image": {0: "batch"}, "probs": {0: "batch"}}, opset_version=17, dynamo=False)


def quantize_int8(fp32: Path, int8: Path, calib_u8: np.ndarray) -> None:
    """Static QDQ int8 quantisation with onnxruntime, calibrated on uint8 images (N, S, S)."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter([{"image": ((c.astype(np.float32) / 255 - 0.5) / 0.5)[None, None]} for c in calib_u8])

        def get_next(self):
            return next(self.items, None)

    pre = int8.with_suffix(".pre.onnx")
    quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
    quantize_static(str(pre), str(int8), Reader(), quant_format=QuantFormat.QDQ, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8, per_channel=True)
    pre.unlink(missing_ok=True)
