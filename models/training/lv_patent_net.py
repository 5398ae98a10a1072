"""Networks of patents 001/002 for the LV (training-time only, torch).

DLAReg (patent 002): a small deep-layer-aggregation backbone (Yu et al. 2018) regressing the 11 LVQuan indices.
Residual basic blocks; hierarchical aggregation (HDA): each tree of two sub-trees/blocks is merged by an
aggregation node (concatenate + 1x1 conv + BN + ReLU) that also takes the tree's down-sampled input; iterative
aggregation (IDA) of the levels' pooled features into the head. The last layer undoes the target standardisation,
so the ONNX output "indices" (B, 11) is in mm2 / mm.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class Basic(nn.Module):
    def __init__(self, i: int, o: int, stride: int = 1):
        super().__init__()
        self.c1 = nn.Conv2d(i, o, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(o)
        self.c2 = nn.Conv2d(o, o, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(o)
        self.short = (nn.Sequential(nn.Conv2d(i, o, 1, stride, bias=False), nn.BatchNorm2d(o))
                      if stride != 1 or i != o else nn.Identity())

    def forward(self, x):
        return F.relu(self.b2(self.c2(F.relu(self.b1(self.c1(x))))) + self.short(x))


class Root(nn.Module):
    """Aggregation node: concatenate the children (and the tree's input), 1x1 conv, BN, ReLU."""

    def __init__(self, i: int, o: int):
        super().__init__()
        self.conv = nn.Conv2d(i, o, 1, bias=False)
        self.bn = nn.BatchNorm2d(o)

    def forward(self, *xs):
        return F.relu(self.bn(self.conv(torch.cat(xs, 1))))


class Tree(nn.Module):
    """HDA tree of ``levels``: levels 1 = two blocks merged by a root; deeper = two sub-trees merged by a root."""

    def __init__(self, levels: int, i: int, o: int, stride: int):
        super().__init__()
        self.levels = levels
        if levels == 1:
            self.t1, self.t2 = Basic(i, o, stride), Basic(o, o)
        else:
            self.t1, self.t2 = Tree(levels - 1, i, o, stride), Tree(levels - 1, o, o, 1)
        self.root = Root(2 * o + i, o)
        self.down = nn.MaxPool2d(stride) if stride > 1 else nn.Identity()

    def forward(self, x):
        bottom = self.down(x)
        a = self.t1(x)
        b = self.t2(a)
        return self.root(a, b, bottom)


class DLAReg(nn.Module):
    """64 x 64 input -> 11 indices. Channels (base, 2b, 4b, 8b) over levels at 32, 16, 8, 4 px."""

    def __init__(self, base: int = 12, n_out: int = 11, mean=None, std=None):
        super().__init__()
        b = base
        self.stem = nn.Sequential(nn.Conv2d(1, b, 5, 2, 2, bias=False), nn.BatchNorm2d(b), nn.ReLU(inplace=True))
        self.l1 = Tree(1, b, 2 * b, 2)
        self.l2 = Tree(2, 2 * b, 4 * b, 2)
        self.l3 = Tree(1, 4 * b, 8 * b, 2)
        self.head = nn.Sequential(nn.Linear(b + 2 * b + 4 * b + 8 * b, 64), nn.ReLU(inplace=True), nn.Dropout(0.2),
                                  nn.Linear(64, n_out))
        self.register_buffer("mean", torch.zeros(n_out) if mean is None else torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.ones(n_out) if std is None else torch.as_tensor(std, dtype=torch.float32))

    def standardised(self, x):
        f0 = self.stem(x)
        f1 = self.l1(f0)
        f2 = self.l2(f1)
        f3 = self.l3(f2)
        pooled = [f.mean(dim=(2, 3)) for f in (f0, f1, f2, f3)]    # IDA of every level into the head
        return self.head(torch.cat(pooled, 1))

    def forward(self, x):
        return self.standardised(x) * self.std + self.mean


# ---- patent 001: dense U-Net with dilated "expansion" blocks + convolution stage + two LSTMs ----------------------

class Dense(nn.Module):
    """Dense block: ``n`` 3x3 conv layers, each fed the concatenation of the block input and all earlier outputs."""

    def __init__(self, i: int, growth: int, n: int = 2):
        super().__init__()
        self.layers = nn.ModuleList([nn.Sequential(nn.Conv2d(i + k * growth, growth, 3, padding=1, bias=False),
                                                   nn.BatchNorm2d(growth), nn.ReLU(inplace=True)) for k in range(n)])
        self.out_ch = i + n * growth

    def forward(self, x):
        for layer in self.layers:
            x = torch.cat([x, layer(x)], 1)
        return x


class Dilated(nn.Module):
    """Expansion block: parallel 3x3 convolutions at dilation rates 1, 3, 5, concatenated and fused by a 1x1 conv."""

    def __init__(self, i: int, o: int, rates=(1, 3, 5)):
        super().__init__()
        self.branches = nn.ModuleList([nn.Conv2d(i, o, 3, padding=r, dilation=r, bias=False) for r in rates])
        self.fuse = nn.Sequential(nn.BatchNorm2d(len(rates) * o), nn.ReLU(inplace=True),
                                  nn.Conv2d(len(rates) * o, o, 1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True))

    def forward(self, x):
        return self.fuse(torch.cat([b(x) for b in self.branches], 1))


class Patent001(nn.Module):
    """Segmentation layers -> convolution layers -> recurrent layers -> classification layer (patent 001).

    Input (B, T, 1, S, S) canonical crops of a cine; outputs probs (B, T, 3, S, S) (background, cavity,
    myocardium), indices (B, T, 11) in mm2 / mm (LSTM 1, regression) and phase (B, T, 2) softmax (diastole,
    systole; LSTM 2, classification)."""

    def __init__(self, base: int = 8, hidden: int = 32, mean=None, std=None):
        super().__init__()
        ch = [base, 2 * base, 3 * base, 4 * base]
        self.down = nn.ModuleList()
        c = 1
        for o in ch:                        # 4 down-sampling stages: dense block + dilated block (+ 2x2 max-pool)
            d = Dense(c, o // 2)
            self.down.append(nn.Sequential(d, Dilated(d.out_ch, o)))
            c = o
        self.bottom = Dilated(c, c)
        self.up = nn.ModuleList()
        for k in range(3, -1, -1):          # 4 up-sampling stages with skip concatenations
            self.up.append(nn.Sequential(nn.Conv2d(c + ch[k], ch[k], 3, padding=1, bias=False), nn.BatchNorm2d(ch[k]),
                                         nn.ReLU(inplace=True)))
            c = ch[k]
        self.final = Dense(c, base // 2)
        self.seg_head = nn.Conv2d(self.final.out_ch, 3, 1)
        conv = []                           # convolution stage: 5 hidden layers on image + probabilities
        ci = 3 + 1
        for o in (8, 16, 24, 32, 32):
            conv += [nn.Conv2d(ci, o, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True)]
            ci = o
        self.conv = nn.Sequential(*conv)
        self.lstm_reg = nn.LSTM(32, hidden, batch_first=True, bidirectional=True)
        self.lstm_cls = nn.LSTM(32, hidden, batch_first=True, bidirectional=True)
        self.reg_head = nn.Linear(2 * hidden, 11)
        self.cls_head = nn.Linear(2 * hidden, 2)
        self.register_buffer("mean", torch.zeros(11) if mean is None else torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.ones(11) if std is None else torch.as_tensor(std, dtype=torch.float32))

    def parts(self, x):
        b, t = x.shape[0], x.shape[1]
        f = x.reshape(b * t, *x.shape[2:])
        img = f
        skips = []
        for k, stage in enumerate(self.down):
            f = stage(f)
            skips.append(f)
            f = F.max_pool2d(f, 2)
        f = self.bottom(f)
        for k, stage in enumerate(self.up):
            s = skips[3 - k]
            f = stage(torch.cat([F.interpolate(f, scale_factor=2.0, mode="nearest"), s], 1))
        seg_logits = self.seg_head(self.final(f))
        probs = torch.softmax(seg_logits, 1)
        feat = self.conv(torch.cat([img, probs], 1)).mean(dim=(2, 3)).reshape(b, t, -1)
        reg = self.reg_head(self.lstm_reg(feat)[0])
        cls = self.cls_head(self.lstm_cls(feat)[0])
        return seg_logits.reshape(b, t, 3, *x.shape[3:]), reg, cls

    def forward(self, x):
        seg_logits, reg, cls = self.parts(x)
        return torch.softmax(seg_logits, 2), reg * self.std + self.mean, torch.softmax(cls, -1)
